#include "optvis/facet_probe.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <cmath>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <random>
#include <set>

#include "core/image/stream.h"
#include "core/model/image_batches.h"
#include "core/util/error.h"
#include "core/util/npy.h"
#include "core/util/progress.h"

namespace clipscope::optvis {

namespace fs = std::filesystem;
using torch::Tensor;

namespace {

constexpr const char* kFormat = "clipscope-facet-probe";
constexpr int kVersion = 1;

// Puts the model in eval mode for the guard's lifetime: batch norm in training mode
// would make a row depend on the other images of its batch.
class EvalMode {
 public:
  explicit EvalMode(CLIP& model) : model_(model), was_training_(model->is_training()) { model_->eval(); }
  ~EvalMode() {
    if (was_training_) model_->train(true);
  }
  EvalMode(const EvalMode&) = delete;
  EvalMode& operator=(const EvalMode&) = delete;

 private:
  CLIP& model_;
  bool was_training_;
};

// Canonical names of image-tower points, each once.
std::vector<std::string> resolve_layers(const CLIP& model, const std::vector<std::string>& layers) {
  if (layers.empty()) throw Error("facet probe: no layers given");
  std::vector<std::string> names;
  std::set<std::string> seen;
  for (const auto& layer : layers) {
    std::string name = model->resolve_point(layer);
    if (name.rfind("visual", 0) != 0)
      throw Error(fmt::format("layer '{}' is in the text tower; facet probes read image layers", layer));
    if (!seen.insert(name).second) throw Error(fmt::format("layer '{}' is given twice", layer));
    names.push_back(std::move(name));
  }
  return names;
}

int64_t total_channels(const CLIP& model, const std::vector<std::string>& names) {
  int64_t total = 0;
  for (const auto& n : names) total += model->point(n).channels;
  return total;
}

// A permutation of 0..n-1 from the generator: Fisher-Yates with plain modulo, so the
// split is the same with every standard library (std::shuffle's is not specified).
std::vector<int64_t> permutation(int64_t n, std::mt19937_64& rng) {
  std::vector<int64_t> p(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) p[static_cast<size_t>(i)] = i;
  for (int64_t i = n - 1; i > 0; --i) std::swap(p[static_cast<size_t>(i)], p[rng() % static_cast<uint64_t>(i + 1)]);
  return p;
}

Tensor index_tensor(const std::vector<int64_t>& v) { return torch::tensor(v, torch::kLong); }

// Mean of the per-class accuracies over the classes present in `rows`; NaN when empty.
double balanced_accuracy(const Tensor& correct, const Tensor& labels, const Tensor& rows) {
  if (rows.numel() == 0) return std::numeric_limits<double>::quiet_NaN();
  const Tensor c = correct.index_select(0, rows), y = labels.index_select(0, rows);
  double sum = 0;
  int classes = 0;
  for (double label : {0.0, 1.0}) {
    const Tensor in_class = y == label;
    const int64_t n = in_class.sum().item<int64_t>();
    if (n == 0) continue;
    sum += c.masked_select(in_class).to(torch::kDouble).mean().item<double>();
    ++classes;
  }
  return sum / classes;
}

Tensor check_features(const Tensor& t, const char* what) {
  if (!t.defined() || t.dim() != 2 || !t.is_floating_point())
    throw Error(fmt::format("facet probe: {} features must be a 2-D float tensor (images, channels)", what));
  Tensor d = t.detach().to(torch::kCPU, torch::kDouble);
  if (!torch::isfinite(d).all().item<bool>())
    throw Error(fmt::format("facet probe: {} features are not all finite", what));
  return d;
}

// Typed access to the sidecar's fields with one-line errors naming the file.
struct JsonReader {
  const nlohmann::json& j;
  const fs::path& path;

  [[noreturn]] void fail(const std::string& key, const std::string& problem) const {
    throw Error(fmt::format("{}: facet probe field '{}' {}", path.string(), key, problem));
  }
  const nlohmann::json& at(const std::string& key) const {
    auto it = j.find(key);
    if (it == j.end()) fail(key, "is missing");
    return *it;
  }
  double number(const std::string& key, bool null_is_nan = false) const {
    const auto& v = at(key);
    if (null_is_nan && v.is_null()) return std::numeric_limits<double>::quiet_NaN();
    if (!v.is_number()) fail(key, "is not a number");
    return v.get<double>();
  }
  int64_t count(const std::string& key) const {
    const auto& v = at(key);
    if (!v.is_number_integer() || v.get<int64_t>() < 0) fail(key, "is not a non-negative integer");
    return v.get<int64_t>();
  }
};

}  // namespace

Tensor FacetProbe::layer_weights(size_t i) const {
  if (i >= channels.size()) throw Error(fmt::format("facet probe: layer {} of {}", i, channels.size()));
  int64_t start = 0;
  for (size_t k = 0; k < i; ++k) start += channels[k];
  return weights.slice(0, start, start + channels[i]);
}

std::vector<std::string> default_facet_layers(const CLIP& model) {
  const CLIPConfig& config = model->config();
  std::vector<std::string> layers;
  if (config.is_vit()) {
    // The first ceil(2/3) of the blocks: lower layers carry style, not meaning.
    const int64_t span = std::max<int64_t>(1, (2 * config.vit_layers + 2) / 3);
    for (int64_t i = 0; i < span; i += 2) layers.push_back(fmt::format("visual.transformer.resblocks.{}", i));
  } else {
    if (config.resnet_layers.size() < 3) throw Error("facet probe: the ResNet has no stage 3");
    for (int64_t i = 0; i < config.resnet_layers[2]; i += 2) layers.push_back(fmt::format("visual.layer3.{}", i));
  }
  return layers;
}

Tensor facet_features(CLIP& model, const std::vector<std::string>& layers, const Tensor& images_preprocessed) {
  const auto names = resolve_layers(model, layers);
  const Tensor& images = images_preprocessed;
  if (!images.defined() || images.dim() != 4 || images.size(1) != 3)
    throw Error("facet features: images must be a (N, 3, H, W) preprocessed batch");
  if (images.size(0) == 0) return torch::zeros({0, total_channels(model, names)});
  torch::NoGradGuard no_grad;
  EvalMode eval(model);
  ActivationCache cache(names);  // stops after the last layer
  model->run_image(images, cache);
  std::vector<Tensor> parts;
  for (const auto& name : names)
    parts.push_back(reduce_positions(cache[name], cache.layout(name), Reduce::Mean).to(torch::kCPU, torch::kFloat));
  return torch::cat(parts, 1).contiguous();
}

Tensor folder_features(CLIP& model, const std::vector<std::string>& layers, const fs::path& dir, int batch_size,
                       int64_t& skipped, bool progress) {
  skipped = 0;
  if (!fs::is_directory(dir)) throw Error(fmt::format("{}: not a directory", dir.string()));
  if (batch_size <= 0) throw Error(fmt::format("facet features: batch size {} must be positive", batch_size));
  const auto names = resolve_layers(model, layers);  // fail before decoding anything
  const auto paths = collect_image_paths({dir.string()});

  ImageStreamOptions stream;
  stream.n_px = static_cast<int>(model->config().image_resolution);
  stream.normalization = model->config().normalization;
  ImageBatcher batches(paths, batch_size, stream);
  Progress bar(fmt::format("features of {}", dir.string()), static_cast<int64_t>(paths.size()), "img", progress);
  std::vector<Tensor> rows;
  while (auto batch = batches.next()) {
    rows.push_back(facet_features(model, names, batch->images));
    bar.set(static_cast<int64_t>(batch->inputs_done));
  }
  bar.set(static_cast<int64_t>(paths.size()));
  bar.finish();

  const auto& bad = batches.skipped();
  skipped = static_cast<int64_t>(bad.size());
  if (progress && !bad.empty())
    fmt::print(stderr, "warning: skipped {} unreadable image(s) in {} (first: {})\n", bad.size(), dir.string(),
               bad.front().error);
  if (rows.empty()) return torch::zeros({0, total_channels(model, names)});
  return torch::cat(rows, 0);
}

namespace {

void check_fit_options(int64_t n_facet, int64_t n_generic, int64_t facet_channels, int64_t generic_channels,
                       const FitOptions& options) {
  if (n_facet < 2 || n_generic < 2)
    throw Error(fmt::format("facet probe needs at least 2 images of each class; got {} facet and {} generic", n_facet,
                            n_generic));
  if (facet_channels != generic_channels)
    throw Error(fmt::format("facet probe: facet features have {} channels, generic features {}", facet_channels,
                            generic_channels));
  if (!(options.l2 >= 0) || !std::isfinite(options.l2))
    throw Error(fmt::format("facet probe: l2 {} must be >= 0", options.l2));
  if (options.max_iterations < 1)
    throw Error(fmt::format("facet probe: max_iterations {} must be positive", options.max_iterations));
  if (!(options.holdout >= 0 && options.holdout < 1))
    throw Error(fmt::format("facet probe: holdout {} must be in [0, 1)", options.holdout));
}

// Stratified split of rows [0, n_facet) and [n_facet, n_facet + n_generic): each class
// keeps its share of held-out rows, at least one in training.
std::pair<Tensor, Tensor> stratified_split(int64_t n_facet, int64_t n_generic, double holdout, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<int64_t> train, hold;
  int64_t offset = 0;
  for (int64_t n : {n_facet, n_generic}) {
    const auto p = permutation(n, rng);
    const int64_t n_hold = std::clamp<int64_t>(std::llround(holdout * static_cast<double>(n)), 0, n - 1);
    for (int64_t i = 0; i < n; ++i) (i < n_hold ? hold : train).push_back(offset + p[static_cast<size_t>(i)]);
    offset += n;
  }
  return {index_tensor(train), index_tensor(hold)};
}

// L2-regularized logistic regression on standardized features z with balanced
// classes (each class's rows share half of the total weight), by L-BFGS: (v, c).
std::pair<Tensor, Tensor> fit_logistic(const Tensor& z, const Tensor& y, double l2, int max_iterations) {
  const double n_facet = y.sum().item<double>(), n_generic = static_cast<double>(y.size(0)) - n_facet;
  const Tensor sample_weight =
      torch::where(y > 0.5, torch::full_like(y, 0.5 / n_facet), torch::full_like(y, 0.5 / n_generic));
  torch::AutoGradMode grad(true);
  Tensor v = torch::zeros({z.size(1)}, torch::kDouble).requires_grad_(true);
  Tensor c = torch::zeros({1}, torch::kDouble).requires_grad_(true);
  torch::optim::LBFGS optimizer({v, c}, torch::optim::LBFGSOptions(1.0)
                                            .max_iter(max_iterations)
                                            .history_size(20)
                                            .tolerance_grad(1e-10)
                                            .tolerance_change(1e-14)
                                            .line_search_fn("strong_wolfe"));
  auto closure = [&] {
    optimizer.zero_grad();
    const Tensor logits = torch::mv(z, v) + c;
    Tensor loss = torch::nn::functional::binary_cross_entropy_with_logits(
                      logits, y,
                      torch::nn::functional::BinaryCrossEntropyWithLogitsFuncOptions()
                          .weight(sample_weight)
                          .reduction(torch::kSum)) +
                  0.5 * l2 * v.dot(v);
    loss.backward();
    return loss;
  };
  optimizer.step(closure);
  return {v.detach(), c.detach()};
}

}  // namespace

FacetProbe fit_facet_probe(const Tensor& facet_features, const Tensor& generic_features, const FitOptions& options) {
  const Tensor facet = check_features(facet_features, "facet");
  const Tensor generic = check_features(generic_features, "generic");
  const int64_t n_facet = facet.size(0), n_generic = generic.size(0);
  check_fit_options(n_facet, n_generic, facet.size(1), generic.size(1), options);

  const Tensor x = torch::cat({facet, generic}, 0);  // (N, D) double
  const Tensor labels = torch::cat({torch::ones({n_facet}, torch::kDouble), torch::zeros({n_generic}, torch::kDouble)});
  const auto [train_rows, hold_rows] = stratified_split(n_facet, n_generic, options.holdout, options.seed);
  const Tensor xt = x.index_select(0, train_rows), yt = labels.index_select(0, train_rows);

  // Fit on standardized features (well conditioned for L-BFGS, and one l2 for every
  // layer's scale), then fold the scaling into raw-activation weights below.
  const Tensor mu = xt.mean(0);
  Tensor sd = xt.std(0, /*unbiased=*/false);
  const double sd_max = sd.max().item<double>();
  // Constant (or float-noise) channels get a floor instead of 0, so they get ~0 weight.
  sd = sd_max > 0 ? sd.clamp_min(1e-6 * sd_max) : torch::ones_like(sd);
  const auto [v, c] = fit_logistic((xt - mu) / sd, yt, options.l2, options.max_iterations);

  // w.x + b on raw features equals v.z + c: w = v / sd, b = c - w.mu.
  const Tensor w = v / sd;
  const double bias = c.item<double>() - w.dot(mu).item<double>();
  const Tensor weights = w.to(torch::kFloat).contiguous();

  // Accuracies of the probe as stored (float32 weights, raw features).
  const Tensor correct = (torch::mv(x, weights.to(torch::kDouble)) + bias > 0).to(torch::kDouble) == labels;
  FacetProbe probe;
  probe.weights = weights;
  probe.bias = bias;
  probe.facet_images = n_facet;
  probe.generic_images = n_generic;
  probe.train_accuracy = balanced_accuracy(correct, labels, train_rows);
  probe.holdout_accuracy = balanced_accuracy(correct, labels, hold_rows);
  probe.l2 = options.l2;
  return probe;
}

fs::path facet_probe_json_path(const fs::path& npy) {
  fs::path json = npy;
  json.replace_extension(".json");
  return json;
}

void save_facet_probe(const FacetProbe& probe, const fs::path& npy) {
  if (!probe.weights.defined() || probe.weights.dim() != 1)
    throw Error(fmt::format("{}: facet probe weights must be a 1-D tensor", npy.string()));
  if (probe.layers.empty() || probe.layers.size() != probe.channels.size())
    throw Error(fmt::format("{}: facet probe has {} layers but {} channel counts", npy.string(), probe.layers.size(),
                            probe.channels.size()));
  int64_t total = 0;
  for (int64_t c : probe.channels) total += c;
  if (total != probe.weights.numel())
    throw Error(fmt::format("{}: facet probe has {} weights but its layers have {} channels", npy.string(),
                            probe.weights.numel(), total));
  const fs::path json_path = facet_probe_json_path(npy);
  if (json_path == npy) throw Error(fmt::format("{}: the probe's weights file must not end in .json", npy.string()));

  const Tensor w = probe.weights.detach().to(torch::kCPU, torch::kFloat).contiguous();
  write_npy(npy, {w.numel()}, w.data_ptr<float>());

  nlohmann::json j;
  j["format"] = kFormat;
  j["version"] = kVersion;
  j["weights"] = npy.filename().string();
  j["layers"] = probe.layers;
  j["channels"] = probe.channels;
  j["bias"] = probe.bias;
  j["facet_images"] = probe.facet_images;
  j["generic_images"] = probe.generic_images;
  j["skipped_images"] = probe.skipped_images;
  // NaN (nothing held out) is written as null.
  j["train_accuracy"] = probe.train_accuracy;
  j["holdout_accuracy"] = probe.holdout_accuracy;
  j["l2"] = probe.l2;
  j["model_sha256"] = probe.model_sha256;
  std::ofstream f(json_path, std::ios::binary);
  if (!f) throw Error(fmt::format("{}: cannot open for writing", json_path.string()));
  f << j.dump(2) << '\n';
  if (!f) throw Error(fmt::format("{}: write failed", json_path.string()));
}

FacetProbe load_facet_probe(const fs::path& npy) {
  const fs::path json_path = facet_probe_json_path(npy);
  if (!fs::exists(npy)) throw Error(fmt::format("{}: facet probe weights not found", npy.string()));
  std::ifstream f(json_path, std::ios::binary);
  if (!f)
    throw Error(fmt::format("{}: facet probe metadata not found (save_facet_probe writes it beside {})",
                            json_path.string(), npy.filename().string()));
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(f);
  } catch (const nlohmann::json::parse_error& e) {
    throw Error(fmt::format("{}: invalid JSON at byte {}", json_path.string(), e.byte));
  }
  const auto format = j.is_object() ? j.find("format") : j.end();
  if (format == j.end() || !format->is_string() || format->get<std::string>() != kFormat)
    throw Error(fmt::format("{}: not a facet probe (no \"format\": \"{}\")", json_path.string(), kFormat));
  const JsonReader r{j, json_path};
  if (r.count("version") != kVersion)
    throw Error(fmt::format("{}: facet probe version {} is not supported", json_path.string(), j["version"].dump()));

  FacetProbe probe;
  const auto& layers = r.at("layers");
  if (!layers.is_array() || layers.empty()) r.fail("layers", "is not a non-empty list");
  for (const auto& l : layers) {
    if (!l.is_string()) r.fail("layers", "has a non-string entry");
    probe.layers.push_back(l.get<std::string>());
  }
  const auto& channels = r.at("channels");
  if (!channels.is_array() || channels.size() != layers.size())
    r.fail("channels", fmt::format("does not list one count for each of the {} layers", layers.size()));
  int64_t total = 0;
  for (const auto& c : channels) {
    if (!c.is_number_integer() || c.get<int64_t>() <= 0)
      r.fail("channels", "has an entry that is not a positive integer");
    probe.channels.push_back(c.get<int64_t>());
    total += probe.channels.back();
  }
  probe.bias = r.number("bias");
  probe.facet_images = r.count("facet_images");
  probe.generic_images = r.count("generic_images");
  probe.skipped_images = r.count("skipped_images");
  probe.train_accuracy = r.number("train_accuracy", true);
  probe.holdout_accuracy = r.number("holdout_accuracy", true);
  probe.l2 = r.number("l2");
  if (auto it = j.find("model_sha256"); it != j.end()) {
    if (!it->is_string()) r.fail("model_sha256", "is not a string");
    probe.model_sha256 = it->get<std::string>();
  }

  const NpyArray a = read_npy(npy);  // errors name the file
  if (a.dtype.size() < 2 || a.dtype[1] != 'f')
    throw Error(fmt::format("{}: facet probe weights must be floating point, not '{}'", npy.string(), a.dtype));
  if (a.shape.size() != 1)
    throw Error(fmt::format("{}: facet probe weights must be 1-D, not {}-D", npy.string(), a.shape.size()));
  if (a.numel() != total)
    throw Error(fmt::format("{}: {} weights but the layers in {} have {} channels", npy.string(), a.numel(),
                            json_path.filename().string(), total));
  auto values = a.as_float();
  probe.weights = torch::from_blob(values.data(), {a.numel()}, torch::kFloat).clone();
  return probe;
}

}  // namespace clipscope::optvis
