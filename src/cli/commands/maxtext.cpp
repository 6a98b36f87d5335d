// clipscope maximal-text: the text a unit, an image or a text corresponds to.
#include <fmt/format.h>

#include "atlas/atlas.h"
#include "cli/context.h"
#include "core/util/error.h"
#include "core/util/files.h"
#include "core/util/index_list.h"
#include "maxtext/maximal_text.h"
#include "maxtext/store.h"

namespace clipscope::cli {

namespace {

struct MaximalTextArgs {
  std::string model, precision, target, unit, image, text, method = "hill-climb", out, atlas;
  bool replace = false;
  std::optional<std::string> vocab;
  maxtext::Options run;
  bool json = false;
};

// --atlas: each listed unit's texts searched and stored in the atlas, then its best
// texts printed, one line per unit.
void run_on_atlas(Context& ctx, const MaximalTextArgs& o) {
  const auto colon = o.unit.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == o.unit.size())
    throw ArgumentError("unit", o.unit, "expected LAYER:UNITS, e.g. visual.layer4:0-31");
  const std::string list = o.unit.substr(colon + 1);
  const auto atlas = atlas::Atlas::open(o.atlas);
  const auto& layer = atlas.layer(o.unit.substr(0, colon));
  const auto units = parse_index_list(list, layer.units, "unit", fmt::format("{} ({} units)", layer.name, layer.units));
  auto [model, identity] = ctx.load_identified_model(o.model, o.precision);
  const Tokenizer tokenizer = ctx.load_tokenizer(o.vocab, o.model, model);
  const auto report = maxtext::fill_atlas(model, tokenizer, identity, o.atlas, layer.name, units, o.run, o.replace);
  auto db = atlas::Atlas::open(o.atlas);
  for (int64_t u : units)
    for (const auto& r : maxtext::stored_results(db.database(), layer.name, u))
      if (r.method == maxtext::method_name(o.run.method) && !r.texts.empty())
        fmt::print("{}:{}\t{:.4f}\t{}\n", layer.name, u, r.texts[0].score, r.texts[0].text);
  if (!ctx.quiet)
    fmt::print(stderr, "maximal text: {} units searched, {} already stored, {:.1f} s; stored in {}\n", report.computed,
               report.skipped, report.seconds, o.atlas);
}

}  // namespace

void add_maximal_text_command(CLI::App& app, Context& ctx) {
  auto o = std::make_shared<MaximalTextArgs>();
  auto* cmd = app.add_subcommand("maximal-text",
                                 "The text whose embedding points along a unit's direction, an image's or a text's "
                                 "(hill climbing over tokens, or embedding optimization)");
  add_model_option(*cmd, o->model);
  add_vocab_option(*cmd, o->vocab);
  add_precision_option(*cmd, o->precision);
  auto* target = cmd->add_option("--target", o->target,
                                 "A target expression: unit(LAYER, UNIT) or LAYER:UNIT, image(PATH), text(\"TEXT\"), "
                                 "weighted sums (\"visual.layer4:12 - 0.5 * text(\\\"a sad face\\\")\")");
  auto* unit = cmd->add_option("--unit", o->unit,
                               "The same as --target LAYER:UNIT (e.g. visual.layer4:12); with --atlas, a list of units "
                               "(visual.layer4:0-31,40 or visual.layer4:all)");
  auto* image = cmd->add_option("--image", o->image, "The same as --target image(PATH)");
  auto* text = cmd->add_option("--text", o->text, "The same as --target text(TEXT)");
  target->excludes(unit)->excludes(image)->excludes(text);
  unit->excludes(image)->excludes(text);
  image->excludes(text);
  cmd->add_option("--method", o->method,
                  "hill-climb (the article's: mutate a pool of token sequences) or embedding (the reproduction's: "
                  "optimize token embeddings, snap to tokens each epoch)")
      ->capture_default_str();
  cmd->add_option("--max-tokens", o->run.max_tokens, "Tokens per text at most")->capture_default_str();
  cmd->add_option("--seed", o->run.seed, "Random seed (the same seed gives the same texts)")->capture_default_str();
  cmd->add_option("--top", o->run.top, "Texts listed")->capture_default_str();
  cmd->add_option("--pool", o->run.pool, "Hill climbing: sequences kept (the article's pool of 28)")
      ->capture_default_str();
  cmd->add_option("--generations", o->run.generations, "Hill climbing: generations")->capture_default_str();
  cmd->add_option("--children", o->run.children, "Hill climbing: mutations scored per generation")
      ->capture_default_str();
  cmd->add_option("--epochs", o->run.epochs, "Embedding: epochs (a snap to tokens after each)")->capture_default_str();
  cmd->add_option("--iterations", o->run.iterations, "Embedding: SGD steps per epoch")->capture_default_str();
  cmd->add_option("--learning-rate", o->run.learning_rate, "Embedding: SGD learning rate")->capture_default_str();
  cmd->add_option("--batch", o->run.batch, "Sequences per forward pass")->capture_default_str();
  cmd->add_option("-o,--out", o->out, "Write the result as JSON to this file");
  cmd->add_flag("--json", o->json, "Print the JSON instead of the table");
  auto* atlas = cmd->add_option("-a,--atlas", o->atlas,
                                "Store each unit's texts in this atlas (built with the same model), where serve shows "
                                "them; units already stored with the method are skipped");
  cmd->add_flag("--replace", o->replace, "With --atlas: search again the units that already have texts");
  atlas->needs(unit)->excludes(target)->excludes(image)->excludes(text);
  cmd->callback([&ctx, o] {
    o->run.method = maxtext::parse_method(o->method);
    o->run.progress = !ctx.quiet;
    if (!o->atlas.empty()) {
      run_on_atlas(ctx, *o);
      return;
    }
    std::string expression = o->target;
    if (!o->unit.empty()) expression = o->unit;
    if (!o->image.empty()) expression = fmt::format("image(\"{}\")", o->image);
    if (!o->text.empty()) expression = fmt::format("text(\"{}\")", o->text);
    if (expression.empty()) throw ArgumentError("target", "", "give --target, --unit, --image or --text");
    CLIP model = ctx.load_model(o->model, o->precision);
    const Tokenizer tokenizer = ctx.load_tokenizer(o->vocab, o->model, model);
    const auto target = maxtext::parse_target(model, tokenizer, expression);
    const auto result = maxtext::maximal_text(model, tokenizer, target, o->run);
    auto json = result.to_json();
    json["model"] = o->model;
    json["options"] = maxtext::options_json(o->run);
    if (!o->out.empty()) write_file_atomically(o->out, json.dump(2) + "\n");
    if (o->json)
      fmt::print("{}\n", json.dump(2));
    else
      fmt::print("{}", result.table());
  });
}

}  // namespace clipscope::cli
