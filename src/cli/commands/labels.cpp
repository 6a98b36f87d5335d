// clipscope label: every unit of an atlas described by concepts (CLIP-Dissect).
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "atlas/atlas.h"
#include "cli/context.h"
#include "core/util/csv.h"
#include "core/util/error.h"
#include "core/util/files.h"
#include "labels/audit.h"
#include "labels/families.h"
#include "labels/label_atlas.h"
#include "serve/visualizations.h"
#include "world/catalog.h"

namespace fs = std::filesystem;

namespace clipscope::cli {

namespace {

void add_families_command(CLI::App& app, Context& ctx) {
  struct Args {
    std::string atlas, source = "auto", method = "soft-wpmi", out;
    labels::FamilyOptions run;
    bool json = false;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("families",
                                 "Sort every unit of an atlas into families (regional, emotion, person, lexical, "
                                 "other) by its top words or labels; the share of regional units beside the "
                                 "article's");
  cmd->add_option("-a,--atlas", a->atlas, "The atlas (with a word database or labels)")->required();
  cmd->add_option("--layers", a->run.layers, "Layers (default: every layer with words or labels)")->delimiter(',');
  cmd->add_option("--source", a->source,
                  "A unit's words: words (the word database's top words, the article's), labels (clipscope label's) "
                  "or auto (words where the layer has them)")
      ->capture_default_str();
  cmd->add_option("--method", a->method, "With labels: the labelling method read")->capture_default_str();
  cmd->add_option("--top", a->run.top, "Words per unit")->capture_default_str();
  cmd->add_option("--min-words", a->run.min_words, "Words of a family a unit needs to join it")->capture_default_str();
  cmd->add_option("-o,--out", a->out, "Write every unit's family and words to this CSV");
  cmd->add_flag("--json", a->json, "Print JSON instead of the summary");
  cmd->callback([&ctx, a] {
    if (a->source == "words")
      a->run.source = labels::WordSource::Words;
    else if (a->source == "labels")
      a->run.source = labels::WordSource::Labels;
    else if (a->source != "auto")
      throw ArgumentError("source", a->source, "expected words, labels or auto");
    a->run.label_method = labels::parse_method(a->method);
    const auto result = labels::classify_units(a->atlas, a->run);
    if (!a->out.empty()) {
      std::string csv = "layer,unit,family,regional_words,lexical,words\n";
      for (const auto& l : result)
        for (const auto& u : l.units)
          csv += fmt::format("{},{},{},{},{},{}\n", csv_field(l.layer), u.unit, labels::family_name(u.family),
                             u.regional_words, csv_field(u.lexical),
                             csv_field(fmt::format("{}", fmt::join(u.words, " "))));
      write_file_atomically(a->out, csv);
    }
    if (a->json) {
      nlohmann::json out = nlohmann::json::array();
      for (const auto& l : result) out.push_back(l.to_json());
      fmt::print("{}\n", out.dump(2));
      return;
    }
    for (const auto& l : result) {
      const double n = static_cast<double>(std::max<size_t>(l.units.size(), 1));
      fmt::print("{}: {} units by their top {} {}\n", l.layer, l.units.size(), a->run.top,
                 l.source == labels::WordSource::Words ? "words (word database)" : "labels (clipscope label)");
      for (const auto f : labels::kFamilies)
        fmt::print("  {:<9} {:>6}  {:>5.1f} %\n", labels::family_name(f), l.count(f), 100.0 * l.count(f) / n);
      fmt::print("  regional units, all top words geographic: {:.1f} % (the article: 2.5 % of RN50x4's units)\n",
                 100 * l.regional_all);
      fmt::print(
          "  all but one / a majority geographic: {:.1f} % / {:.1f} % (the article's conservative and liberal "
          "estimates: about 4 % and 8 %)\n",
          100 * l.regional_all_but_one, 100 * l.regional_majority);
      if (l.agreement >= 0)
        fmt::print(
            "  word database's top word among the unit's labels: {:.1f} % of {} units (random pairs: {:.1f} %)\n",
            100 * l.agreement, l.agreement_units, 100 * l.agreement_chance);
      for (const auto& u : l.units)
        if (u.family == labels::Family::Regional) fmt::print("  regional {}: {}\n", u.unit, fmt::join(u.words, ", "));
    }
  });
}

void add_audit_command(CLI::App& app, Context& ctx) {
  struct Args {
    std::string atlas, out, score, vis;
    labels::AuditOptions run;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("audit",
                                 "Sample units at random for a person to judge (the article's 50-unit audit): a "
                                 "labelling sheet and a CSV to fill in; --score reads it back");
  auto* atlas = cmd->add_option("-a,--atlas", a->atlas, "The atlas to sample from");
  auto* score =
      cmd->add_option("--score", a->score, "A filled audit.csv: the interpretable share with its 95 % interval");
  atlas->excludes(score);
  cmd->add_option("-n,--n", a->run.n, "Units sampled")->capture_default_str();
  cmd->add_option("--seed", a->run.seed, "Sampling seed")->capture_default_str();
  cmd->add_option("--layers", a->run.layers, "Layers sampled (default: all)")->delimiter(',');
  cmd->add_option("--examples", a->run.examples, "Top examples per unit")->capture_default_str();
  cmd->add_option("--vis", a->vis, "Feature visualizations (default: ATLAS/optvis)");
  cmd->add_option("-o,--out", a->out, "Write sheet.html, units/*.png and audit.csv here");
  cmd->callback([&ctx, a] {
    if (!a->score.empty()) {
      const auto s = labels::score_audit(a->score);
      fmt::print(
          "interpretable: {} of {} units = {:.1f} % (95 % interval {:.1f}-{:.1f} %){}; the article: 76 % of "
          "50 random RN50x4 units\n",
          s.interpretable, s.rated, 100 * s.share, 100 * s.low, 100 * s.high,
          s.unrated ? fmt::format(", {} left unrated", s.unrated) : "");
      return;
    }
    if (a->atlas.empty()) throw ArgumentError("atlas", "", "give --atlas (to sample) or --score (to score a sheet)");
    if (a->out.empty()) throw ArgumentError("out", "", "give the folder for the sheet");
    const auto at = atlas::Atlas::open(a->atlas);
    auto index = std::make_shared<serve::VisualizationIndex>();
    index->scan(a->vis.empty() ? fs::path(a->atlas) / "optvis" : fs::path(a->vis),
                [&](const std::string& name) -> std::optional<std::string> {
                  for (const auto& l : at.layers())
                    if (l.name == name || l.requested == name) return l.name;
                  return std::nullopt;
                });
    a->run.visualization = [index](const std::string& layer, int64_t unit) -> std::optional<fs::path> {
      for (const auto& v : index->for_unit(layer, unit))
        if (v.kind == "channel") return v.file;
      return std::nullopt;
    };
    const auto units = labels::write_audit(a->atlas, a->out, a->run);
    const auto with_vis = std::count_if(units.begin(), units.end(), [](const auto& u) { return u.visualization; });
    if (!ctx.quiet)
      fmt::print(stderr,
                 "audit: {} units sampled ({} with a feature visualization); open {}/sheet.html and fill in "
                 "{}/audit.csv\n",
                 units.size(), with_vis, a->out, a->out);
    for (const auto& u : units)
      fmt::print("{}\t{}:{}\t{}\t{}\n", u.id, u.layer, u.unit, u.family.empty() ? "-" : u.family,
                 fmt::join(u.labels.empty() ? u.words : u.labels, " "));
  });
}

}  // namespace

void add_label_command(CLI::App& app, Context& ctx) {
  add_families_command(app, ctx);
  add_audit_command(app, ctx);
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
