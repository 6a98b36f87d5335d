// clipscope tour [--out DIR] [--model demo] [--images N] [--no-serve]: the main job in one command.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "cli/commands/serve.h"
#include "cli/context.h"
#include "core/util/error.h"
#include "tour/tour.h"

namespace clipscope::cli {

namespace {

struct TourArgs {
  std::string model = "demo", precision = "auto";
  tour::TourOptions tour;
  bool serve = true;
  ServeArgs serve_args;
};

void run_tour(Context& ctx, TourArgs& a) {
  if (a.tour.images < 1) throw Error(fmt::format("--images {}: must be >= 1", a.tour.images));
  if (a.tour.featured < 1) throw Error(fmt::format("--featured {}: must be >= 1", a.tour.featured));
  if (a.tour.concepts < 1) throw Error(fmt::format("--concepts {}: must be >= 1", a.tour.concepts));
  a.tour.progress = !ctx.quiet;
  tour::TourResult r;
  {
    auto [model, identity] = ctx.load_identified_model(a.model, a.precision);
    const Tokenizer tokenizer = ctx.load_tokenizer(std::nullopt, a.model, model);
    r = tour::build_tour(model, identity, tokenizer, a.tour);
  }
  if (!ctx.quiet) {
    if (!r.steps_reused.empty())
      fmt::print(stderr, "tour: reused {} from an earlier run\n", fmt::join(r.steps_reused, ", "));
    fmt::print(stderr, "tour: the most multimodal units of {}:\n", a.tour.layer);
    for (const auto& f : r.featured)
      fmt::print(stderr, "  unit {:4}   picture {:5.1f} std   written name {:5.1f} std   {} ({})\n", f.unit,
                 f.picture_z, f.word_z, f.concept_name, f.family);
  }
  if (!a.serve) {
    fmt::print("{}\n", r.atlas.string());
    return;
  }
  ServeArgs s = a.serve_args;
  s.atlas = r.atlas.string();
  s.model = a.model;
  s.labels = (r.world / "labels.jsonl").string();
  s.label_key = "family";
  s.render_featured = true;
  run_serve(ctx, s);
}

}  // namespace

void add_tour_command(CLI::App& app, Context& ctx) {
  auto a = std::make_shared<TourArgs>();
  auto* cmd = app.add_subcommand(
      "tour",
      "What clipscope is for, in one command: draw a world, index it, find its multimodal units and serve the atlas");
  cmd->add_option("-m,--model", a->model, "A model of the synthetic world (the demo model)")->capture_default_str();
  cmd->add_option("-o,--out", a->tour.dir, "Tour directory (world/, atlas/); a second run reuses what is there")
      ->capture_default_str();
  cmd->add_option("--images", a->tour.images, "World images to index")->capture_default_str();
  cmd->add_option("--featured", a->tour.featured, "Multimodal units to feature on the page")->capture_default_str();
  cmd->add_option("--concepts", a->tour.concepts, "Concepts searched for multimodal units (demo-report's 256)")
      ->capture_default_str();
  cmd->add_option("--layer", a->tour.layer, "Layer to index and search for multimodal units")->capture_default_str();
  cmd->add_flag("!--no-serve", a->serve, "Build the tour and print the atlas's path instead of serving it");
  cmd->add_option("--host", a->serve_args.host, "Address to listen on (127.0.0.1: this machine only)")
      ->capture_default_str();
  cmd->add_option("--port", a->serve_args.port, "Port (0: any free port)")->capture_default_str();
  cmd->add_option("--render-steps", a->serve_args.render_steps, "Optimization steps of each feature visualization")
      ->capture_default_str();
  cmd->callback([&ctx, a] { run_tour(ctx, *a); });
}

}  // namespace clipscope::cli
