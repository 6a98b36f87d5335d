// Feature visualization:
//   clipscope visualize --unit LAYER:I[,I...]   images that make units fire (lucid's
//                                                method, or --method preimage|deepdream,
//                                                or --facet PROBE for one facet)
//   clipscope facet-probe --facet DIR --generic DIR --out probe.npy
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <sstream>

#include "cli/context.h"
#include "core/util/error.h"
#include "optvis/facet_probe.h"
#include "optvis/visualize.h"

namespace clipscope::cli {
namespace {

namespace fs = std::filesystem;
using namespace clipscope::optvis;

struct VisualizeArgs {
  VisualizeOptions options;
  std::string out, method = "lucid";
};

void add_visualize(CLI::App& app, Context& ctx) {
  auto args = std::make_shared<VisualizeArgs>();
  VisualizeOptions* a = &args->options;
  auto* cmd = app.add_subcommand("visualize", "Feature visualization: images optimized to make units fire");
  add_model_option(*cmd, a->model);
  cmd->add_option("--precision", a->precision,
                  "exact, fp32 (batch norms folded) or bf16 (gradients in bf16: check the objective reached)")
      ->default_val("fp32");
  cmd->add_option("-u,--unit", a->unit, "LAYER:INDEX[,INDEX...]: one image per unit, e.g. visual.layer4:12,40");
  cmd->add_flag("--neuron", a->neuron,
                "Maximize the unit at the centre position only (lucid's neuron) instead of its mean");
  cmd->add_option("--objective", a->objective,
                  "Objective expression, added to the units' (or alone without --unit), e.g. "
                  "\"channel(visual.layer4, 12) - 100 * diversity(visual.layer3) - 0.05 * tv()\"");
  cmd->add_option("-o,--out", args->out, "Output folder (PNG per unit, grid.png, visualize.json)")->required();
  cmd->add_option("--method", args->method,
                  "lucid (Fourier, decorrelated, standard transforms), preimage (pixels, "
                  "alpha-norm + total variation, jitter) or deepdream (octaves)")
      ->default_val("lucid");
  cmd->add_option("--steps", a->steps, "Optimization steps (Deep Dream: per octave)")
      ->default_val(512)
      ->check(CLI::PositiveNumber);
  cmd->add_option("--size", a->size, "Image side in pixels (default: the model's input resolution)");
  cmd->add_option("--batch", a->batch, "Units rendered together, one image each (Microscope: 32)")
      ->default_val(8)
      ->check(CLI::PositiveNumber);
  cmd->add_option("--images", a->images,
                  "Images rendered for an --objective without --unit (e.g. with a diversity term)")
      ->default_val(1)
      ->check(CLI::PositiveNumber);
  cmd->add_option("--lr", a->lr, "Adam learning rate (default 0.05; facets 0.02; preimage 0.01)");
  cmd->add_option("--thresholds", a->thresholds, "Also save the images after these steps, e.g. 32,128");
  cmd->add_option("--seed", a->seed, "Seed of the initial image and the transforms")->default_val(0);
  cmd->add_option("--param", a->param, "Image parameterization")
      ->default_val("fft")
      ->check(CLI::IsMember({"fft", "pixel"}));
  cmd->add_option("--sd", a->sd, "Standard deviation of the initial values")->default_val(0.01);
  cmd->add_option("--decay-power", a->decay_power, "Fourier spectrum decay")->default_val(1);
  cmd->add_flag("--no-decorrelate", a->no_decorrelate, "Optimize plain RGB instead of lucid's decorrelated colours");
  cmd->add_option("--range", a->range, "How values become [0, 1]")
      ->default_val("sigmoid")
      ->check(CLI::IsMember({"sigmoid", "clamp"}));
  cmd->add_option("--transforms", a->transforms,
                  "standard (lucid), facet:SIZE, none, or a list: pad(12,0.5),jitter(8),scale(0.9,1.1),rotate(-5,5),"
                  "jitter(4),crop(224,224)");
  cmd->add_option("--redirect-relu-steps", a->redirect_relu_steps, "Steps with redirected ReLU gradients")
      ->default_val(16);
  cmd->add_flag("--grayscale", a->grayscale, "One grey channel (the preimage variant's option)");
  cmd->add_option("--alpha", a->alpha, "preimage: the alpha of the alpha-norm")->default_val(6);
  cmd->add_option("--alpha-weight", a->alpha_weight, "preimage: alpha-norm weight (per pixel value)")
      ->default_val(1e-3);
  cmd->add_option("--tv-weight", a->tv_weight, "preimage: total-variation weight (per pixel value)")->default_val(0.05);
  cmd->add_option("--init", a->init, "deepdream: start from this image (default: grey with a little noise)");
  cmd->add_option("--octaves", a->octaves, "deepdream: octaves")->default_val(4)->check(CLI::PositiveNumber);
  cmd->add_option("--octave-scale", a->octave_scale, "deepdream: size ratio between octaves")->default_val(1.4);
  cmd->add_option("--step-size", a->step_size, "deepdream: step per iteration, on the normalized gradient")
      ->default_val(0.01);
  cmd->add_option("--facet", a->facet, "Faceted visualization with this probe (from facet-probe)");
  cmd->add_option("--facet-strength", a->facet_strength,
                  "Facet term weight from the first to the last image of the batch")
      ->default_val("0.1,5");
  cmd->add_option("--facet-batch", a->facet_batch, "Images per unit with --facet")
      ->default_val(9)
      ->check(CLI::PositiveNumber);
  cmd->add_option("--l2-weight", a->l2_weight, "Facets: weight of the mean squared distance from grey")
      ->default_val(10);
  cmd->add_option("--crash-after", a->crash_after, "Testing: stop abruptly after N saved renders")
      ->group("");  // hidden
  cmd->callback([&ctx, args] {
    VisualizeOptions& o = args->options;
    o.method = parse_method(args->method);
    o.command = ctx.command_line;
    o.progress = !ctx.quiet;
    CLIP model = ctx.load_model(o.model, o.precision);
    const auto r = visualize(model, o, args->out);
    fmt::print("wrote {} image(s), grid.png and visualize.json to {}\n", r.images, args->out);
  });
}

void add_facet_probe(CLI::App& app, Context& ctx) {
  struct Args {
    std::string model, precision, facet, generic, out, layers;
    int batch_size = 32, max_iterations = 500;
    double l2 = 1e-3, holdout = 0.2;
    uint64_t seed = 0;
  };
  auto a = std::make_shared<Args>();
  auto* cmd =
      app.add_subcommand("facet-probe", "Fit a facet probe (facet images vs generic images) for visualize --facet");
  add_model_option(*cmd, a->model);
  add_precision_option(*cmd, a->precision);
  cmd->add_option("--facet", a->facet, "Folder of images showing the facet (faces, text, logos, ...)")->required();
  cmd->add_option("--generic", a->generic, "Folder of generic images")->required();
  cmd->add_option("-o,--out", a->out, "Probe weights .npy (a .json with the rest is written beside it)")->required();
  cmd->add_option("--layers", a->layers,
                  "Comma-separated points to probe (default: every other block of visual.layer3, as the reference)");
  cmd->add_option("--l2", a->l2, "Ridge penalty")->default_val(1e-3);
  cmd->add_option("--holdout", a->holdout, "Fraction of each class held out to measure accuracy")->default_val(0.2);
  cmd->add_option("--max-iterations", a->max_iterations, "L-BFGS iterations")->default_val(500);
  cmd->add_option("--seed", a->seed, "Seed of the train/holdout split")->default_val(0);
  cmd->add_option("-b,--batch-size", a->batch_size, "Images per forward pass")
      ->default_val(32)
      ->check(CLI::PositiveNumber);
  cmd->callback([&ctx, a] {
    CLIP model = ctx.load_model(a->model, a->precision);
    std::vector<std::string> layers;
    if (a->layers.empty())
      layers = default_facet_layers(model);
    else {
      std::stringstream list(a->layers);
      for (std::string item; std::getline(list, item, ',');) layers.push_back(model->resolve_point(item));
    }
    int64_t skipped_facet = 0, skipped_generic = 0;
    const auto facet = folder_features(model, layers, a->facet, a->batch_size, skipped_facet, !ctx.quiet);
    const auto generic = folder_features(model, layers, a->generic, a->batch_size, skipped_generic, !ctx.quiet);
    FitOptions fit;
    fit.l2 = a->l2;
    fit.holdout = a->holdout;
    fit.max_iterations = a->max_iterations;
    fit.seed = a->seed;
    FacetProbe probe = fit_facet_probe(facet, generic, fit);
    probe.layers = layers;
    for (const auto& l : layers) probe.channels.push_back(model->point(l).channels);
    probe.skipped_images = skipped_facet + skipped_generic;
    save_facet_probe(probe, a->out);
    fmt::print(
        "probe on {} ({} units): {} facet vs {} generic images ({} skipped); balanced accuracy {:.3f} train, {:.3f} "
        "held out\nwrote {} and {}\n",
        fmt::join(layers, ", "), probe.weights.numel(), probe.facet_images, probe.generic_images, probe.skipped_images,
        probe.train_accuracy, probe.holdout_accuracy, a->out, facet_probe_json_path(a->out).string());
  });
}

}  // namespace

void add_optvis_commands(CLI::App& app, Context& ctx) {
  add_visualize(app, ctx);
  add_facet_probe(app, ctx);
}

}  // namespace clipscope::cli
