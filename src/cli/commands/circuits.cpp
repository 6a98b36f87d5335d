// clipscope expanded-weights, residual-share, contributions: the circuits follow-up's tools.
#include <fmt/format.h>

#include <functional>
#include <map>
#include <optional>

#include "atlas/atlas.h"
#include "circuits/contributions.h"
#include "circuits/expanded_weights.h"
#include "circuits/residual_share.h"
#include "cli/context.h"
#include "core/image/stream.h"
#include "core/model/point_names.h"
#include "core/util/error.h"
#include "core/util/index_list.h"
#include "core/util/strings.h"
#include "serve/visualizations.h"

namespace fs = std::filesystem;

namespace clipscope::cli {

namespace {

// "visual.layer4.2:34" or the follow-up's "4/2/6/34" -> (point, unit).
std::pair<std::string, int64_t> parse_unit_name(const std::string& text, const std::string& parameter) {
  if (const auto f = split_followup_unit(text)) return {f->first, parse_number<int64_t>(f->second, parameter)};
  const auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size())
    throw ArgumentError(parameter, text,
                        "expected LAYER:UNIT (e.g. visual.layer4.2:34) or STAGE/BLOCK/6/UNIT (4/2/6/34)");
  return {text.substr(0, colon), parse_number<int64_t>(text.substr(colon + 1), parameter)};
}

// Every feature visualization below `dir` (clipscope visualize's visualize.json files), its
// layer named by `canonical` (nullopt: a render of a layer the caller does not read).
void scan_renders(serve::VisualizationIndex& index, const std::string& dir,
                  const std::function<std::string(const std::string&)>& canonical) {
  index.scan(dir, [&](const std::string& name) -> std::optional<std::string> {
    try {
      return canonical(name);
    } catch (const Error&) {
      return std::nullopt;
    }
  });
}

// The files of a unit's plain (channel) renders.
std::vector<fs::path> unit_renders(const serve::VisualizationIndex& index, const std::string& layer, int64_t unit) {
  std::vector<fs::path> out;
  for (const auto& v : index.for_unit(layer, unit))
    if (v.kind == "channel") out.push_back(v.file);
  return out;
}

// "visual.layer4.2:34", "visual.layer4.2:0-63", "4/2/6/all" -> (point, the unit list as typed).
std::pair<std::string, std::string> split_unit_list(const std::string& text, const std::string& parameter) {
  if (const auto f = split_followup_unit(text)) return *f;
  const auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size())
    throw ArgumentError(parameter, text,
                        "expected LAYER:UNITS (visual.layer4.2:34, visual.layer4.2:0-63, visual.layer4.2:all) or "
                        "STAGE/BLOCK/6/UNITS (4/2/6/34)");
  return {text.substr(0, colon), text.substr(colon + 1)};
}

void add_expanded_weights_command(CLI::App& app, Context& ctx) {
  struct Args {
    std::string model, precision = "exact", from, to, rank = "l2", out;
    int top = 16, batch = 64;
    bool json = false;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("expanded-weights",
                                 "The effective kernel from every unit of an earlier point to units of a later one, "
                                 "ReLUs in between taken as the identity (ResNets)");
  add_model_option(*cmd, a->model);
  cmd->add_option("--from", a->from, "The earlier point (visual.layer4.1, 4/1/6, ...)")->required();
  cmd->add_option("--to", a->to,
                  "The later units: LAYER:UNIT (visual.layer4.2:34, 4/2/6/34), a list or range (:0-63) or all "
                  "(:all)")
      ->required();
  cmd->add_option("--rank", a->rank, "Rank input units by the kernel's l2 norm, max or mean")->capture_default_str();
  cmd->add_option("--top", a->top, "Input units listed per unit (and drawn in kernels.png for one unit)")
      ->capture_default_str();
  cmd->add_option("--batch", a->batch, "Units per backward pass")->capture_default_str();
  cmd->add_option("-o,--out", a->out,
                  "Write weights.npy with ranking.csv and kernels.png (one unit), or with units.csv and "
                  "strongest.csv (several), into this folder");
  cmd->add_flag("--json", a->json, "Print JSON instead of the table");
  cmd->callback([&ctx, a] {
    if (a->top < 1) throw ArgumentError("top", std::to_string(a->top), "must be positive");
    const auto rank = circuits::parse_rank(a->rank);
    const auto [to, list] = split_unit_list(a->to, "to");
    CLIP model = ctx.load_model(a->model, a->precision);
    const std::string canonical = model->resolve_point(to);
    const int64_t channels = model->point(canonical).channels;
    std::vector<int64_t> units;
    try {
      units = parse_index_list(list, channels, "unit", fmt::format("{} ({} units)", canonical, channels));
    } catch (const ArgumentError& e) {
      throw ArgumentError("to", a->to, e.problem());
    }
    if (units.size() > 1) {
      circuits::ExpandedKernelOptions o;
      o.batch = a->batch;
      o.progress = !ctx.quiet;
      const auto k = circuits::expanded_kernels(model, a->from, to, units, o);
      if (!a->out.empty()) circuits::write_expanded_kernels(k, a->out, rank, a->top);
      nlohmann::json strongest = nlohmann::json::array();
      for (const auto& c : circuits::strongest_connections(k, rank, a->top))
        strongest.push_back({{"unit", c.unit}, {"input", c.input}, {"score", c.score}});
      if (a->json) {
        const nlohmann::json j = {{"from", k.from},
                                  {"to", k.to},
                                  {"units", k.units.size()},
                                  {"shape", k.weights.sizes().vec()},
                                  {"window", {k.window_y, k.window_x, k.window_height, k.window_width}},
                                  {"seconds", k.seconds},
                                  {"rank", rank_name(rank)},
                                  {"strongest", strongest}};
        fmt::print("{}\n", j.dump(2));
        return;
      }
      fmt::print(
          "expanded weights {} -> {}: {} units x {} inputs (cell {},{}; kernels {}x{}, computed on a {}x{} window; "
          "ReLUs linear; {:.1f} s)\n",
          k.from, k.to, k.units.size(), k.weights.size(1), k.cy, k.cx, k.weights.size(2), k.weights.size(3),
          k.window_height, k.window_width, k.seconds);
      fmt::print("strongest connections by {}:\n{:>4}  {:>6}  {:>6}  {:>10}\n", rank_name(rank), "rank", "unit",
                 "input", "score");
      int i = 0;
      for (const auto& c : strongest)
        fmt::print("{:>4}  {:>6}  {:>6}  {:>10.4g}\n", ++i, c["unit"].get<int64_t>(), c["input"].get<int64_t>(),
                   c["score"].get<double>());
      return;
    }
    const auto w = circuits::expanded_weights(model, a->from, to, units.at(0), rank);
    if (!a->out.empty()) circuits::write_expanded_weights(w, a->out, a->top);
    const auto j = w.to_json(a->top);
    if (a->json) {
      fmt::print("{}\n", j.dump(2));
      return;
    }
    fmt::print("expanded weights {} -> {}:{} (cell {},{}; kernels {}x{}; ReLUs linear), by {}\n", w.from, w.to, w.unit,
               w.cy, w.cx, w.weights.size(1), w.weights.size(2), rank_name(rank));
    fmt::print("{:>4}  {:>6}  {:>10}  {:>10}  {:>10}  {:>10}\n", "rank", "unit", "score", "l2", "max", "mean");
    int i = 0;
    for (const auto& u : j["units"])
      fmt::print("{:>4}  {:>6}  {:>10.4g}  {:>10.4g}  {:>10.4g}  {:>10.4g}\n", ++i, u["unit"].get<int64_t>(),
                 u["score"].get<double>(), u["l2"].get<double>(), u["max"].get<double>(), u["mean"].get<double>());
  });
}

void add_residual_share_command(CLI::App& app, Context& ctx) {
  struct Args {
    std::string model, precision = "exact", block, atlas, vis, out;
    std::vector<std::string> images;
    int k = 10, batch = 32;
    bool json = false;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("residual-share",
                                 "How much of each bottleneck unit's value comes through the shortcut rather than "
                                 "the convolutional branch");
  add_model_option(*cmd, a->model);
  add_precision_option(*cmd, a->precision);
  cmd->add_option("--block", a->block, "A bottleneck (visual.layer4.2, 4/2/6) or a stage (its last bottleneck)")
      ->required();
  auto* images = cmd->add_option("--images", a->images, "Image files, folders or lists: every unit on every image");
  auto* atlas = cmd->add_option("-a,--atlas", a->atlas, "An atlas of the model: each unit on its own top examples");
  auto* vis = cmd->add_option("--vis", a->vis,
                              "A folder of feature visualizations (clipscope visualize's output, searched for "
                              "visualize.json): each unit on its own renders");
  images->excludes(atlas)->excludes(vis);
  atlas->excludes(vis);
  cmd->add_option("-k,--k", a->k, "With --atlas: top examples per unit")->capture_default_str();
  cmd->add_option("--batch", a->batch, "Images per forward pass")->capture_default_str();
  cmd->add_option("-o,--out", a->out, "Write shares.csv and shares.png (the histogram) into this folder");
  cmd->add_flag("--json", a->json, "Print JSON instead of the summary");
  cmd->callback([&ctx, a] {
    if (a->images.empty() && a->atlas.empty() && a->vis.empty())
      throw ArgumentError("images", "", "give --images, --atlas or --vis");
    if (a->k < 1) throw ArgumentError("k", std::to_string(a->k), "must be positive");
    if (a->batch < 1) throw ArgumentError("batch", std::to_string(a->batch), "must be positive");
    auto [model, identity] = ctx.load_identified_model(a->model, a->precision);
    const std::string block = circuits::bottleneck_of(*model, a->block);
    std::vector<fs::path> paths;
    std::vector<std::vector<int64_t>> rows;
    if (!a->atlas.empty()) {
      const auto at = atlas::Atlas::open(a->atlas);
      atlas::require_atlas_model(at, identity);
      const atlas::LayerInfo* layer = nullptr;
      for (const auto& l : at.layers())
        if (l.name == block || circuits::bottleneck_of(*model, l.name) == block) layer = &l;
      if (!layer) throw ArgumentError("atlas", a->atlas, fmt::format("has no layer for {}", block));
      std::map<int64_t, int64_t> row_of;  // atlas image id -> index in paths
      for (int64_t u = 0; u < layer->units; ++u) {
        auto& list = rows.emplace_back();
        for (const auto& e : at.examples(*layer, u, atlas::ExampleList::TopMax, a->k)) {
          auto [it, added] = row_of.try_emplace(e.image, static_cast<int64_t>(paths.size()));
          if (added) paths.push_back(e.path);
          list.push_back(it->second);
        }
      }
    } else if (!a->vis.empty()) {
      // Each unit on its own plain (channel) renders; units without one are left out.
      serve::VisualizationIndex index;
      scan_renders(index, a->vis, [&](const std::string& name) { return circuits::bottleneck_of(*model, name); });
      for (const auto& p : model->points())
        if (p.name == block)
          for (int64_t u = 0; u < p.channels; ++u) {
            auto& list = rows.emplace_back();
            for (const auto& file : unit_renders(index, block, u)) {
              list.push_back(static_cast<int64_t>(paths.size()));
              paths.push_back(file);
            }
          }
      if (paths.empty())
        throw ArgumentError("vis", a->vis, fmt::format("no feature visualization of {}'s units below it", block));
    } else {
      paths = collect_image_paths(a->images);
    }
    circuits::ResidualShareOptions o;
    o.batch = a->batch;
    o.progress = !ctx.quiet;
    int64_t skipped = 0;
    const auto summary = circuits::residual_share(model, block, paths, rows, o, &skipped);
    if (!a->out.empty()) circuits::write_residual_share(summary, a->out);
    if (a->json) {
      auto j = summary.to_json();
      j["images"] = paths.size();
      j["skipped"] = skipped;
      fmt::print("{}\n", j.dump(2));
      return;
    }
    std::vector<double> defined;
    for (const auto& u : summary.units)
      if (u.images) defined.push_back(u.share);
    std::sort(defined.begin(), defined.end());
    fmt::print("{}: {} units, {} on in at least one of {} images{}; {:.1f} % take more than 90 % from the shortcut",
               summary.block, summary.units.size(), summary.defined, paths.size() - static_cast<size_t>(skipped),
               skipped ? fmt::format(" ({} unreadable, skipped)", skipped) : "", 100 * summary.above_90);
    if (!defined.empty()) fmt::print(" (median share {:.3f})", defined[defined.size() / 2]);
    fmt::print("\n");
  });
}

// "LAYER:UNIT" or "4/2/6/34" -> (point, unit); a plain point -> (point, nullopt).
std::pair<std::string, std::optional<int64_t>> parse_point_or_unit(const std::string& text,
                                                                   const std::string& parameter) {
  if (split_followup_unit(text) || text.find(':') != std::string::npos) {
    auto [point, unit] = parse_unit_name(text, parameter);
    return {point, unit};
  }
  return {text, std::nullopt};
}

// The images of an atlas's top examples of one unit (the atlas must hold its layer).
std::vector<fs::path> atlas_examples(CLIP& model, const atlas::ModelIdentity& identity, const std::string& dir,
                                     const std::string& point, int64_t unit, int k) {
  const auto at = atlas::Atlas::open(dir);
  atlas::require_atlas_model(at, identity);
  const std::string canonical = model->resolve_point(point);
  for (const auto& l : at.layers()) {
    if (l.name != canonical) continue;
    at.check_unit(l, unit);
    std::vector<fs::path> paths;
    for (const auto& e : at.examples(l, unit, atlas::ExampleList::TopMax, k)) paths.push_back(e.path);
    return paths;
  }
  throw ArgumentError("atlas", dir, fmt::format("has no layer {}", canonical));
}

void add_contributions_command(CLI::App& app, Context& ctx) {
  struct Args {
    std::string model, from, atlas, vis, out, reduce = "mean";
    std::vector<std::string> to, images;
    int k = 20, batch = 16, top = 10;
    bool json = false;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("contributions",
                                 "Activation x gradient: a unit's value split over an earlier point's units "
                                 "(backward), or one unit spread over later points' units (forward), with histograms "
                                 "and their bimodality");
  add_model_option(*cmd, a->model);
  cmd->add_option("--from", a->from, "The earlier point (backward) or unit (forward: LAYER:UNIT, 4/1/6/34)")
      ->required();
  cmd->add_option("--to", a->to, "The later unit (backward) or points (forward; repeat for several)")->required();
  auto* images = cmd->add_option("--images", a->images, "Image files, folders or lists");
  auto* atlas = cmd->add_option("-a,--atlas", a->atlas, "An atlas of the model: the fixed unit's top examples");
  auto* vis = cmd->add_option("--vis", a->vis, "A folder of feature visualizations: the fixed unit's own renders");
  images->excludes(atlas)->excludes(vis);
  atlas->excludes(vis);
  cmd->add_option("-k,--k", a->k, "With --atlas: top examples")->capture_default_str();
  cmd->add_option("--reduce", a->reduce, "A unit's value: its spatial mean or max")->capture_default_str();
  cmd->add_option("--batch", a->batch, "Images per forward pass")->capture_default_str();
  cmd->add_option("--top", a->top, "Units listed per point, each way")->capture_default_str();
  cmd->add_option("-o,--out", a->out, "Write contributions.csv, bimodality.csv and histograms into this folder");
  cmd->add_flag("--json", a->json, "Print JSON instead of the table");
  cmd->callback([&ctx, a] {
    if (a->images.empty() && a->atlas.empty() && a->vis.empty())
      throw ArgumentError("images", "", "give --images, --atlas or --vis");
    if (a->k < 1) throw ArgumentError("k", std::to_string(a->k), "must be positive");
    if (a->top < 1) throw ArgumentError("top", std::to_string(a->top), "must be positive");
    const auto [from, from_unit] = parse_point_or_unit(a->from, "from");
    const bool forward = from_unit.has_value();
    std::vector<std::string> to;
    int64_t unit = from_unit.value_or(0);
    for (const auto& t : a->to) {
      const auto [point, to_unit] = parse_point_or_unit(t, "to");
      if (forward && to_unit) throw ArgumentError("to", t, "with a unit in --from, name whole points here");
      if (!forward && (!to_unit || a->to.size() > 1))
        throw ArgumentError("to", t, "without a unit in --from, name one unit here (LAYER:UNIT)");
      if (to_unit) unit = *to_unit;
      to.push_back(point);
    }
    circuits::ContributionOptions o;
    o.reduce = parse_reduce(a->reduce);
    if (o.reduce == Reduce::None) throw ArgumentError("reduce", a->reduce, "expected mean or max");
    o.batch = a->batch;
    o.progress = !ctx.quiet;
    auto [model, identity] = ctx.load_identified_model(a->model, "exact");
    const auto paths = a->atlas.empty() ? collect_image_paths(a->images)
                                        : atlas_examples(model, identity, a->atlas, forward ? from : to[0], unit, a->k);
    const auto report = circuits::contribution_report(model, forward, from, to, unit, paths, o);
    if (!a->out.empty()) circuits::write_contributions(report, a->out);
    const auto j = report.to_json(a->top);
    if (a->json) {
      fmt::print("{}\n", j.dump(2));
      return;
    }
    fmt::print("{} contributions {} {}:{} over {} images{} ({} of each unit)\n", forward ? "forward" : "backward",
               forward ? "of" : "to", forward ? report.from : report.to[0], unit, report.images,
               report.skipped ? fmt::format(" ({} unreadable, skipped)", report.skipped) : "", a->reduce);
    if (!forward)
      fmt::print("  value {:.4g} = contributions {:.4g} + rest {:.4g}\n", report.value, report.value - report.rest,
                 report.rest);
    for (const auto& p : j["points"]) {
      fmt::print("{}: {} units, bimodality {}, {:.1f} % positive\n", p["point"].get<std::string>(),
                 p["units"].get<int64_t>(),
                 p["bimodality"].is_null() ? std::string("-") : fmt::format("{:.3f}", p["bimodality"].get<double>()),
                 100 * p["positive"].get<double>());
      const auto row = [](const char* what, const nlohmann::json& list) {
        std::string line = fmt::format("  {:<8}", what);
        for (const auto& u : list)
          line += fmt::format(" {}({:+.3g})", u["unit"].get<int64_t>(), u["contribution"].get<double>());
        fmt::print("{}\n", line);
      };
      row("highest", p["highest"]);
      row("lowest", p["lowest"]);
    }
  });
}

}  // namespace

void add_circuits_commands(CLI::App& app, Context& ctx) {
  add_expanded_weights_command(app, ctx);
  add_residual_share_command(app, ctx);
  add_contributions_command(app, ctx);
}

}  // namespace clipscope::cli
