// clipscope gap | stroop: the article's behavioural experiments on any checkpoint.
#include <fmt/format.h>

#include "cli/context.h"
#include "core/util/error.h"
#include "core/util/files.h"
#include "experiments/gap.h"
#include "experiments/stroop.h"

namespace clipscope::cli {

namespace fs = std::filesystem;

namespace {

void create_output_folder(const std::string& out) {
  if (out.empty()) return;
  std::error_code ec;
  fs::create_directories(out, ec);
  if (ec) throw Error(fmt::format("--out {}: cannot create the folder ({})", out, ec.message()));
}

void add_stroop_command(CLI::App& app, Context& ctx) {
  struct Options {
    std::string model, precision, out, published;
    std::optional<std::string> vocab;
    experiments::StroopOptions stroop;
    std::vector<std::string> words = experiments::article_stroop_words();
    bool json = false;
  };
  auto o = std::make_shared<Options>();
  auto* cmd = app.add_subcommand(
      "stroop", "The article's Stroop test: colour words in every ink, does the model report the ink or the word?");
  add_model_option(*cmd, o->model);
  add_vocab_option(*cmd, o->vocab);
  add_precision_option(*cmd, o->precision);
  cmd->add_option("--colours", o->stroop.colours, "Inks and colour words (CSS names)")->capture_default_str();
  cmd->add_option("--words", o->words, "Words written in every ink (colour words and control words)")
      ->capture_default_str();
  cmd->add_option("--prompt", o->stroop.prompt, "Zero-shot prompt, {} for the colour")->capture_default_str();
  cmd->add_option(
         "--published", o->published,
         "The article's results to print beside ours (../shared/data/typographic/paper_stroop_experiment.json)")
      ->check(CLI::ExistingFile);
  cmd->add_option("-o,--out", o->out, "Folder for stroop.json and stroop.png (the grid)");
  cmd->add_flag("--json", o->json, "Print the JSON instead of the table");
  cmd->callback([&ctx, o] {
    create_output_folder(o->out);
    CLIP model = ctx.load_model(o->model, o->precision);
    const Tokenizer tokenizer = ctx.load_tokenizer(o->vocab, o->model, model);
    const auto run = experiments::article_stroop(model, tokenizer, o->stroop, o->words, o->published);
    auto json = run.result.to_json();
    json["model"] = o->model;
    json["prompt"] = o->stroop.prompt;
    if (run.published) json["published"] = run.published->to_json();
    if (!o->out.empty()) {
      write_file_atomically(fs::path(o->out) / "stroop.json", json.dump(2) + "\n");
      experiments::write_stroop_grid(fs::path(o->out) / "stroop.png", run.result);
      if (!ctx.quiet) fmt::print(stderr, "wrote {}/stroop.json and stroop.png\n", o->out);
    }
    if (o->json)
      fmt::print("{}\n", json.dump(2));
    else
      fmt::print("{}", run.result.table(run.published ? &*run.published : nullptr));
  });
}

void add_gap_command(CLI::App& app, Context& ctx) {
  struct Options {
    std::string model, precision, captions, out;
    std::optional<std::string> vocab;
    experiments::GapRunOptions run;
    bool json = false;
  };
  auto o = std::make_shared<Options>();
  auto* cmd = app.add_subcommand(
      "gap", "The modality gap (Liang et al. 2022) on image-caption pairs: centroid distance, cones, shift sweep");
  add_model_option(*cmd, o->model);
  add_vocab_option(*cmd, o->vocab);
  add_precision_option(*cmd, o->precision);
  cmd->add_option("--captions", o->captions,
                  "Image-caption table in open_clip's CSV/TSV layout (a header row; e.g. a world's captions.tsv)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--image-column", o->run.image_column, "The table's column of image paths")->capture_default_str();
  cmd->add_option("--caption-column", o->run.caption_column, "The table's column of captions")->capture_default_str();
  cmd->add_option("--max-pairs", o->run.max_pairs, "Use the first this many pairs (0 = all)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--batch-size", o->run.batch_size, "Pairs embedded at once")->capture_default_str();
  cmd->add_option("--shifts", o->run.gap.shifts,
                  "Shift amounts along the gap vector (1: the centroids meet before normalization)")
      ->capture_default_str();
  cmd->add_option("--loss-batch", o->run.gap.loss_batch, "Pairs per block of the contrastive loss")
      ->capture_default_str();
  cmd->add_option("-o,--out", o->out, "Folder for gap.json and gap.png (the 2-D projection)");
  cmd->add_flag("--json", o->json, "Print the JSON instead of the table");
  add_truncate_option(*cmd, o->run.truncate);
  cmd->callback([&ctx, o] {
    create_output_folder(o->out);
    CLIP model = ctx.load_model(o->model, o->precision);
    const Tokenizer tokenizer = ctx.load_tokenizer(o->vocab, o->model, model);
    o->run.progress = !ctx.quiet;
    const auto run = experiments::measure_gap(model, tokenizer, o->captions, o->run);
    if (!ctx.quiet) {
      if (!run.skipped_lines.empty())
        fmt::print(stderr, "warning: skipped {} line(s) of {} (first: {})\n", run.skipped_lines.size(), o->captions,
                   run.skipped_lines.front());
      if (!run.skipped_images.empty())
        fmt::print(stderr, "warning: skipped {} unreadable image(s) (first: {}: {})\n", run.skipped_images.size(),
                   run.skipped_images.front().path.string(), run.skipped_images.front().error);
    }
    auto json = run.result.to_json();
    json["skipped_images"] = run.skipped_images.size();
    json["skipped_lines"] = run.skipped_lines.size();
    json["model"] = o->model;
    json["captions"] = o->captions;
    if (!o->out.empty()) {
      write_file_atomically(fs::path(o->out) / "gap.json", json.dump(2) + "\n");
      experiments::write_gap_plot(fs::path(o->out) / "gap.png", run.result);
      if (!ctx.quiet) fmt::print(stderr, "wrote {}/gap.json and gap.png\n", o->out);
    }
    if (o->json)
      fmt::print("{}\n", json.dump(2));
    else
      fmt::print("{}", run.result.table());
    if (!o->json && (!run.skipped_images.empty() || !run.skipped_lines.empty()))
      fmt::print("  skipped: {} unreadable image(s), {} line(s) of the table\n", run.skipped_images.size(),
                 run.skipped_lines.size());
  });
}

}  // namespace

void add_experiment_commands(CLI::App& app, Context& ctx) {
  add_gap_command(app, ctx);
  add_stroop_command(app, ctx);
}

}  // namespace clipscope::cli
