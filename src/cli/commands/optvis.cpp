// Feature visualization:
//   clipscope visualize --unit LAYER:I[,I...]   images that make units fire (lucid's
//                                                method, or --method preimage|deepdream,
//                                                or --facet PROBE for one facet)
//   clipscope facet-probe --facet DIR --generic DIR --out probe.npy
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <fstream>

#include "cli/context.h"
#include "core/model/tensor_io.h"
#include "core/util/error.h"
#include "core/util/progress.h"
#include "optvis/deepdream.h"
#include "optvis/facet_probe.h"
#include "optvis/objectives.h"
#include "optvis/param.h"
#include "optvis/render.h"
#include "optvis/transforms.h"
#include "plot/sheet.h"

namespace clipscope::cli {
namespace {

namespace fs = std::filesystem;
using namespace clipscope::optvis;

struct UnitSpec {
  std::string layer;  // canonical
  std::vector<int64_t> units;
};

// "visual.layer4:12" or "visual.layer4:12,40,7".
UnitSpec parse_units(const std::string& text, const CLIPImpl& model) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size())
    throw Error(fmt::format("--unit '{}': expected LAYER:INDEX[,INDEX...], e.g. visual.layer4:12", text));
  UnitSpec spec{model.resolve_point(text.substr(0, colon)), {}};
  const int64_t units = model.point(spec.layer).channels;
  std::stringstream list(text.substr(colon + 1));
  for (std::string item; std::getline(list, item, ',');) {
    size_t used = 0;
    int64_t unit = -1;
    try {
      unit = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != item.size() || unit < 0)
      throw Error(fmt::format("--unit '{}': '{}' is not a unit index", text, item));
    if (unit >= units) throw Error(fmt::format("--unit '{}': unit {} is out of range for {} ({} units)", text, unit, spec.layer, units));
    spec.units.push_back(unit);
  }
  return spec;
}

std::vector<int> parse_ints(const std::string& text, const std::string& what) {
  std::vector<int> out;
  std::stringstream list(text);
  for (std::string item; std::getline(list, item, ',');) {
    try {
      size_t used = 0;
      out.push_back(std::stoi(item, &used));
      if (used != item.size()) throw std::invalid_argument(item);
    } catch (const std::exception&) {
      throw Error(fmt::format("{} '{}': '{}' is not an integer", what, text, item));
    }
  }
  return out;
}

std::pair<double, double> parse_pair(const std::string& text, const std::string& what) {
  double a = 0, b = 0;
  char comma = 0;
  std::stringstream in(text);
  if (!(in >> a >> comma >> b) || comma != ',' || !in.eof())
    throw Error(fmt::format("{} '{}': expected two numbers LO,HI", what, text));
  return {a, b};
}

std::string file_stem(const std::string& layer, int64_t unit) { return fmt::format("{}_{}", layer, unit); }

struct VisualizeArgs {
  std::string model, precision = "fp32", unit, objective, out, method = "lucid", param = "fft", range = "sigmoid",
                     transforms, thresholds, facet, facet_strength = "0.1,5", init;
  int steps = 512, size = 0, batch = 8, images = 1, redirect_relu_steps = 16, octaves = 4, facet_batch = 9;
  double lr = 0, sd = 0.01, decay_power = 1, alpha = 6, alpha_weight = 1e-3, tv_weight = 0.05, l2_weight = 10,
         octave_scale = 1.4, step_size = 0.01;
  uint64_t seed = 0;
  bool neuron = false, no_decorrelate = false, grayscale = false;
  int stop_after_renders = 0;  // testing: exit abruptly after N renders are saved
};

// Everything that decides what `visualize` writes; a rerun into the same folder
// resumes only when these are equal.
nlohmann::json visualize_settings(const VisualizeArgs& a) {
  return {{"model", a.model}, {"precision", a.precision}, {"unit", a.unit}, {"objective", a.objective},
          {"neuron", a.neuron}, {"method", a.method}, {"param", a.param}, {"range", a.range},
          {"transforms", a.transforms}, {"thresholds", a.thresholds}, {"facet", a.facet},
          {"facet_strength", a.facet_strength}, {"facet_batch", a.facet_batch}, {"init", a.init}, {"steps", a.steps},
          {"size", a.size}, {"batch", a.batch}, {"images", a.images}, {"redirect_relu_steps", a.redirect_relu_steps},
          {"octaves", a.octaves}, {"lr", a.lr}, {"sd", a.sd}, {"decay_power", a.decay_power}, {"alpha", a.alpha},
          {"alpha_weight", a.alpha_weight}, {"tv_weight", a.tv_weight}, {"l2_weight", a.l2_weight},
          {"octave_scale", a.octave_scale}, {"step_size", a.step_size}, {"seed", a.seed},
          {"no_decorrelate", a.no_decorrelate}, {"grayscale", a.grayscale}};
}

// The renders already saved in `out` by an interrupted run with the same settings
// (none for a new folder); Error when the folder holds another visualization.
nlohmann::json saved_renders(const fs::path& out, const nlohmann::json& settings) {
  const fs::path file = out / "visualize.json";
  if (!fs::exists(file)) return nlohmann::json::array();
  nlohmann::json saved;
  try {
    std::ifstream in(file);
    saved = nlohmann::json::parse(in);
  } catch (const std::exception&) {
    throw Error(fmt::format("{}: not a visualize.json (unreadable JSON); use another --out", file.string()));
  }
  if (!saved.contains("settings") || !saved.contains("renders"))
    throw Error(fmt::format("{}: not written by clipscope visualize; use another --out", file.string()));
  for (const auto& [key, value] : settings.items())
    if (saved["settings"].value(key, nlohmann::json()) != value)
      throw Error(fmt::format("{} holds a visualization with other settings ({}: {} there, {} now); use another --out",
                              out.string(), key, saved["settings"].value(key, nlohmann::json()).dump(), value.dump()));
  return saved["renders"];
}

// One unit's objective in image `batch` of a render.
Objective unit_objective(const VisualizeArgs& a, const std::string& layer, int64_t unit, std::optional<int64_t> batch) {
  return a.neuron ? neuron(layer, unit, std::nullopt, std::nullopt, batch) : channel(layer, unit, batch);
}

void run_visualize(Context& ctx, const VisualizeArgs& a) {
  if (a.unit.empty() && a.objective.empty()) throw Error("visualize: give --unit LAYER:INDEX[,INDEX...] or --objective EXPR");
  if (a.method != "lucid" && a.method != "preimage" && a.method != "deepdream")
    throw Error(fmt::format("--method '{}': expected lucid, preimage or deepdream", a.method));
  if (!a.facet.empty() && a.method != "lucid") throw Error("--facet works with --method lucid only");
  if (!a.facet.empty() && a.unit.empty()) throw Error("--facet needs --unit: the facet is shown for a unit");
  if (!a.init.empty() && a.method != "deepdream") throw Error("--init works with --method deepdream only");
  if (a.grayscale && a.method == "deepdream") throw Error("--grayscale does not apply to --method deepdream");

  CLIP model = ctx.load_model(a.model, a.precision);
  model->eval();
  for (auto& p : model->parameters()) p.requires_grad_(false);  // the image is optimized, not the weights
  const int64_t size = a.size > 0 ? a.size : model->config().image_resolution;
  fs::create_directories(a.out);

  // What to render: a list of jobs, each one image batch with its objective.
  struct Job {
    Objective objective;
    std::vector<std::pair<std::string, int64_t>> units;  // per image; empty for a free --objective
    int64_t images;
  };
  std::vector<Job> jobs;
  std::optional<FacetProbe> probe;
  if (!a.facet.empty()) probe = load_facet_probe(a.facet);
  const bool facet = probe.has_value();
  std::optional<Objective> extra;
  if (!a.objective.empty()) extra = parse_objective(a.objective, *model);

  if (!a.unit.empty()) {
    const UnitSpec spec = parse_units(a.unit, *model);
    if (facet) {
      // The reference renders one unit per batch of images, the facet term's strength rising across the batch.
      const auto [lo, hi] = parse_pair(a.facet_strength, "--facet-strength");
      for (int64_t unit : spec.units) {
        const Objective target = unit_objective(a, spec.layer, unit, std::nullopt);
        Objective o = target;
        for (size_t l = 0; l < probe->layers.size(); ++l)
          o = o + (5.0 / static_cast<double>(probe->layers.size())) *
                      facet_attribution(target, model->resolve_point(probe->layers[l]), probe->layer_weights(l), lo, hi);
        o = o - a.l2_weight * mean_square(kInputPoint, 0.5);
        if (extra) o = o + *extra;
        jobs.push_back({o, std::vector<std::pair<std::string, int64_t>>(a.facet_batch, {spec.layer, unit}), a.facet_batch});
      }
    } else {
      const size_t per = a.method == "deepdream" ? 1 : static_cast<size_t>(std::max(1, a.batch));
      for (size_t first = 0; first < spec.units.size(); first += per) {
        Job job{{}, {}, 0};
        for (size_t i = first; i < std::min(spec.units.size(), first + per); ++i) {
          const auto b = static_cast<int64_t>(i - first);
          const Objective o = unit_objective(a, spec.layer, spec.units[i], b);
          job.objective = b == 0 ? o : job.objective + o;
          job.units.emplace_back(spec.layer, spec.units[i]);
        }
        job.images = static_cast<int64_t>(job.units.size());
        if (extra) job.objective = job.objective + *extra;
        jobs.push_back(job);
      }
    }
  } else {
    jobs.push_back({*extra, {}, facet ? a.facet_batch : a.images});
  }

  // The method's pieces.
  ParamOptions param;
  param.height = param.width = size;
  param.seed = a.seed;
  param.device = model->device();
  param.sd = a.sd;
  param.decay_power = a.decay_power;
  param.fft = a.param == "fft";
  param.decorrelate = !a.no_decorrelate;
  param.range = a.range == "clamp" ? Range::Clamp : Range::Sigmoid;
  param.grayscale = a.grayscale;
  RenderOptions render_options;
  render_options.steps = a.steps;
  render_options.learning_rate = a.lr > 0 ? a.lr : facet ? 0.02 : 0.05;
  render_options.redirect_relu_steps = a.redirect_relu_steps;
  render_options.seed = a.seed;
  if (!a.thresholds.empty()) render_options.thresholds = parse_ints(a.thresholds, "--thresholds");
  std::string transforms = a.transforms;
  if (a.method == "preimage") {
    // Mahendran and Vedaldi: raw pixels kept in range, natural-image priors, jitter.
    param.fft = false;
    param.decorrelate = false;
    param.range = Range::Clamp;
    if (a.lr <= 0) render_options.learning_rate = 0.01;
    if (transforms.empty()) transforms = "jitter(4)";
    const double pixels = static_cast<double>(size * size * (a.grayscale ? 1 : 3));
    for (auto& job : jobs)
      job.objective = job.objective - (a.alpha_weight / pixels) * alpha_norm(a.alpha) - (a.tv_weight / pixels) * total_variation();
  }
  if (transforms.empty()) transforms = facet ? fmt::format("facet:{}", size) : "standard";
  render_options.transforms = parse_transforms(transforms);

  std::optional<torch::Tensor> init;
  if (!a.init.empty()) {
    const Image image = read_image(a.init);
    init = torch::nn::functional::interpolate(image_to_tensor(image).unsqueeze(0),
                                              torch::nn::functional::InterpolateFuncOptions()
                                                  .size(std::vector<int64_t>{size, size})
                                                  .mode(torch::kBilinear)
                                                  .align_corners(false));
  }

  const int steps_per_job = a.method == "deepdream" ? a.octaves * a.steps : a.steps;
  Progress progress("visualize", static_cast<int64_t>(jobs.size()) * steps_per_job, "steps", !ctx.quiet);
  const nlohmann::json settings = visualize_settings(a);
  const nlohmann::json done = saved_renders(a.out, settings);
  nlohmann::json report = {{"command", ctx.command_line},
                           {"settings", settings},
                           {"complete", false},
                           {"model", a.model},
                           {"method", a.method},
                           {"precision", a.precision},
                           {"size", size},
                           {"seed", a.seed},
                           {"renders", nlohmann::json::array()}};
  if (a.method == "deepdream") {
    report["deepdream"] = {{"octaves", a.octaves}, {"octave_scale", a.octave_scale}, {"steps_per_octave", a.steps},
                           {"step_size", a.step_size}};
  } else {
    report["param"] = param.describe();
    report["transforms"] = describe(render_options.transforms);
    report["steps"] = a.steps;
    report["learning_rate"] = render_options.learning_rate;
    report["redirect_relu_steps"] = a.redirect_relu_steps;
  }
  if (facet) report["facet"] = {{"probe", a.facet}, {"layers", probe->layers}, {"strength", a.facet_strength},
                                {"l2_weight", a.l2_weight}};
  std::vector<plot::Tile> tiles;
  const fs::path report_file = fs::path(a.out) / "visualize.json";
  auto save_report = [&] {
    // Written whole to a temporary file, then renamed: a kill never leaves half a report.
    const fs::path tmp = report_file.string() + ".tmp";
    std::ofstream(tmp) << report.dump(2) << "\n";
    fs::rename(tmp, report_file);
  };
  if (!done.empty() && !ctx.quiet)
    fmt::print(stderr, "resuming: {} of {} renders already saved in {}\n", std::min(done.size(), jobs.size()), jobs.size(),
               a.out);
  for (size_t j = 0; j < jobs.size(); ++j) {
    const Job& job = jobs[j];
    if (j < done.size()) {
      // Saved by the interrupted run (same settings, same per-render seed): reuse it.
      for (const auto& image : done[j]["images"]) {
        const std::string caption = image.contains("unit") ? fmt::format("{} {}\n{:.3g}", image["layer"].get<std::string>(),
                                                                       image["unit"].get<int64_t>(),
                                                                       image["activation"].get<double>())
                                                          : image["file"].get<std::string>();
        tiles.push_back({read_image(fs::path(a.out) / image["file"].get<std::string>()), caption, std::nullopt});
      }
      report["renders"].push_back(done[j]);
      progress.add(steps_per_job);
      continue;
    }
    std::vector<Snapshot> snapshots;
    if (a.method == "deepdream") {
      DeepDreamOptions dd;
      dd.octaves = a.octaves;
      dd.octave_scale = a.octave_scale;
      dd.steps_per_octave = a.steps;
      dd.step_size = a.step_size;
      dd.seed = a.seed + j;
      dd.on_step = [&](int, int, double) { progress.add(1); };
      torch::Tensor start;
      if (init) start = init->expand({job.images, 3, size, size}).clone();
      else {
        auto gen = at::make_generator<at::CPUGeneratorImpl>(a.seed + j);
        start = (0.5 + 0.05 * torch::randn({job.images, 3, size, size}, gen)).clamp(0, 1);
      }
      const torch::Tensor images = deep_dream(model, job.objective, start, dd);
      snapshots.push_back({steps_per_job, images, evaluate(model, job.objective, images)});
    } else {
      param.batch = job.images;
      param.seed = a.seed + j;
      auto image_param = make_image_param(param);
      render_options.seed = a.seed + j;
      render_options.on_step = [&](int, double) { progress.add(1); };
      snapshots = render(model, job.objective, *image_param, render_options);
    }
    nlohmann::json entry = {{"objective", job.objective.description}, {"images", nlohmann::json::array()}};
    const Snapshot& last = snapshots.back();
    entry["objective_value"] = evaluate(model, job.objective, last.images);
    for (int64_t i = 0; i < job.images; ++i) {
      std::string stem = job.units.empty() ? fmt::format("objective_{}", j) : file_stem(job.units[i].first, job.units[i].second);
      if (job.images > 1 && (job.units.empty() || facet)) stem += fmt::format("_{}", i);
      nlohmann::json image = {{"file", stem + ".png"}};
      for (const Snapshot& s : snapshots) {
        const fs::path file = fs::path(a.out) / (s.step == last.step ? stem + ".png" : fmt::format("{}_step{}.png", stem, s.step));
        write_png(file, tensor_to_image(s.images[i]));
        if (s.step != last.step) image["thresholds"][std::to_string(s.step)] = file.filename().string();
      }
      std::string caption = stem;
      if (!job.units.empty()) {
        const auto& [layer, unit] = job.units[i];
        // What the final image does to the unit, without transforms.
        const double act = evaluate(model, channel(layer, unit, i), last.images);
        image["layer"] = layer;
        image["unit"] = unit;
        image["activation"] = act;
        caption = fmt::format("{} {}\n{:.3g}", layer, unit, act);
      }
      entry["images"].push_back(image);
      tiles.push_back({tensor_to_image(last.images[i]), caption, std::nullopt});
    }
    report["renders"].push_back(entry);
    save_report();
    if (a.stop_after_renders > 0 && static_cast<int>(j + 1) >= a.stop_after_renders) std::_Exit(3);
  }
  progress.finish();
  plot::write_contact_sheet(fs::path(a.out) / "grid.png", tiles, std::min<int>(8, static_cast<int>(tiles.size())), 160,
                            a.unit.empty() ? a.objective : a.unit);
  report["complete"] = true;
  save_report();
  fmt::print("wrote {} image(s), grid.png and visualize.json to {}\n", tiles.size(), a.out);
}

void add_visualize(CLI::App& app, Context& ctx) {
  auto a = std::make_shared<VisualizeArgs>();
  auto* cmd = app.add_subcommand("visualize", "Feature visualization: images optimized to make units fire");
  add_model_option(*cmd, a->model);
  cmd->add_option("--precision", a->precision, "exact, fp32 (batch norms folded) or bf16 (gradients in bf16: check the objective reached)")
      ->default_val("fp32");
  cmd->add_option("-u,--unit", a->unit, "LAYER:INDEX[,INDEX...]: one image per unit, e.g. visual.layer4:12,40");
  cmd->add_flag("--neuron", a->neuron, "Maximize the unit at the centre position only (lucid's neuron) instead of its mean");
  cmd->add_option("--objective", a->objective,
                  "Objective expression, added to the units' (or alone without --unit), e.g. "
                  "\"channel(visual.layer4, 12) - 100 * diversity(visual.layer3) - 0.05 * tv()\"");
  cmd->add_option("-o,--out", a->out, "Output folder (PNG per unit, grid.png, visualize.json)")->required();
  cmd->add_option("--method", a->method, "lucid (Fourier, decorrelated, standard transforms), preimage (pixels, "
                                         "alpha-norm + total variation, jitter) or deepdream (octaves)")
      ->default_val("lucid");
  cmd->add_option("--steps", a->steps, "Optimization steps (Deep Dream: per octave)")->default_val(512)->check(CLI::PositiveNumber);
  cmd->add_option("--size", a->size, "Image side in pixels (default: the model's input resolution)");
  cmd->add_option("--batch", a->batch, "Units rendered together, one image each (Microscope: 32)")->default_val(8)->check(CLI::PositiveNumber);
  cmd->add_option("--images", a->images, "Images rendered for an --objective without --unit (e.g. with a diversity term)")
      ->default_val(1)
      ->check(CLI::PositiveNumber);
  cmd->add_option("--lr", a->lr, "Adam learning rate (default 0.05; facets 0.02; preimage 0.01)");
  cmd->add_option("--thresholds", a->thresholds, "Also save the images after these steps, e.g. 32,128");
  cmd->add_option("--seed", a->seed, "Seed of the initial image and the transforms")->default_val(0);
  cmd->add_option("--param", a->param, "Image parameterization")->default_val("fft")->check(CLI::IsMember({"fft", "pixel"}));
  cmd->add_option("--sd", a->sd, "Standard deviation of the initial values")->default_val(0.01);
  cmd->add_option("--decay-power", a->decay_power, "Fourier spectrum decay")->default_val(1);
  cmd->add_flag("--no-decorrelate", a->no_decorrelate, "Optimize plain RGB instead of lucid's decorrelated colours");
  cmd->add_option("--range", a->range, "How values become [0, 1]")->default_val("sigmoid")->check(CLI::IsMember({"sigmoid", "clamp"}));
  cmd->add_option("--transforms", a->transforms,
                  "standard (lucid), facet:SIZE, none, or a list: pad(12,0.5),jitter(8),scale(0.9,1.1),rotate(-5,5),"
                  "jitter(4),crop(224,224)");
  cmd->add_option("--redirect-relu-steps", a->redirect_relu_steps, "Steps with redirected ReLU gradients")->default_val(16);
  cmd->add_flag("--grayscale", a->grayscale, "One grey channel (the preimage variant's option)");
  cmd->add_option("--alpha", a->alpha, "preimage: the alpha of the alpha-norm")->default_val(6);
  cmd->add_option("--alpha-weight", a->alpha_weight, "preimage: alpha-norm weight (per pixel value)")->default_val(1e-3);
  cmd->add_option("--tv-weight", a->tv_weight, "preimage: total-variation weight (per pixel value)")->default_val(0.05);
  cmd->add_option("--init", a->init, "deepdream: start from this image (default: grey with a little noise)");
  cmd->add_option("--octaves", a->octaves, "deepdream: octaves")->default_val(4)->check(CLI::PositiveNumber);
  cmd->add_option("--octave-scale", a->octave_scale, "deepdream: size ratio between octaves")->default_val(1.4);
  cmd->add_option("--step-size", a->step_size, "deepdream: step per iteration, on the normalized gradient")->default_val(0.01);
  cmd->add_option("--facet", a->facet, "Faceted visualization with this probe (from facet-probe)");
  cmd->add_option("--facet-strength", a->facet_strength, "Facet term weight from the first to the last image of the batch")
      ->default_val("0.1,5");
  cmd->add_option("--facet-batch", a->facet_batch, "Images per unit with --facet")->default_val(9)->check(CLI::PositiveNumber);
  cmd->add_option("--l2-weight", a->l2_weight, "Facets: weight of the mean squared distance from grey")->default_val(10);
  cmd->add_option("--stop-after-renders", a->stop_after_renders, "Testing: exit abruptly after N saved renders")
      ->group("");  // hidden
  cmd->callback([&ctx, a] { run_visualize(ctx, *a); });
}

void add_facet_probe(CLI::App& app, Context& ctx) {
  struct Args {
    std::string model, precision, facet, generic, out, layers;
    int batch_size = 32, max_iterations = 500;
    double l2 = 1e-3, holdout = 0.2;
    uint64_t seed = 0;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("facet-probe", "Fit a facet probe (facet images vs generic images) for visualize --facet");
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
  cmd->add_option("-b,--batch-size", a->batch_size, "Images per forward pass")->default_val(32)->check(CLI::PositiveNumber);
  cmd->callback([&ctx, a] {
    CLIP model = ctx.load_model(a->model, a->precision);
    std::vector<std::string> layers;
    if (a->layers.empty()) layers = default_facet_layers(model);
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
    fmt::print("probe on {} ({} units): {} facet vs {} generic images ({} skipped); balanced accuracy {:.3f} train, {:.3f} "
               "held out\nwrote {} and {}\n",
               fmt::join(layers, ", "), probe.weights.numel(), probe.facet_images, probe.generic_images,
               probe.skipped_images, probe.train_accuracy, probe.holdout_accuracy, a->out,
               facet_probe_json_path(a->out).string());
  });
}

}  // namespace

void add_optvis_commands(CLI::App& app, Context& ctx) {
  add_visualize(app, ctx);
  add_facet_probe(app, ctx);
}

}  // namespace clipscope::cli
