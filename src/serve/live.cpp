#include "serve/live.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>

#include "abstractions/attribution.h"
#include "atlas/indexer.h"
#include "circuits/expanded_weights.h"
#include "circuits/points.h"
#include "circuits/residual_share.h"
#include "core/model/tensor_io.h"
#include "maxtext/store.h"
#include "optvis/objectives.h"
#include "optvis/visualize.h"
#include "serve/http_error.h"
#include "zeroshot/zeroshot.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace clipscope::serve {

namespace {

// Each unit's direction in the embedding space (unit length), for the layer whose
// output the image embedding is computed from; undefined tensor for other layers.
torch::Tensor embedding_directions(CLIPImpl& model, const atlas::LayerInfo& layer) {
  const auto points = abstractions::attribution_points(model);
  if (std::find(points.begin(), points.end(), layer.name) == points.end()) return {};
  const torch::Tensor d = abstractions::unit_directions(model, layer.name);
  return d / d.norm(2, 1, true).clamp_min(1e-12);
}

}  // namespace

LiveModel::LiveModel(CLIP model, Tokenizer tokenizer, AtlasView& view, LiveOptions options)
    : model_(std::move(model)), tokenizer_(std::move(tokenizer)), view_(view), options_(options) {
  model_->eval();
  for (auto& p : model_->parameters()) p.requires_grad_(false);  // renders optimize images, not weights
  for (const auto& l : view_.atlas().layers())
    if (auto d = embedding_directions(*model_, l); d.defined()) directions_[l.id] = d;
  worker_ = std::thread([this] { work(); });
}

LiveModel::~LiveModel() {
  {
    std::lock_guard lock(jobs_mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  worker_.join();
}

json LiveModel::image_search(std::string_view bytes, int k) {
  Image image;
  try {
    image = decode_image({reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()}, "uploaded image");
  } catch (const Error& e) {
    throw bad_request(e.what());
  }
  const auto& layers = view_.atlas().layers();
  std::vector<std::string> points;
  for (const auto& l : layers) points.push_back(l.read_at);
  ActivationCache cache(points);
  {
    std::lock_guard lock(model_mutex_);
    torch::NoGradGuard no_grad;
    model_->run_image(preprocess_batch({image}, view_.n_px(), model_->config().normalization).to(model_->device()),
                      cache);
  }
  json out = json::array();
  for (const auto& l : layers) {
    // The unit's value as the atlas ranks examples: spatial max of the read point.
    const torch::Tensor values = atlas::units_by_cells(cache[l.read_at], cache.layout(l.read_at))[0].amax(1);
    std::vector<double> std_units(static_cast<size_t>(l.units));
    for (int64_t u = 0; u < l.units; ++u) {
      const double rms = view_.rms(l, u);
      std_units[static_cast<size_t>(u)] = rms > 0 ? values[u].item<double>() / rms : 0;
    }
    std::vector<int64_t> order(static_cast<size_t>(l.units));
    for (int64_t u = 0; u < l.units; ++u) order[static_cast<size_t>(u)] = u;
    const auto n = std::min<size_t>(static_cast<size_t>(k), order.size());
    std::partial_sort(
        order.begin(), order.begin() + static_cast<std::ptrdiff_t>(n), order.end(),
        [&](int64_t a, int64_t b) { return std_units[static_cast<size_t>(a)] > std_units[static_cast<size_t>(b)]; });
    json units = json::array();
    for (size_t i = 0; i < n; ++i) {
      const int64_t u = order[i];
      units.push_back({{"unit", u},
                       {"value", values[u].item<double>()},
                       {"std", std_units[static_cast<size_t>(u)]},
                       {"thumb", view_.thumbnail_url(l, u)}});
    }
    out.push_back({{"layer", l.name}, {"units", units}});
  }
  return {{"layers", out}};
}

json LiveModel::text_search(const std::string& text, int k) {
  if (directions_.empty()) return nullptr;
  torch::Tensor embedding;
  {
    std::lock_guard lock(model_mutex_);
    try {
      embedding =
          zero_shot_weights(model_, tokenizer_, {text}, {}, /*truncate=*/true)[0].to(torch::kCPU, torch::kFloat32);
    } catch (const Error& e) {
      throw bad_request(fmt::format("q: {}", e.what()));  // text the tokenizer refuses
    }
  }
  const auto& [layer_id, directions] = *directions_.begin();
  const auto& l = *std::find_if(view_.atlas().layers().begin(), view_.atlas().layers().end(),
                                [&](const auto& x) { return x.id == layer_id; });
  const torch::Tensor scores = directions.mv(embedding);
  const auto top = scores.topk(std::min<int64_t>(k, scores.size(0)));
  std::vector<std::pair<int64_t, double>> items;
  for (int64_t i = 0; i < std::get<1>(top).size(0); ++i)
    items.emplace_back(std::get<1>(top)[i].item<int64_t>(), std::get<0>(top)[i].item<double>());
  return {{"layer", l.name}, {"units", view_.unit_tiles(l, items, "score")}};
}

json LiveModel::rendered_search(const std::string& text, int k) {
  json out = json::array();
  for (const auto& set : view_.word_sets()) {
    const auto& l = view_.layer(set.layer);
    torch::Tensor acts;
    {
      std::lock_guard lock(model_mutex_);
      auto& encoder = encoders_[set.id];
      if (!encoder) {
        encoder = std::make_unique<words::WordEncoder>(model_, set.layer, words::WordStyle::from_json(set.style));
        baselines_[set.id] = view_.word_baseline(set);
      }
      if (const std::string problem = words::word_problem(raster_, text, encoder->style()); !problem.empty()) {
        out.push_back({{"layer", l.name}, {"problem", problem}});
        continue;
      }
      acts = encoder->encode({text})[0] - baselines_[set.id];
    }
    const auto top = acts.topk(std::min<int64_t>(k, acts.size(0)));
    std::vector<std::pair<int64_t, double>> items;
    for (int64_t i = 0; i < std::get<1>(top).size(0); ++i)
      items.emplace_back(std::get<1>(top)[i].item<int64_t>(), std::get<0>(top)[i].item<double>());
    out.push_back({{"layer", l.name}, {"units", view_.unit_tiles(l, items, "value")}});
  }
  return out;
}

json LiveModel::circuit(const atlas::LayerInfo& layer, int64_t unit, int k, int examples) {
  // The whole of it under the model's lock: the circuits tools switch the model to exact
  // precision while they run.
  std::lock_guard lock(model_mutex_);
  std::string block;
  try {
    block = circuits::bottleneck_of(*model_, layer.name);
  } catch (const ArgumentError&) {
    throw bad_request(fmt::format("{}: not a ResNet bottleneck's output (circuits read those)", layer.name));
  }
  const std::string from = circuits::block_input(*model_, block);
  const auto paths = view_.example_paths(layer, unit, examples);
  json out = {{"layer", layer.name}, {"unit", unit}, {"block", block}, {"from", from}};
  if (!from.empty()) {
    const auto w = circuits::expanded_weights(model_, from, block, unit, circuits::Rank::L2);
    // The atlas's layer for the input point, when it has one: its units get thumbnails.
    const auto is_input = [&](const atlas::LayerInfo& l) {
      if (l.name == from) return true;
      try {
        return circuits::bottleneck_of(*model_, l.name) == from;  // a stage stands for its last block
      } catch (const ArgumentError&) {
        return false;
      }
    };
    const atlas::LayerInfo* input_layer = nullptr;
    for (const auto& l : view_.atlas().layers())
      if (!input_layer && is_input(l)) input_layer = &l;
    json inputs = json::array();
    const torch::Tensor flat = w.weights.flatten(1);
    for (size_t i = 0; i < w.ranked.size() && static_cast<int>(i) < k; ++i) {
      const int64_t c = w.ranked[i].first;
      json u = {{"unit", c}, {"l2", w.ranked[i].second}, {"mean", flat[c].mean().item<double>()}};
      if (input_layer) {
        u["layer"] = input_layer->name;
        u["thumb"] = view_.thumbnail_url(*input_layer, c);
      }
      inputs.push_back(u);
    }
    out["inputs"] = inputs;
  }
  out["residual_share"] = nullptr;
  if (!paths.empty()) {
    const auto summary = circuits::residual_share(model_, block, paths);
    const auto& s = summary.units.at(static_cast<size_t>(unit));
    out["residual_share"] = {{"share", s.images ? json(s.share) : json(nullptr)}, {"images", s.images}};
  }
  return out;
}

json LiveModel::job_json(const Job& job) {
  return {{"id", job.id},         {"kind", job.kind}, {"layer", job.layer}, {"unit", job.unit},
          {"status", job.status}, {"step", job.step}, {"steps", job.steps}, {"error", job.error}};
}

json LiveModel::enqueue(const std::string& kind, const atlas::LayerInfo& layer, int64_t unit, int steps) {
  std::lock_guard lock(jobs_mutex_);
  for (const auto& j : jobs_)
    if (j.kind == kind && j.layer == layer.name && j.unit == unit && (j.status == "queued" || j.status == "running"))
      return job_json(j);
  Job job;
  job.id = static_cast<int64_t>(jobs_.size());
  job.kind = kind;
  job.layer = layer.name;
  job.unit = unit;
  job.steps = steps;
  jobs_.push_back(job);
  queue_.push_back(job.id);
  wake_.notify_one();
  return job_json(job);
}

json LiveModel::render(const atlas::LayerInfo& layer, int64_t unit) {
  return enqueue("render", layer, unit, options_.render_steps);
}

json LiveModel::maximal_text(const atlas::LayerInfo& layer, int64_t unit) {
  if (!can_find_text(layer))
    throw bad_request(
        fmt::format("maximal text: the units of {} have no direction in the embedding space", layer.name));
  const auto& o = options_.maximal_text;
  return enqueue("maximal-text", layer, unit, o.method == maxtext::Method::HillClimb ? o.generations : o.epochs);
}

json LiveModel::job(int64_t id) const {
  std::lock_guard lock(jobs_mutex_);
  if (id < 0 || id >= static_cast<int64_t>(jobs_.size())) throw not_found(fmt::format("job {}: no such job", id));
  return job_json(jobs_[static_cast<size_t>(id)]);
}

json LiveModel::job_for_unit(const std::string& layer, int64_t unit, const std::string& kind) const {
  std::lock_guard lock(jobs_mutex_);
  for (const auto& j : jobs_)
    if (j.kind == kind && j.layer == layer && j.unit == unit && (j.status == "queued" || j.status == "running"))
      return job_json(j);
  return nullptr;
}

void LiveModel::work() {
  for (;;) {
    Job job;
    {
      std::unique_lock lock(jobs_mutex_);
      wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      auto& queued = jobs_[static_cast<size_t>(queue_.front())];
      queue_.pop_front();
      queued.status = "running";
      job = queued;
    }
    std::string error;
    try {
      if (job.kind == "render")
        run_render(job);
      else
        run_maximal_text(job);
    } catch (const std::exception& e) {
      error = e.what();
    }
    std::lock_guard lock(jobs_mutex_);
    auto& done = jobs_[static_cast<size_t>(job.id)];
    done.status = error.empty() ? "done" : "failed";
    done.error = error;
  }
}

void LiveModel::set_step(int64_t id, int64_t done) {
  std::lock_guard lock(jobs_mutex_);
  if (stopping_) throw Error("the server is stopping");
  auto& job = jobs_[static_cast<size_t>(id)];
  job.step = static_cast<int>(std::min<int64_t>(done, job.steps));
}

void LiveModel::run_render(const Job& job) {
  // A folder like `clipscope visualize` writes, with lucid's defaults (docs/optvis.md), so
  // that a restarted server finds it too. A new render of the unit replaces the old one.
  const fs::path dir = view_.visualization_dir() / "serve" / fmt::format("{}_{}", job.layer, job.unit);
  optvis::VisualizeOptions o;
  o.unit = fmt::format("{}:{}", job.layer, job.unit);
  o.steps = job.steps;
  o.seed = options_.seed;
  o.command = "clipscope serve";
  o.on_step = [&](int64_t done, int64_t) { set_step(job.id, done); };
  {
    std::lock_guard lock(model_mutex_);
    std::error_code ec;
    fs::remove(dir / "visualize.json", ec);
    optvis::visualize(model_, o, dir);
  }
  view_.visualizations().add_report(dir / "visualize.json", [&](const std::string& name) -> std::optional<std::string> {
    return view_.layer(name).name;
  });
}

void LiveModel::run_maximal_text(const Job& job) {
  // Stored in the atlas like `clipscope maximal-text --atlas` stores it (maxtext/store.h),
  // replacing an earlier result of the method, so that a restarted server shows it too.
  maxtext::Options o = options_.maximal_text;
  o.progress = false;
  o.on_step = [&](int64_t done, int64_t) { set_step(job.id, done); };
  maxtext::Result result;
  {
    std::lock_guard lock(model_mutex_);
    const auto target = maxtext::parse_target(model_, tokenizer_, fmt::format("{}:{}", job.layer, job.unit));
    result = maxtext::maximal_text(model_, tokenizer_, target, o);
  }
  maxtext::store_result(view_.atlas().dir(), job.layer, job.unit, result, o, options_.model_sha256);
}

}  // namespace clipscope::serve
