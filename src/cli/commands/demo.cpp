// clipscope train-demo --out DIR | clipscope demo-report [--model demo] [--json]
#include <fmt/format.h>

#include "cli/context.h"
#include "core/util/error.h"
#include "demo/report.h"
#include "demo/train.h"

namespace clipscope::cli {

namespace {

void add_train_demo_command(CLI::App& app, Context& ctx) {
  auto o = std::make_shared<demo::TrainOptions>();
  auto out = std::make_shared<std::string>();
  auto* cmd =
      app.add_subcommand("train-demo", "Train the demo CLIP on the synthetic world (resumes from DIR/checkpoint.pt)");
  cmd->add_option("-o,--out", *out, "Run directory: merges, checkpoint, train-log.csv, clipscope-demo.pt")->required();
  cmd->add_option("--seed", o->seed, "World seed and weight initialization")->capture_default_str();
  cmd->add_option("--steps", o->steps, "Optimizer steps")->capture_default_str();
  cmd->add_option("--batch", o->batch, "Image-caption pairs per step")->capture_default_str();
  cmd->add_option("--lr", o->lr, "Peak learning rate (AdamW)")->capture_default_str();
  cmd->add_option("--weight-decay", o->weight_decay, "Decoupled weight decay")->capture_default_str();
  cmd->add_option("--warmup", o->warmup, "Linear warm-up steps before the cosine schedule")->capture_default_str();
  cmd->add_option("--resolution", o->resolution, "Image size in pixels")->capture_default_str();
  cmd->add_option("--width", o->width, "ModifiedResNet width (layer4 has 32 x width units)")->capture_default_str();
  cmd->add_option("--bpe-merges", o->bpe_merges, "Most BPE merges to learn from the captions")->capture_default_str();
  cmd->add_option("--data-threads", o->data_threads, "World generation threads")->capture_default_str();
  cmd->add_option("--checkpoint-every", o->checkpoint_every, "Steps between checkpoints")->capture_default_str();
  cmd->add_option("--precision", o->precision, "fp32, bf16 or auto (bf16 where the CPU has native bf16)")
      ->capture_default_str();
  cmd->add_option("--max-minutes", o->max_minutes, "Checkpoint and stop after this wall time (0 = no limit)")
      ->capture_default_str();
  cmd->add_option("--snapshot-every", o->snapshot_every,
                  "Also write the fp16 model to DIR/snapshots/step-NNNNNN.pt every this many steps (0 = never)")
      ->capture_default_str();
  cmd->add_option(
         "--init-from", o->init_from,
         "Start from this model of an earlier run (its clipscope-demo.pt; merges beside it) with a new schedule")
      ->check(CLI::ExistingFile);
  cmd->add_option("--unit-sparsity", o->unit_sparsity,
                  "Weight of a loss term that makes each image's visual.layer4 units sparse (L1/L2 of the spatial "
                  "means; 0 = off)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  add_world_options(*cmd, o->world);
  cmd->callback([&ctx, o, out] {
    o->out = *out;
    o->progress = !ctx.quiet;
    set_threads(ctx.threads);
    const demo::TrainResult r = demo::train_demo(*o);
    if (r.finished) {
      fmt::print("{}\n{}\n", r.model.string(), r.merges.string());
    } else {
      fmt::print(stderr, "stopped at step {} of {}; run the same command again to resume\n", r.steps_done, o->steps);
    }
  });
}

void add_demo_report_command(CLI::App& app, Context& ctx) {
  struct Options {
    std::string model;
    std::optional<std::string> vocab;
    std::string precision;
    bool json = false;
    demo::ReportOptions report;
  };
  auto o = std::make_shared<Options>();
  auto* cmd =
      app.add_subcommand("demo-report", "Measure what a model learned about the synthetic world (ground truth)");
  add_model_option(*cmd, o->model);
  add_vocab_option(*cmd, o->vocab);
  add_precision_option(*cmd, o->precision);
  cmd->add_option("--seed", o->report.seed, "Held-out world seed")->capture_default_str();
  cmd->add_option("--layer", o->report.unit_layer, "Point searched for the colour and shape units")
      ->capture_default_str();
  cmd->add_option("--world-edition", o->report.world_edition,
                  "World edition the model was trained on (2: the concept targets apply)")
      ->capture_default_str()
      ->check(CLI::IsMember({1, 2}));
  cmd->add_flag("!--no-concepts", o->report.concepts, "Skip the second edition's concept measures");
  cmd->add_flag("--json", o->json, "Print the report as JSON");
  cmd->callback([&ctx, o] {
    CLIP model = ctx.load_model(o->model, o->precision);
    const Tokenizer tokenizer = ctx.load_tokenizer(o->vocab, o->model, model);
    demo::Report report = demo::demo_report(model, tokenizer, o->report, !ctx.quiet);
    report.model = o->model;
    if (o->json)
      fmt::print("{}\n", report.to_json().dump(2));
    else
      fmt::print("{}", report.to_text());
  });
}

}  // namespace

void add_demo_commands(CLI::App& app, Context& ctx) {
  add_train_demo_command(app, ctx);
  add_demo_report_command(app, ctx);
}

}  // namespace clipscope::cli
