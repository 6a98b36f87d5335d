// clipscope models | clipscope fetch NAME...
#include <fmt/format.h>

#include "cli/context.h"
#include "core/hub/zoo.h"
#include "core/util/error.h"

namespace clipscope::cli {

void add_models_commands(CLI::App& app, Context& ctx) {
  auto* models = app.add_subcommand("models", "List the official CLIP checkpoints (name, SHA-256, URL, cached?) and the demo model");
  models->callback([&ctx] {
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
      if (name == "vocab" || name == bpe_vocab_file().name) file = bpe_vocab_file();
      else file = find_official_model(name);
      if (!file) throw Error(fmt::format("unknown model '{}' (see `clipscope models`)", name));
      fmt::print("{}\n", ensure_cached(*file, cache, options.progress).string());
    }
  });
}

}  // namespace clipscope::cli
