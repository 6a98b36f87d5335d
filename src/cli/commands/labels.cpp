// clipscope label: every unit of an atlas described by concepts (CLIP-Dissect).
#include <fmt/format.h>

#include "cli/context.h"
#include "core/util/error.h"
#include "core/util/files.h"
#include "labels/label_atlas.h"
#include "world/catalog.h"

namespace fs = std::filesystem;

namespace clipscope::cli {

void add_label_command(CLI::App& app, Context& ctx) {
  struct Args {
    std::string atlas, model, precision, concepts, method = "soft-wpmi";
    std::optional<std::string> vocab;
    labels::LabelOptions run;
    bool json = false;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("label",
                                 "Describe every unit of an atlas by concepts (CLIP-Dissect: the units' activations "
                                 "against a CLIP's image-concept similarities), stored in the atlas");
  cmd->add_option("-a,--atlas", a->atlas, "The atlas (indexed with --matrix mean, or --quantity max)")->required();
  add_model_option(*cmd, a->model);
  add_vocab_option(*cmd, a->vocab);
  add_precision_option(*cmd, a->precision);
  cmd->add_option("--concepts", a->concepts,
                  "Concepts, one per line (default: ../shared/data/words/20k.txt, CLIP-Dissect's own)");
  cmd->add_option("--layers", a->run.layers, "Atlas layers (default: every layer with the matrix)")->delimiter(',');
  cmd->add_option("--quantity", a->run.quantity, "The matrix read: mean (CLIP-Dissect's) or max")
      ->capture_default_str();
  cmd->add_option("--method", a->method, "soft-wpmi (CLIP-Dissect's default), wpmi, cos or cos3")
      ->capture_default_str();
  cmd->add_option("--top", a->run.top, "Labels stored per unit")->capture_default_str();
  cmd->add_option("--prompt", a->run.prompt, "The concept's text, {} for the concept")->capture_default_str();
  cmd->add_option("--batch", a->run.batch, "Images per forward pass")->capture_default_str();
  cmd->add_option("--crash-after", a->run.crash_after, "Testing: stop abruptly after N image chunks")
      ->group("");  // hidden
  cmd->add_flag("--json", a->json, "Print JSON instead of one line per unit");
  cmd->callback([&ctx, a] {
    a->run.method = labels::parse_method(a->method);
    a->run.progress = !ctx.quiet;
    const fs::path list = a->concepts.empty() ? world::shared_data_file("data/words/20k.txt") : fs::path(a->concepts);
    if (list.empty())
      throw ArgumentError("concepts", "", "no concept list found: give one (../shared/data/words/20k.txt)");
    const auto concepts = read_list_file(list, "concept list");
    auto [model, identity] = ctx.load_identified_model(a->model, a->precision);
    const Tokenizer tokenizer = ctx.load_tokenizer(a->vocab, a->model, model);
    const auto report = labels::label_atlas(model, tokenizer, identity, a->atlas, concepts, a->run);
    nlohmann::json out = nlohmann::json::array();
    const auto at = atlas::Atlas::open(a->atlas);
    for (const auto& name : report.layers) {
      const auto& l = at.layer(name);
      for (int64_t u = 0; u < l.units; ++u) {
        const auto labels = labels::stored_labels(a->atlas, l.name, u, a->run.method);
        if (a->json) {
          nlohmann::json list_json = nlohmann::json::array();
          for (const auto& x : labels) list_json.push_back({{"concept", x.concept_name}, {"score", x.score}});
          out.push_back({{"layer", l.name}, {"unit", u}, {"labels", list_json}});
          continue;
        }
        std::string line = fmt::format("{}:{}", l.name, u);
        for (const auto& x : labels) line += fmt::format("\t{} ({:.3g})", x.concept_name, x.score);
        fmt::print("{}\n", line);
      }
    }
    if (a->json) fmt::print("{}\n", out.dump(1));
    if (!ctx.quiet)
      fmt::print(stderr,
                 "label: {} layer(s), {} images, {} concepts by {}; image embeddings: {} chunk(s) computed, {} reused; "
                 "{:.1f} s; stored in {}\n",
                 report.layers.size(), report.images, report.concepts, a->method, report.chunks_computed,
                 report.chunks_reused, report.seconds, a->atlas);
  });
}

}  // namespace clipscope::cli
