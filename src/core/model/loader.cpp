#include "core/model/loader.h"

#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
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
      throw ArgumentError("device", spec, "CUDA is not available in this LibTorch build or on this machine");
    try {
      return torch::Device(spec);
    } catch (const c10::Error&) {}
  }
  throw ArgumentError("device", spec, "expected cpu, cuda or cuda:N");
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
      throw Error(
          fmt::format("demo model {}: not found (train one with `clipscope train-demo`, or set "
                      "$CLIPSCOPE_DEMO_MODEL)",
                      demo.string()));
    return demo;
  }
  if (fs::exists(spec, ec)) return checkpoint_file(spec);
  if (auto official = find_official_model(spec))
    return ensure_cached(*official, cache_dir_of(options), options.progress);
  const bool looks_like_path = spec.find('/') != std::string::npos || spec.ends_with(".pt") || spec.ends_with(".pth") ||
                               spec.ends_with(".bin") || spec.ends_with(".safetensors");
  if (looks_like_path) throw Error(fmt::format("{}: no such file", spec));
  throw Error(fmt::format("unknown model '{}': not a file and not an official name (see `clipscope models`)", spec));
}

fs::path resolve_vocab_path(const std::optional<std::string>& spec, const LoadOptions& options,
                            const std::string& model_spec) {
  if (spec && !spec->empty()) {
    if (!fs::exists(*spec)) throw ArgumentError("vocab", *spec, "no such file");
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
  // A copy in the cache, else one an installed Python package ships, else the download.
  const fs::path cached = cache_dir_of(options) / bpe_vocab_file().filename();
  if (!fs::exists(cached, ec))
    if (auto installed = installed_bpe_vocab()) return *installed;
  return ensure_cached(bpe_vocab_file(), cache_dir_of(options), options.progress);
}

Architecture checkpoint_architecture(const Checkpoint& checkpoint, std::optional<Activation> activation) {
  const std::string file = checkpoint.path.string();
  Architecture arch;
  try {
    if (checkpoint.open_clip_config) {
      const std::string config_file = checkpoint.open_clip_config->string();
      std::ifstream f(*checkpoint.open_clip_config);
      nlohmann::json config;
      try {
        config = nlohmann::json::parse(f);
      } catch (const nlohmann::json::exception& e) {
        throw Error(fmt::format("{}: not valid JSON ({})", config_file, e.what()));
      }
      arch.config = CLIPConfig::from_open_clip(config, checkpoint.state_dict, config_file);
      const auto& model = config.contains("model_cfg") ? config["model_cfg"] : config;
      arch.activation_source = fmt::format("{} (quick_gelu: {})", kOpenClipConfigName,
                                           model.contains("quick_gelu") ? model["quick_gelu"].dump() : "absent");
    } else {
      arch.config = CLIPConfig::from_state_dict(checkpoint.state_dict);
      arch.config.activation = Activation::QuickGELU;
      std::error_code ec;
      if (checkpoint.format == CheckpointFormat::TorchScript) {
        arch.activation_source = "OpenAI's TorchScript archive";
      } else if (fs::equivalent(checkpoint.path, demo_model_path(), ec)) {
        arch.activation_source = "clipscope's demo model (OpenAI's architecture)";
      } else {
        arch.activation_source = "assumed (OpenAI's rule: nothing in the file says)";
        arch.activation_assumed = true;
      }
    }
  } catch (const Error& e) {
    throw Error(fmt::format("{}: unsupported architecture: {}", file, e.what()));
  }
  if (activation) {
    arch.config.activation = *activation;
    arch.activation_source = "requested";
    arch.activation_assumed = false;
  }
  return arch;
}

CLIP load_clip_file(const fs::path& path, const LoadOptions& options) {
  const Checkpoint ckpt = read_checkpoint(path);
  const Architecture arch = checkpoint_architecture(ckpt, options.activation);
  if (arch.activation_assumed) {
    static std::mutex mutex;
    static std::set<std::string> noted;
    std::lock_guard lock(mutex);
    if (noted.insert(ckpt.path.string()).second) {
      const std::string note = fmt::format(
          "{}: no {} beside it; assuming QuickGELU, OpenAI's activation (LAION-trained "
          "towers use GELU)",
          ckpt.path.string(), kOpenClipConfigName);
      if (options.note)
        options.note(note);
      else
        std::fprintf(stderr, "clipscope: note: %s\n", note.c_str());
    }
  }
  CLIP model(arch.config);
  load_state_dict(*model, ckpt.state_dict, ckpt.path.string());
  model->eval();
  model->to(options.device);
  model->set_precision(options.precision);
  return model;
}

CLIP load_clip(const std::string& spec, const LoadOptions& options) {
  return load_clip_file(resolve_model_path(spec, options), options);
}

}  // namespace clipscope
