// clipscope models | clipscope fetch NAME...
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "cli/context.h"
#include "core/hub/zoo.h"
#include "core/model/checkpoint.h"
#include "core/util/error.h"

namespace clipscope::cli {

namespace {

// What `models --inspect` prints: how the file was read and what it builds.
nlohmann::ordered_json inspect(const std::string& spec, const Context& ctx) {
  const LoadOptions options = ctx.load_options();
  const Checkpoint ckpt = read_checkpoint(resolve_model_path(spec, options));
  const Architecture arch = checkpoint_architecture(ckpt, options.activation);
  std::map<std::string, int64_t> dtypes;
  int64_t values = 0;
  for (const auto& [key, tensor] : ckpt.state_dict) {
    dtypes[std::string(c10::toString(tensor.scalar_type()))] += 1;
    values += tensor.numel();
  }
  const CLIPConfig& c = arch.config;
  nlohmann::ordered_json out = {
      {"file", ckpt.path.string()},
      {"format", checkpoint_format_name(ckpt.format)},
      {"weights_entry", ckpt.weights_entry},
      {"open_clip_config", ckpt.open_clip_config ? ckpt.open_clip_config->string() : ""},
      {"architecture", c.describe()},
      {"vision", c.is_vit() ? "ViT" : "ModifiedResNet"},
      {"image_resolution", c.image_resolution},
      {"vision_width", c.vision_width},
      {"vision_heads", c.vision_heads()},
      {"text_width", c.transformer_width},
      {"text_heads", c.transformer_heads},
      {"text_layers", c.transformer_layers},
      {"embed_dim", c.embed_dim},
      {"activation", activation_name(c.activation)},
      {"activation_source", arch.activation_source},
      {"mean", c.normalization.mean},
      {"std", c.normalization.std},
      {"tensors", ckpt.state_dict.size()},
      {"values", values},
      {"dtypes", dtypes},
      {"extras", nlohmann::ordered_json::object()},
  };
  for (const auto& [key, value] : ckpt.extras) out["extras"][key] = value;
  return out;
}

}  // namespace

void add_models_commands(CLI::App& app, Context& ctx) {
  auto* models = app.add_subcommand(
      "models", "List the official CLIP checkpoints (name, SHA-256, URL, cached?) and the demo model");
  auto inspect_spec = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  models->add_option("--inspect", *inspect_spec,
                     "Instead, show how a checkpoint (file, open_clip hub folder, official name or demo) is read: its "
                     "format, architecture, activation and where that came from, tensors, and its other entries "
                     "(epoch, name, optimizer: listed, never loaded)");
  models->add_flag("--json", *json, "With --inspect: JSON output");
  models->callback([&ctx, inspect_spec, json] {
    if (!inspect_spec->empty()) {
      const nlohmann::ordered_json info = inspect(*inspect_spec, ctx);
      if (*json) {
        fmt::print("{}\n", info.dump(1));
        return;
      }
      for (const auto& [key, value] : info.items()) {
        if (key == "extras") continue;
        fmt::print("{:<18} {}\n", key, value.is_string() ? value.get<std::string>() : value.dump());
      }
      for (const auto& [key, value] : info["extras"].items())
        fmt::print("{:<18} {} = {}\n", "entry", key, value.get<std::string>());
      return;
    }
    const auto cache = ctx.cache_dir.empty() ? default_cache_dir() : std::filesystem::path(ctx.cache_dir);
    fmt::print("{:<16} {:<8} {:<64} {}\n", "name", "cached", "sha256", "url");
    auto row = [&](const RemoteFile& f) {
      const bool cached = std::filesystem::exists(cache / f.filename());
      fmt::print("{:<16} {:<8} {:<64} {}\n", f.name, cached ? "yes" : "no", f.sha256, f.url);
    };
    for (const auto& f : official_models()) row(f);
    row(bpe_vocab_file());
    const auto demo = demo_model_path();
    fmt::print("{:<16} {:<8} {:<64} {}\n", kDemoModelName, std::filesystem::exists(demo) ? "shipped" : "missing",
               "(clipscope's own, trained on the synthetic world)", demo.string());
    fmt::print("cache: {}\n", cache.string());
  });

  auto* fetch = app.add_subcommand("fetch", "Download official checkpoints (and the BPE vocabulary) into the cache");
  auto names = std::make_shared<std::vector<std::string>>();
  fetch->add_option("names", *names, "Official names, or 'vocab' for bpe_simple_vocab_16e6.txt.gz")->required();
  fetch->callback([&ctx, names] {
    const auto options = ctx.load_options();
    const auto cache = options.cache_dir.empty() ? default_cache_dir() : options.cache_dir;
    for (const auto& name : *names) {
      std::optional<RemoteFile> file;
      if (name == "vocab" || name == bpe_vocab_file().name)
        file = bpe_vocab_file();
      else
        file = find_official_model(name);
      if (!file) throw Error(fmt::format("unknown model '{}' (see `clipscope models`)", name));
      fmt::print("{}\n", ensure_cached(*file, cache, options.progress).string());
    }
  });
}

}  // namespace clipscope::cli
