#include "core/model/loader.h"

#include <fmt/format.h>

#include <cstdlib>
#include <thread>

#include "core/hub/zoo.h"
#include "core/model/checkpoint.h"
#include "core/util/error.h"

namespace clipscope {
namespace fs = std::filesystem;

torch::Device parse_device(const std::string& spec) {
  if (spec == "cpu") return torch::kCPU;
  if (spec == "cuda" || spec.rfind("cuda:", 0) == 0) {
    if (!torch::cuda::is_available())
      throw Error(fmt::format("--device {}: CUDA is not available in this LibTorch build or on this machine", spec));
    try {
      return torch::Device(spec);
    } catch (const c10::Error&) {
    }
  }
  throw Error(fmt::format("--device {}: expected cpu, cuda or cuda:N", spec));
}

void set_threads(int threads) {
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  torch::set_num_threads(threads);
}

namespace {
fs::path cache_dir_of(const LoadOptions& options) {
  return options.cache_dir.empty() ? default_cache_dir() : options.cache_dir;
}
}  // namespace

fs::path resolve_model_path(const std::string& spec, const LoadOptions& options) {
  std::error_code ec;
  if (spec == kDemoModelName) {
    const fs::path demo = demo_model_path();
    if (!fs::exists(demo, ec))
      throw Error(fmt::format("demo model {}: not found (train one with `clipscope train-demo`, or set "
                              "$CLIPSCOPE_DEMO_MODEL)", demo.string()));
    return demo;
  }
  if (fs::exists(spec, ec)) return spec;
  if (auto official = find_official_model(spec)) return ensure_cached(*official, cache_dir_of(options), options.progress);
  const bool looks_like_path = spec.find('/') != std::string::npos || spec.ends_with(".pt") || spec.ends_with(".pth") ||
                               spec.ends_with(".bin");
  if (looks_like_path) throw Error(fmt::format("{}: no such file", spec));
  throw Error(fmt::format("unknown model '{}': not a file and not an official name (see `clipscope models`)", spec));
}

fs::path resolve_vocab_path(const std::optional<std::string>& spec, const LoadOptions& options,
                            const std::string& model_spec) {
  if (spec && !spec->empty()) {
    if (!fs::exists(*spec)) throw Error(fmt::format("{}: no such file (--vocab)", *spec));
    return *spec;
  }
  // Only local checkpoints can carry their own merges file (official names would
  // need a cache lookup, and they use OpenAI's vocabulary anyway).
  std::error_code ec;
  const fs::path model_file = model_spec == kDemoModelName ? demo_model_path() : fs::path(model_spec);
  if (!model_spec.empty() && fs::is_regular_file(model_file, ec) && fs::exists(merges_beside(model_file), ec))
    return merges_beside(model_file);
  if (const char* env = std::getenv("CLIPSCOPE_VOCAB"); env && *env) {
    if (!fs::exists(env)) throw Error(fmt::format("{}: no such file ($CLIPSCOPE_VOCAB)", env));
    return env;
  }
  return ensure_cached(bpe_vocab_file(), cache_dir_of(options), options.progress);
}

CLIP load_clip_file(const fs::path& path, torch::Device device, Precision precision) {
  Checkpoint ckpt = read_checkpoint(path);
  CLIPConfig config;
  try {
    config = CLIPConfig::from_state_dict(ckpt.state_dict);
  } catch (const Error& e) {
    throw Error(fmt::format("{}: unsupported architecture: {}", path.string(), e.what()));
  }
  CLIP model(config);
  load_state_dict(*model, ckpt.state_dict, path.string());
  model->eval();
  model->to(device);
  model->set_precision(precision);
  return model;
}

CLIP load_clip(const std::string& spec, const LoadOptions& options) {
  return load_clip_file(resolve_model_path(spec, options), options.device, options.precision);
}

}  // namespace clipscope
