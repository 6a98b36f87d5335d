#include "optvis/visualize.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <optional>

#include "core/image/image.h"
#include "core/model/point_names.h"
#include "core/model/tensor_io.h"
#include "core/util/crash.h"
#include "core/util/error.h"
#include "core/util/files.h"
#include "core/util/index_list.h"
#include "core/util/progress.h"
#include "core/util/strings.h"
#include "optvis/deepdream.h"
#include "optvis/facet_probe.h"
#include "optvis/objectives.h"
#include "optvis/param.h"
#include "optvis/render.h"
#include "optvis/transforms.h"
#include "plot/sheet.h"

namespace clipscope::optvis {

namespace fs = std::filesystem;
using json = nlohmann::json;

Method parse_method(const std::string& name) {
  if (name == "lucid") return Method::Lucid;
  if (name == "preimage") return Method::Preimage;
  if (name == "deepdream") return Method::DeepDream;
  throw ArgumentError("method", name, "expected lucid, preimage or deepdream");
}

std::string method_name(Method method) {
  switch (method) {
    case Method::Lucid:
      return "lucid";
    case Method::Preimage:
      return "preimage";
    case Method::DeepDream:
      return "deepdream";
  }
  return "?";
}

json visualize_settings(const VisualizeOptions& o) {
  return {{"model", o.model},
          {"precision", o.precision},
          {"unit", o.unit},
          {"objective", o.objective},
          {"neuron", o.neuron},
          {"method", method_name(o.method)},
          {"param", o.param},
          {"range", o.range},
          {"transforms", o.transforms},
          {"thresholds", o.thresholds},
          {"facet", o.facet},
          {"facet_strength", o.facet_strength},
          {"facet_batch", o.facet_batch},
          {"init", o.init},
          {"steps", o.steps},
          {"size", o.size},
          {"batch", o.batch},
          {"images", o.images},
          {"redirect_relu_steps", o.redirect_relu_steps},
          {"octaves", o.octaves},
          {"lr", o.lr},
          {"sd", o.sd},
          {"decay_power", o.decay_power},
          {"alpha", o.alpha},
          {"alpha_weight", o.alpha_weight},
          {"tv_weight", o.tv_weight},
          {"l2_weight", o.l2_weight},
          {"octave_scale", o.octave_scale},
          {"step_size", o.step_size},
          {"seed", o.seed},
          {"no_decorrelate", o.no_decorrelate},
          {"grayscale", o.grayscale}};
}

namespace {

struct UnitSpec {
  std::string layer;  // canonical
  std::vector<int64_t> units;
};

// "visual.layer4:12", "visual.layer4:12,40,7" or "visual.layer4:0-9" (core/util/index_list.h).
UnitSpec parse_units(const std::string& text_in, const CLIPImpl& model) {
  const auto followup = split_followup_unit(text_in);  // 4/2/6/34
  const std::string text = followup ? followup->first + ":" + followup->second : text_in;
  const auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size())
    throw ArgumentError("unit", text, "expected LAYER:INDEX[,INDEX...], e.g. visual.layer4:12");
  UnitSpec spec{model.resolve_point(text.substr(0, colon)), {}};
  const int64_t units = model.point(spec.layer).channels;
  spec.units = parse_index_list(std::string_view(text).substr(colon + 1), units, "unit",
                                fmt::format("{} ({} units)", spec.layer, units));
  return spec;
}

std::vector<int> parse_thresholds(const std::string& text) {
  std::vector<int> out;
  for (const auto& item : split(text, ',')) {
    const auto v = to_number<int>(item);
    if (!v) throw ArgumentError("thresholds", text, fmt::format("'{}' is not an integer", item));
    out.push_back(*v);
  }
  return out;
}

std::pair<double, double> parse_strength(const std::string& text) {
  const auto parts = split(text, ',');
  const auto lo = parts.size() == 2 ? to_number<double>(trim(parts[0])) : std::nullopt;
  const auto hi = parts.size() == 2 ? to_number<double>(trim(parts[1])) : std::nullopt;
  if (!lo || !hi) throw ArgumentError("facet_strength", text, "expected two numbers LO,HI");
  return {*lo, *hi};
}

std::string file_stem(const std::string& layer, int64_t unit) { return fmt::format("{}_{}", layer, unit); }

// The renders already saved in `out` by an interrupted run with the same settings
// (none for a new folder); ArgumentError when the folder holds another visualization.
json saved_renders(const fs::path& out, const json& settings) {
  const fs::path file = out / "visualize.json";
  if (!fs::exists(file)) return json::array();
  json saved;
  try {
    std::ifstream in(file);
    saved = json::parse(in);
  } catch (const std::exception&) {
    throw ArgumentError("out", out.string(), "holds a visualize.json that is not JSON; use another folder");
  }
  if (!saved.is_object() || !saved.contains("settings") || !saved.contains("renders"))
    throw ArgumentError("out", out.string(),
                        "holds a visualize.json not written by clipscope visualize; use another folder");
  for (const auto& [key, value] : settings.items())
    if (saved["settings"].value(key, json()) != value)
      throw ArgumentError(
          "out", out.string(),
          fmt::format("holds a visualization with other settings ({}: {} there, {} now); use another folder", key,
                      saved["settings"].value(key, json()).dump(), value.dump()));
  return saved["renders"];
}

// One unit's objective in image `batch` of a render.
Objective unit_objective(const VisualizeOptions& o, const std::string& layer, int64_t unit,
                         std::optional<int64_t> batch) {
  return o.neuron ? neuron(layer, unit, std::nullopt, std::nullopt, batch) : channel(layer, unit, batch);
}

void check(const VisualizeOptions& o) {
  if (o.unit.empty() && o.objective.empty())
    throw ArgumentError("unit", "", "give units (LAYER:INDEX[,INDEX...]) or an objective expression");
  if (!o.facet.empty() && o.method != Method::Lucid)
    throw ArgumentError("facet", o.facet, "works with method lucid only");
  if (!o.facet.empty() && o.unit.empty())
    throw ArgumentError("facet", o.facet, "needs a unit: the facet is shown for a unit");
  if (!o.init.empty() && o.method != Method::DeepDream)
    throw ArgumentError("init", o.init, "works with method deepdream only");
  if (o.grayscale && o.method == Method::DeepDream)
    throw ArgumentError("grayscale", "", "does not apply to method deepdream");
  for (const auto& [name, value] : {std::pair{"steps", o.steps},
                                    {"batch", o.batch},
                                    {"images", o.images},
                                    {"octaves", o.octaves},
                                    {"facet_batch", o.facet_batch}})
    if (value < 1) throw ArgumentError(name, std::to_string(value), "must be positive");
  if (o.param != "fft" && o.param != "pixel") throw ArgumentError("param", o.param, "expected fft or pixel");
  if (o.range != "sigmoid" && o.range != "clamp") throw ArgumentError("range", o.range, "expected sigmoid or clamp");
}

// What to render: a list of jobs, each one image batch with its objective.
struct Job {
  Objective objective;
  std::vector<std::pair<std::string, int64_t>> units;  // per image; empty for a free objective
  int64_t images;
};

std::vector<Job> plan_jobs(const CLIPImpl& model, const VisualizeOptions& o, const std::optional<FacetProbe>& probe) {
  std::vector<Job> jobs;
  std::optional<Objective> extra;
  if (!o.objective.empty()) extra = parse_objective(o.objective, model);
  if (o.unit.empty()) {
    jobs.push_back({*extra, {}, probe ? o.facet_batch : o.images});
    return jobs;
  }
  const UnitSpec spec = parse_units(o.unit, model);
  if (probe) {
    // The reference renders one unit per batch of images, the facet term's strength rising across the batch.
    const auto [lo, hi] = parse_strength(o.facet_strength);
    for (int64_t unit : spec.units) {
      const Objective target = unit_objective(o, spec.layer, unit, std::nullopt);
      Objective objective = target;
      for (size_t l = 0; l < probe->layers.size(); ++l)
        objective = objective + (5.0 / static_cast<double>(probe->layers.size())) *
                                    facet_attribution(target, model.resolve_point(probe->layers[l]),
                                                      probe->layer_weights(l), lo, hi);
      objective = objective - o.l2_weight * mean_square(kInputPoint, 0.5);
      if (extra) objective = objective + *extra;
      jobs.push_back(
          {objective, std::vector<std::pair<std::string, int64_t>>(o.facet_batch, {spec.layer, unit}), o.facet_batch});
    }
    return jobs;
  }
  const size_t per = o.method == Method::DeepDream ? 1 : static_cast<size_t>(o.batch);
  for (size_t first = 0; first < spec.units.size(); first += per) {
    Job job{{}, {}, 0};
    for (size_t i = first; i < std::min(spec.units.size(), first + per); ++i) {
      const auto b = static_cast<int64_t>(i - first);
      const Objective objective = unit_objective(o, spec.layer, spec.units[i], b);
      job.objective = b == 0 ? objective : job.objective + objective;
      job.units.emplace_back(spec.layer, spec.units[i]);
    }
    job.images = static_cast<int64_t>(job.units.size());
    if (extra) job.objective = job.objective + *extra;
    jobs.push_back(job);
  }
  return jobs;
}

std::string caption_of(const json& image) {
  return image.contains("unit") ? fmt::format("{} {}\n{:.3g}", image["layer"].get<std::string>(),
                                              image["unit"].get<int64_t>(), image["activation"].get<double>())
                                : image["file"].get<std::string>();
}

// The method's pieces: the image parameterization and the optimization loop's options
// (lucid's defaults, or the preimage's, whose priors are added to every job).
struct Recipe {
  ParamOptions param;
  RenderOptions render;
};
Recipe method_recipe(const CLIPImpl& model, const VisualizeOptions& o, int64_t size, bool facet,
                     std::vector<Job>& jobs) {
  Recipe r;
  r.param.height = r.param.width = size;
  r.param.seed = o.seed;
  r.param.device = model.device();
  r.param.sd = o.sd;
  r.param.decay_power = o.decay_power;
  r.param.fft = o.param == "fft";
  r.param.decorrelate = !o.no_decorrelate;
  r.param.range = o.range == "clamp" ? Range::Clamp : Range::Sigmoid;
  r.param.grayscale = o.grayscale;
  r.render.steps = o.steps;
  r.render.learning_rate = o.lr > 0 ? o.lr : facet ? 0.02 : 0.05;
  r.render.redirect_relu_steps = o.redirect_relu_steps;
  r.render.seed = o.seed;
  if (!o.thresholds.empty()) r.render.thresholds = parse_thresholds(o.thresholds);
  std::string transforms = o.transforms;
  if (o.method == Method::Preimage) {
    // Mahendran and Vedaldi: raw pixels kept in range, natural-image priors, jitter.
    r.param.fft = false;
    r.param.decorrelate = false;
    r.param.range = Range::Clamp;
    if (o.lr <= 0) r.render.learning_rate = 0.01;
    if (transforms.empty()) transforms = "jitter(4)";
    const double pixels = static_cast<double>(size * size * (o.grayscale ? 1 : 3));
    for (auto& job : jobs)
      job.objective =
          job.objective - (o.alpha_weight / pixels) * alpha_norm(o.alpha) - (o.tv_weight / pixels) * total_variation();
  }
  if (transforms.empty()) transforms = facet ? fmt::format("facet:{}", size) : "standard";
  r.render.transforms = parse_transforms(transforms);
  return r;
}

// Deep Dream's starting image, resized to the render's size (none: noise).
std::optional<torch::Tensor> load_init(const VisualizeOptions& o, int64_t size) {
  if (o.init.empty()) return std::nullopt;
  const Image image = read_image(o.init);
  return torch::nn::functional::interpolate(image_to_tensor(image).unsqueeze(0),
                                            torch::nn::functional::InterpolateFuncOptions()
                                                .size(std::vector<int64_t>{size, size})
                                                .mode(torch::kBilinear)
                                                .align_corners(false));
}

// visualize.json before any render: the settings (the resume check) and the recipe.
json start_report(const VisualizeOptions& o, int64_t size, const Recipe& r, const std::optional<FacetProbe>& probe) {
  json report = {{"command", o.command},
                 {"settings", visualize_settings(o)},
                 {"complete", false},
                 {"model", o.model},
                 {"method", method_name(o.method)},
                 {"precision", o.precision},
                 {"size", size},
                 {"seed", o.seed},
                 {"renders", json::array()}};
  if (o.method == Method::DeepDream) {
    report["deepdream"] = {{"octaves", o.octaves},
                           {"octave_scale", o.octave_scale},
                           {"steps_per_octave", o.steps},
                           {"step_size", o.step_size}};
  } else {
    report["param"] = r.param.describe();
    report["transforms"] = describe(r.render.transforms);
    report["steps"] = o.steps;
    report["learning_rate"] = r.render.learning_rate;
    report["redirect_relu_steps"] = o.redirect_relu_steps;
  }
  if (probe)
    report["facet"] = {
        {"probe", o.facet}, {"layers", probe->layers}, {"strength", o.facet_strength}, {"l2_weight", o.l2_weight}};
  return report;
}

// Job j's images (and threshold snapshots): Deep Dream from `init` or noise, else the
// optimization loop; each with the job's own seed, so that a resumed run matches.
std::vector<Snapshot> run_job(CLIP& model, const VisualizeOptions& o, const Job& job, size_t j, Recipe& r,
                              const std::optional<torch::Tensor>& init, int64_t size,
                              const std::function<void()>& step) {
  if (o.method == Method::DeepDream) {
    DeepDreamOptions dd;
    dd.octaves = o.octaves;
    dd.octave_scale = o.octave_scale;
    dd.steps_per_octave = o.steps;
    dd.step_size = o.step_size;
    dd.seed = o.seed + j;
    dd.on_step = [&](int, int, double) { step(); };
    torch::Tensor start;
    if (init)
      start = init->expand({job.images, 3, size, size}).clone();
    else {
      auto gen = at::make_generator<at::CPUGeneratorImpl>(o.seed + j);
      start = (0.5 + 0.05 * torch::randn({job.images, 3, size, size}, gen)).clamp(0, 1);
    }
    const torch::Tensor images = deep_dream(model, job.objective, start, dd);
    return {{static_cast<int>(o.octaves * o.steps), images, evaluate(model, job.objective, images)}};
  }
  r.param.batch = job.images;
  r.param.seed = o.seed + j;
  auto image_param = make_image_param(r.param);
  r.render.seed = o.seed + j;
  r.render.on_step = [&](int, double) { step(); };
  return render(model, job.objective, *image_param, r.render);
}

// Writes job j's PNGs; returns its visualize.json entry and adds its tiles to the grid.
json save_job(CLIP& model, const Job& job, size_t j, const std::vector<Snapshot>& snapshots, bool facet,
              const fs::path& out, std::vector<plot::Tile>& tiles) {
  json entry = {{"objective", job.objective.description}, {"images", json::array()}};
  const Snapshot& last = snapshots.back();
  entry["objective_value"] = evaluate(model, job.objective, last.images);
  for (int64_t i = 0; i < job.images; ++i) {
    std::string stem =
        job.units.empty() ? fmt::format("objective_{}", j) : file_stem(job.units[i].first, job.units[i].second);
    if (job.images > 1 && (job.units.empty() || facet)) stem += fmt::format("_{}", i);
    json image = {{"file", stem + ".png"}};
    for (const Snapshot& s : snapshots) {
      const fs::path file = out / (s.step == last.step ? stem + ".png" : fmt::format("{}_step{}.png", stem, s.step));
      write_png(file, tensor_to_image(s.images[i]));
      if (s.step != last.step) image["thresholds"][std::to_string(s.step)] = file.filename().string();
    }
    if (!job.units.empty()) {
      const auto& [layer, unit] = job.units[i];
      // What the final image does to the unit, without transforms.
      image["layer"] = layer;
      image["unit"] = unit;
      image["activation"] = evaluate(model, channel(layer, unit, i), last.images);
    }
    entry["images"].push_back(image);
    tiles.push_back({tensor_to_image(last.images[i]), job.units.empty() ? stem : caption_of(image), std::nullopt});
  }
  return entry;
}

}  // namespace

VisualizeResult visualize(CLIP& model, const VisualizeOptions& o, const fs::path& out) {
  check(o);
  model->eval();
  for (auto& p : model->parameters()) p.requires_grad_(false);  // the image is optimized, not the weights
  const int64_t size = o.size > 0 ? o.size : model->config().image_resolution;
  std::optional<FacetProbe> probe;
  if (!o.facet.empty()) probe = load_facet_probe(o.facet);
  std::vector<Job> jobs = plan_jobs(*model, o, probe);
  Recipe recipe = method_recipe(*model, o, size, probe.has_value(), jobs);
  const std::optional<torch::Tensor> init = load_init(o, size);

  std::error_code ec;
  fs::create_directories(out, ec);
  if (ec) throw ArgumentError("out", out.string(), fmt::format("cannot create the folder ({})", ec.message()));
  const json done = saved_renders(out, visualize_settings(o));
  json report = start_report(o, size, recipe, probe);

  VisualizeResult result;
  result.report = out / "visualize.json";
  result.renders = jobs.size();
  result.resumed = std::min(done.size(), jobs.size());
  const int64_t steps_per_job = o.method == Method::DeepDream ? o.octaves * o.steps : o.steps;
  const int64_t total_steps = static_cast<int64_t>(jobs.size()) * steps_per_job;
  Progress progress("visualize", total_steps, "steps", o.progress);
  int64_t steps_done = static_cast<int64_t>(result.resumed) * steps_per_job;
  progress.resume_at(steps_done);
  const std::function<void()> step = [&] {
    progress.add(1);
    if (o.on_step) o.on_step(++steps_done, total_steps);
  };
  if (result.resumed > 0 && o.progress)
    fmt::print(stderr, "resuming: {} of {} renders already saved in {}\n", result.resumed, jobs.size(), out.string());

  std::vector<plot::Tile> tiles;
  for (size_t j = 0; j < jobs.size(); ++j) {
    if (j < done.size()) {
      // Saved by the interrupted run (same settings, same per-render seed): reuse it.
      for (const auto& image : done[j]["images"])
        tiles.push_back({read_image(out / image["file"].get<std::string>()), caption_of(image), std::nullopt});
      report["renders"].push_back(done[j]);
      continue;
    }
    const auto snapshots = run_job(model, o, jobs[j], j, recipe, init, size, step);
    report["renders"].push_back(save_job(model, jobs[j], j, snapshots, probe.has_value(), out, tiles));
    // Written whole to a temporary file, then renamed: a kill never leaves half a report.
    write_file_atomically(result.report, report.dump(2) + "\n");
    crash_point(static_cast<int64_t>(j + 1), o.crash_after);
  }
  progress.finish();
  plot::write_contact_sheet(out / "grid.png", tiles, std::min<int>(8, static_cast<int>(tiles.size())), 160,
                            o.unit.empty() ? o.objective : o.unit);
  report["complete"] = true;
  write_file_atomically(result.report, report.dump(2) + "\n");
  result.images = static_cast<int64_t>(tiles.size());
  return result;
}

}  // namespace clipscope::optvis
