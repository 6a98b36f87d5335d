#pragma once
// Reading CLIP checkpoints in the forms people hold them:
//  - OpenAI's TorchScript archives (what clip.load downloads);
//  - torch.save files (zip format): plain dicts and state_dict() OrderedDicts, and
//    training checkpoints that wrap them ({"epoch", "name", "state_dict",
//    "optimizer"}, DataParallel "module." prefixes; the rest is listed, not loaded);
//  - safetensors files (memory-mapped);
//  - open_clip hub folders (open_clip_config.json + open_clip_model.safetensors or
//    open_clip_pytorch_model.bin), whose config lies beside the weights file.
#include <torch/nn.h>

#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/model/config.h"

namespace clipscope {

enum class CheckpointFormat { TorchScript, TorchSave, Safetensors };
// "TorchScript archive", "torch.save archive", "safetensors".
std::string_view checkpoint_format_name(CheckpointFormat format);

inline constexpr std::string_view kOpenClipConfigName = "open_clip_config.json";

struct Checkpoint {
  std::filesystem::path path;  // the weights file (inside the folder, for a hub folder)
  CheckpointFormat format;
  StateDict state_dict;  // tensors as stored (fp16 weights stay fp16 here), prefixes removed
  // Where in the file the weights were: "" for the top level, else the entry
  // ("state_dict", "model", ...).
  std::string weights_entry;
  // The file's other top-level entries (epoch, name, optimizer, ...), summarised;
  // their tensors are never read. safetensors: the header's __metadata__.
  std::vector<std::pair<std::string, std::string>> extras;
  // open_clip_config.json beside the weights file, when there is one.
  std::optional<std::filesystem::path> open_clip_config;
};

// The weights file a path names: the path itself, or for an open_clip hub folder its
// open_clip_model.safetensors (else open_clip_pytorch_model.bin). Throws Error for a
// folder that holds neither.
std::filesystem::path checkpoint_file(const std::filesystem::path& path);

// Throws Error with one line naming the file and the problem: missing file, not a
// checkpoint, legacy, truncated or lying archive, no tensors.
Checkpoint read_checkpoint(const std::filesystem::path& path);

// Writes a state dict as a torch.save zip archive (readable by read_checkpoint and
// by Python's torch.load), via a temporary file renamed into place.
void save_state_dict(const std::filesystem::path& path, const StateDict& sd);

// Copies every parameter and buffer of `module` from `sd` (converting dtypes, e.g.
// fp16 -> fp32). Throws Error naming `source` for missing keys and shape mismatches.
// Returns the number of checkpoint entries that were not used.
size_t load_state_dict(torch::nn::Module& module, const StateDict& sd, const std::string& source);

}  // namespace clipscope
