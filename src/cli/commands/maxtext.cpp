// clipscope maximal-text: the text a unit, an image or a text corresponds to.
#include <fmt/format.h>

#include "cli/context.h"
#include "core/util/error.h"
#include "core/util/files.h"
#include "maxtext/maximal_text.h"

namespace clipscope::cli {

void add_maximal_text_command(CLI::App& app, Context& ctx) {
  struct Options {
    std::string model, precision, target, unit, image, text, method = "hill-climb", out;
    std::optional<std::string> vocab;
    maxtext::Options run;
    bool json = false;
  };
  auto o = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("maximal-text",
                                 "The text whose embedding points along a unit's direction, an image's or a text's "
                                 "(hill climbing over tokens, or embedding optimization)");
  add_model_option(*cmd, o->model);
  add_vocab_option(*cmd, o->vocab);
  add_precision_option(*cmd, o->precision);
  auto* target = cmd->add_option("--target", o->target,
                                 "A target expression: unit(LAYER, UNIT) or LAYER:UNIT, image(PATH), text(\"TEXT\"), "
                                 "weighted sums (\"visual.layer4:12 - 0.5 * text(\\\"a sad face\\\")\")");
  auto* unit = cmd->add_option("--unit", o->unit, "The same as --target LAYER:UNIT (e.g. visual.layer4:12)");
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
  cmd->callback([&ctx, o] {
    std::string expression = o->target;
    if (!o->unit.empty()) expression = o->unit;
    if (!o->image.empty()) expression = fmt::format("image(\"{}\")", o->image);
    if (!o->text.empty()) expression = fmt::format("text(\"{}\")", o->text);
    if (expression.empty()) throw ArgumentError("target", "", "give --target, --unit, --image or --text");
    o->run.method = maxtext::parse_method(o->method);
    o->run.progress = !ctx.quiet;
    CLIP model = ctx.load_model(o->model, o->precision);
    const Tokenizer tokenizer = ctx.load_tokenizer(o->vocab, o->model, model);
    const auto target = maxtext::parse_target(model, tokenizer, expression);
    const auto result = maxtext::maximal_text(model, tokenizer, target, o->run);
    auto json = result.to_json();
    json["model"] = o->model;
    json["seed"] = o->run.seed;
    if (!o->out.empty()) write_file_atomically(o->out, json.dump(2) + "\n");
    if (o->json)
      fmt::print("{}\n", json.dump(2));
    else
      fmt::print("{}", result.table());
  });
}

}  // namespace clipscope::cli
