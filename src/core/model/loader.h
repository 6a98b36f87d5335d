#pragma once
// From a user's --model / --vocab / --device to a ready CLIP: a name resolves
// through the cache (downloading when needed), a path loads a file.
#include <torch/types.h>

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "core/model/checkpoint.h"
#include "core/model/clip.h"
#include "core/text/tokenizer.h"

namespace clipscope {

struct LoadOptions {
  torch::Device device = torch::kCPU;
  std::filesystem::path cache_dir;  // empty: default_cache_dir()
  bool progress = true;             // download progress on stderr
  Precision precision = Precision::Exact;
  // The transformers' activation, overriding what the checkpoint's open_clip config
  // (or OpenAI's rule) says.
  std::optional<Activation> activation;
  // Receives notes on what loading assumed (the activation of a bare state dict);
  // unset: printed on stderr as "clipscope: note: ...".
  std::function<void(std::string_view)> note;
};

// The architecture a checkpoint builds and where its activation came from.
struct Architecture {
  CLIPConfig config;
  // "requested", "open_clip_config.json (quick_gelu: true)", "OpenAI's TorchScript
  // archive", or for a bare state dict "assumed (OpenAI's rule: nothing in the file
  // says)".
  std::string activation_source;
  bool activation_assumed = false;
};

// From the weights as OpenAI's build_model infers it, with the checkpoint's
// open_clip_config.json applied when there is one; `activation` overrides. Throws
// Error naming the file ("unsupported architecture: ...").
Architecture checkpoint_architecture(const Checkpoint& checkpoint, std::optional<Activation> activation = {});

// "cpu", "cuda", "cuda:N"; throws Error when CUDA is asked for but unavailable.
torch::Device parse_device(const std::string& spec);
// Sets LibTorch's intra-op threads; threads <= 0 means every core of the machine
// (Debian's LibTorch otherwise starts with one).
void set_threads(int threads);

// A file path as given (an open_clip hub folder: its weights file), "demo"
// (clipscope's shipped demo model), or an official model name ("RN50", "ViT-B/32")
// resolved to its cached checkpoint (downloaded and verified when absent).
std::filesystem::path resolve_model_path(const std::string& spec, const LoadOptions& options = {});
// The BPE merges file: `spec` when given (a path), else the merges file beside the
// model's checkpoint when there is one (models with their own vocabulary, like the
// demo model; model_spec as given to resolve_model_path, empty = none), else
// $CLIPSCOPE_VOCAB, else the cached download of OpenAI's bpe_simple_vocab_16e6.txt.gz.
std::filesystem::path resolve_vocab_path(const std::optional<std::string>& spec, const LoadOptions& options = {},
                                         const std::string& model_spec = {});

// Reads a checkpoint (file or hub folder), builds the matching architecture
// (checkpoint_architecture), loads the weights as fp32 and moves the model to
// options.device, in eval mode, computing at options.precision. When the activation
// had to be assumed, says so once per file through options.note.
CLIP load_clip_file(const std::filesystem::path& path, const LoadOptions& options = {});
CLIP load_clip(const std::string& spec, const LoadOptions& options = {});

}  // namespace clipscope
