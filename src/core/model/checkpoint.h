#pragma once
// Reading CLIP checkpoints: OpenAI's TorchScript archives (what clip.load
// downloads) and plain torch.save state dicts (open_clip's included: a
// "state_dict" wrapper and DataParallel "module." prefixes are unwrapped).
#include <torch/nn.h>

#include <filesystem>
#include <string>

#include "core/model/config.h"

namespace clipscope {

enum class CheckpointFormat { TorchScript, StateDict };

struct Checkpoint {
  std::filesystem::path path;
  CheckpointFormat format;
  StateDict state_dict;  // tensors as stored (fp16 weights stay fp16 here)
};

// Throws Error with one line naming the file and the problem: missing file, not a
// checkpoint, legacy or truncated archive, no tensors.
Checkpoint read_checkpoint(const std::filesystem::path& path);

// Writes a state dict as a torch.save zip archive (readable by read_checkpoint and
// by Python's torch.load), via a temporary file renamed into place.
void save_state_dict(const std::filesystem::path& path, const StateDict& sd);

// Copies every parameter and buffer of `module` from `sd` (converting dtypes, e.g.
// fp16 -> fp32). Throws Error naming `source` for missing keys and shape mismatches.
// Returns the number of checkpoint entries that were not used.
size_t load_state_dict(torch::nn::Module& module, const StateDict& sd, const std::string& source);

}  // namespace clipscope
