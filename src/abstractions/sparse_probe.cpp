#include "abstractions/sparse_probe.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <map>

#include "atlas/atlas.h"
#include "core/model/image_batches.h"
#include "core/model/tensor_io.h"
#include "core/util/csv.h"
#include "core/util/error.h"
#include "core/util/files.h"
#include "core/util/progress.h"
#include "core/util/strings.h"
#include "plot/chart.h"
#include "zeroshot/classifier.h"

namespace clipscope::abstractions {

namespace fs = std::filesystem;
using torch::Tensor;

Tensor SparseProbe::logits(const Tensor& features) const {
  const Tensor x = (features.to(torch::kFloat) - mean) / std;
  return torch::matmul(x, weight.t()) + bias;
}

SparseProbe SparseProbe::to(const torch::Device& device) const {
  SparseProbe p = *this;
  for (Tensor* t : {&p.weight, &p.bias, &p.mean, &p.std})
    if (t->defined()) *t = t->to(device);
  return p;
}

std::vector<std::pair<int64_t, double>> SparseProbe::class_units(size_t c) const {
  const Tensor row = weight[static_cast<int64_t>(c)];
  const Tensor nonzero = row.nonzero().flatten();
  std::vector<std::pair<int64_t, double>> out;
  for (int64_t i = 0; i < nonzero.numel(); ++i) {
    const int64_t u = nonzero[i].item<int64_t>();
    out.emplace_back(u, row[u].item<double>());
  }
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return std::abs(a.second) > std::abs(b.second); });
  return out;
}

nlohmann::json PathPoint::to_json() const {
  const PathPoint& p = *this;
  return {{"lambda", p.lambda},
          {"nonzeros_per_class", p.nonzeros_per_class},
          {"units_used", p.units_used},
          {"loss", p.loss},
          {"train_top1", p.train_top1},
          {"validation_top1", p.validation_top1},
          {"validation_top5", p.validation_top5},
          {"iterations", p.iterations},
          {"converged", p.converged},
          {"seconds", p.seconds}};
}

nlohmann::json SparseProbe::to_json() const {
  nlohmann::json j = {{"kind", "sparse linear probe"},
                      {"classes", classes},
                      {"units", units},
                      {"l1_ratio", l1_ratio},
                      {"chosen", chosen},
                      {"train_rows", train},
                      {"validation_rows", validation},
                      {"bias", tensor_values(bias)},
                      {"mean", tensor_values(mean)},
                      {"std", tensor_values(std)}};
  if (chosen < path.size()) j["lambda"] = path[chosen].lambda;
  j["path"] = nlohmann::json::array();
  for (const auto& p : path) j["path"].push_back(p.to_json());
  nlohmann::json per_class = nlohmann::json::object();
  for (size_t c = 0; c < classes.size(); ++c) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& [u, w] : class_units(c)) list.push_back({{"unit", units[static_cast<size_t>(u)]}, {"weight", w}});
    per_class[classes[c]] = list;
  }
  j["class_units"] = per_class;
  return j;
}

std::string SparseProbe::path_csv() const {
  std::string csv =
      "lambda,nonzeros_per_class,units_used,loss,train_top1,validation_top1,validation_top5,iterations,converged,"
      "seconds,chosen\n";
  for (size_t i = 0; i < path.size(); ++i) {
    const auto& p = path[i];
    csv += fmt::format("{:.6g},{:.4f},{},{:.6g},{:.4f},{:.4f},{:.4f},{},{},{:.3f},{}\n", p.lambda, p.nonzeros_per_class,
                       p.units_used, p.loss, p.train_top1, p.validation_top1, p.validation_top5, p.iterations,
                       p.converged ? 1 : 0, p.seconds, i == chosen ? 1 : 0);
  }
  return csv;
}

namespace {

bool soft_targets(const Tensor& y) { return y.dim() == 2; }

// Σ over rows of the cross-entropy of log-probabilities `log_p` against `y`: labels
// (N, long) or target probabilities (N, C).
double cross_entropy_sum(const Tensor& log_p, const Tensor& y) {
  if (soft_targets(y)) return -(log_p * y).sum().item<double>();
  return -log_p.gather(1, y.unsqueeze(1)).sum().item<double>();
}

}  // namespace

SmoothObjective smooth_objective(const Tensor& x, const Tensor& y, const Tensor& weight, const Tensor& bias,
                                 double l2) {
  const int64_t n = x.size(0);
  const Tensor log_p = torch::log_softmax(torch::addmm(bias, x, weight.t()), 1);
  SmoothObjective out;
  out.value = cross_entropy_sum(log_p, y) / static_cast<double>(n) + 0.5 * l2 * weight.pow(2).sum().item<double>();
  // d(mean cross-entropy)/d(logits) = (softmax - targets) / n, the targets one-hot for labels.
  Tensor r = log_p.exp();
  if (soft_targets(y))
    r.sub_(y);
  else
    r.scatter_add_(1, y.unsqueeze(1), torch::full({n, 1}, -1.0, r.options()));
  r.div_(static_cast<double>(n));
  out.grad_weight = torch::matmul(r.t(), x);
  if (l2 > 0) out.grad_weight.add_(weight, l2);
  out.grad_bias = r.sum(0);
  return out;
}

namespace {

// The largest eigenvalue of xᵀx / n by power iteration (a few percent high, as a step bound must be).
double top_eigenvalue(const Tensor& x) {
  Tensor v = torch::ones({x.size(1)}, x.options()) / std::sqrt(static_cast<double>(x.size(1)));
  double value = 0;
  for (int i = 0; i < 50; ++i) {
    const Tensor w = torch::matmul(x.t(), torch::matmul(x, v));
    const double norm = w.norm().item<double>();
    if (norm <= 0) return 0;
    const double previous = value;
    value = norm;
    v = w / norm;
    if (std::abs(value - previous) <= 1e-4 * value) break;
  }
  return 1.05 * value / static_cast<double>(x.size(0));
}

Tensor soft_threshold(const Tensor& w, double threshold) { return w.sign() * (w.abs() - threshold).clamp_min(0); }

struct Fit {
  int iterations = 0;
  bool converged = false;
};

// The smooth part's value alone (one matrix product).
double smooth_value(const Tensor& x, const Tensor& y, const Tensor& weight, const Tensor& bias, double l2) {
  const Tensor log_p = torch::log_softmax(torch::addmm(bias, x, weight.t()), 1);
  return cross_entropy_sum(log_p, y) / static_cast<double>(x.size(0)) + 0.5 * l2 * weight.pow(2).sum().item<double>();
}

// FISTA on one λ from (weight, bias), which it updates in place. The step is 1/L with L
// found by backtracking (doubled until the quadratic model bounds the objective at the
// new point) and let down by 10 % each iteration, never above `lipschitz` (the global
// bound, where the model always holds): the softmax's curvature is far below Böhning's ½
// while the predictions are spread over many classes, so the global step alone crawls.
// `estimate` carries L from one λ to the next.
Fit fista(const Tensor& x, const Tensor& y, Tensor& weight, Tensor& bias, double l1, double l2, double lipschitz,
          double& estimate, int max_iterations, double tolerance) {
  Tensor z = weight.clone(), zb = bias.clone();
  double t = 1;
  Fit fit;
  for (fit.iterations = 1; fit.iterations <= max_iterations; ++fit.iterations) {
    const SmoothObjective g = smooth_objective(x, y, z, zb, l2);
    Tensor next, next_b;
    for (estimate = std::min(lipschitz, 0.9 * estimate);; estimate = std::min(lipschitz, 2 * estimate)) {
      const double step = 1.0 / estimate;
      next = soft_threshold(z - step * g.grad_weight, step * l1);
      next_b = zb - step * g.grad_bias;
      if (estimate >= lipschitz) break;
      const Tensor dw = next - z, db = next_b - zb;
      const double model = g.value + (g.grad_weight * dw).sum().item<double>() +
                           (g.grad_bias * db).sum().item<double>() +
                           0.5 * estimate * (dw.pow(2).sum().item<double>() + db.pow(2).sum().item<double>());
      // Float32 sums: allow for their rounding (about 1e-7 of the value).
      if (smooth_value(x, y, next, next_b, l2) <= model + 1e-6 * std::abs(model)) break;
    }
    const double change =
        std::max((next - weight).abs().max().item<double>(), (next_b - bias).abs().max().item<double>());
    // Adaptive restart (O'Donoghue & Candès, gradient scheme): drop the momentum when the
    // step goes against it.
    const double against =
        ((z - next) * (next - weight)).sum().item<double>() + ((zb - next_b) * (next_b - bias)).sum().item<double>();
    if (against > 0) {
      t = 1;
      z = next;
      zb = next_b;
    } else {
      const double t_next = (1 + std::sqrt(1 + 4 * t * t)) / 2;
      z = next + ((t - 1) / t_next) * (next - weight);
      zb = next_b + ((t - 1) / t_next) * (next_b - bias);
      t = t_next;
    }
    weight = next;
    bias = next_b;
    const double scale = std::max(1.0, weight.abs().max().item<double>());
    if (change <= tolerance * scale) {
      fit.converged = true;
      break;
    }
  }
  fit.iterations = std::min(fit.iterations, max_iterations);
  return fit;
}

}  // namespace

SparseProbe fit_sparse_probe(const Tensor& features, const std::vector<int64_t>& labels,
                             const std::vector<std::string>& classes, const SparseProbeOptions& options,
                             std::vector<std::string> unit_names) {
  if (features.dim() == 2 && static_cast<int64_t>(labels.size()) != features.size(0))
    throw ArgumentError("labels", std::to_string(labels.size()),
                        fmt::format("must be one per feature row ({})", features.size(0)));
  return fit_sparse_probe(features, torch::tensor(labels, torch::kLong), classes, options, std::move(unit_names));
}

SparseProbe fit_sparse_probe(const Tensor& features, const Tensor& targets, const std::vector<std::string>& classes,
                             const SparseProbeOptions& options, std::vector<std::string> unit_names) {
  if (features.dim() != 2) throw ArgumentError("features", "", "must be a (N, D) matrix");
  const int64_t n = features.size(0), D = features.size(1), C = static_cast<int64_t>(classes.size());
  if (C < 2) throw ArgumentError("classes", std::to_string(C), "a probe needs at least 2");
  const bool soft = targets.dim() == 2;
  if (!(targets.dim() == 1 && targets.scalar_type() == torch::kLong) &&
      !(soft && targets.is_floating_point() && targets.size(1) == C))
    throw ArgumentError("targets", fmt::format("[{}]", fmt::join(targets.sizes(), ", ")),
                        fmt::format("must be labels (N, long) or probabilities (N, {})", C));
  if (targets.size(0) != n)
    throw ArgumentError("targets", std::to_string(targets.size(0)), fmt::format("must be one per feature row ({})", n));
  if (soft && (targets.min().item<double>() < 0 || (targets.sum(1) - 1).abs().max().item<double>() > 1e-3))
    throw ArgumentError("targets", "", "probabilities must be non-negative and sum to 1 in every row");
  // Labels for the split and the accuracies: the targets' most probable class.
  const Tensor label_tensor = (soft ? targets.argmax(1) : targets).to(torch::kCPU, torch::kLong).contiguous();
  const std::vector<int64_t> labels(label_tensor.data_ptr<int64_t>(), label_tensor.data_ptr<int64_t>() + n);
  if (!soft)
    for (int64_t y : labels)
      if (y < 0 || y >= C) throw ArgumentError("labels", std::to_string(y), fmt::format("not in [0, {})", C));
  if (!(options.l1_ratio > 0 && options.l1_ratio <= 1))
    throw ArgumentError("l1_ratio", fmt::format("{}", options.l1_ratio), "must be in (0, 1]");
  if (options.path < 1) throw ArgumentError("path", std::to_string(options.path), "must be positive");
  if (!(options.lambda_min_ratio > 0 && options.lambda_min_ratio < 1))
    throw ArgumentError("lambda_min_ratio", fmt::format("{}", options.lambda_min_ratio), "must be in (0, 1)");
  if (!(options.neurons_per_class > 0))
    throw ArgumentError("neurons_per_class", fmt::format("{}", options.neurons_per_class), "must be positive");
  if (options.max_iterations < 1)
    throw ArgumentError("max_iterations", std::to_string(options.max_iterations), "must be positive");
  if (!(options.tolerance > 0)) throw ArgumentError("tolerance", fmt::format("{}", options.tolerance), "must be > 0");
  if (!(options.validation >= 0 && options.validation < 1))
    throw ArgumentError("validation", fmt::format("{}", options.validation), "must be in [0, 1)");
  if (unit_names.empty())
    for (int64_t u = 0; u < D; ++u) unit_names.push_back(std::to_string(u));
  if (static_cast<int64_t>(unit_names.size()) != D)
    throw ArgumentError("unit_names", std::to_string(unit_names.size()), fmt::format("must name the {} columns", D));

  const auto split = stratified_split(labels, C, options.validation, options.seed);
  if (split.train.empty()) throw ArgumentError("features", "", "no training rows left after the held-out share");
  torch::NoGradGuard no_grad;
  // Everything lives on the features' device (fit on a GPU by passing CUDA features).
  const torch::Device device = features.device();
  const Tensor all_labels = label_tensor.to(device);
  const Tensor all_targets = soft ? targets.to(device, torch::kFloat) : all_labels;
  const Tensor x_all = features.to(torch::kFloat);
  const Tensor train_index = torch::tensor(split.train, torch::kLong).to(device);
  const Tensor y = all_targets.index_select(0, train_index);
  const Tensor y_labels = all_labels.index_select(0, train_index);

  SparseProbe probe;
  probe.classes = classes;
  probe.units = std::move(unit_names);
  probe.l1_ratio = options.l1_ratio;
  probe.train = static_cast<int64_t>(split.train.size());
  probe.validation = static_cast<int64_t>(split.held.size());
  Tensor x = x_all.index_select(0, train_index);
  probe.mean = x.mean(0);
  probe.std = x.std(0, /*unbiased=*/false).clamp_min(1e-6);
  x = ((x - probe.mean) / probe.std).contiguous();
  Tensor x_held, y_held;
  if (!split.held.empty()) {
    const Tensor held_index = torch::tensor(split.held, torch::kLong).to(device);
    x_held = ((x_all.index_select(0, held_index) - probe.mean) / probe.std).contiguous();
    y_held = all_labels.index_select(0, held_index);
  }

  // Start from no weights and the class priors (the targets' mean) as the bias: the
  // optimum at λ_max. There the weights' gradient is -Yᵀx / n (the columns have mean
  // zero), so no unit enters the model above λ_max = max |gradient| / l1_ratio.
  const Tensor priors = soft ? y.mean(0) : torch::bincount(y, {}, C).to(torch::kFloat) / static_cast<double>(y.size(0));
  Tensor bias = priors.clamp_min(0.5 / static_cast<double>(y.size(0))).log();
  Tensor weight = torch::zeros({C, D}, x.options());
  const double lambda_max =
      smooth_objective(x, y, weight, bias, 0).grad_weight.abs().max().item<double>() / options.l1_ratio;
  // Böhning: the Hessian of the mean cross-entropy in (W, b) is at most ½·[x 1]ᵀ[x 1] / n,
  // and the ones column is orthogonal to the centred features.
  const double lipschitz = 0.5 * std::max(top_eigenvalue(x), 1.0);
  double estimate = lipschitz / C;  // the curvature's scale while the predictions are the priors

  Progress bar("probe: regularization path", options.path, "λ", options.progress);
  Tensor best;
  Tensor best_bias;
  double best_distance = std::numeric_limits<double>::infinity();
  for (int k = 0; k < options.path; ++k) {
    const double fraction = options.path == 1 ? 0.0 : static_cast<double>(k) / (options.path - 1);
    const double lambda = lambda_max * std::pow(options.lambda_min_ratio, fraction);
    const double l1 = lambda * options.l1_ratio, l2 = lambda * (1 - options.l1_ratio);
    const auto start = std::chrono::steady_clock::now();
    const Fit fit =
        fista(x, y, weight, bias, l1, l2, lipschitz + l2, estimate, options.max_iterations, options.tolerance);
    PathPoint p;
    p.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    p.lambda = lambda;
    p.iterations = fit.iterations;
    p.converged = fit.converged;
    const Tensor nonzero = weight.ne(0);
    p.nonzeros_per_class = nonzero.sum().item<double>() / static_cast<double>(C);
    p.units_used = nonzero.any(0).sum().item<int64_t>();
    p.loss = smooth_objective(x, y, weight, bias, l2).value + l1 * weight.abs().sum().item<double>();
    p.train_top1 = top_k_accuracy(torch::addmm(bias, x, weight.t()), y_labels, 1);
    if (x_held.defined()) {
      const Tensor logits = torch::addmm(bias, x_held, weight.t());
      p.validation_top1 = top_k_accuracy(logits, y_held, 1);
      p.validation_top5 = top_k_accuracy(logits, y_held, 5);
    }
    probe.path.push_back(p);
    const double distance = std::abs(p.nonzeros_per_class - options.neurons_per_class);
    if (distance < best_distance) {
      best_distance = distance;
      best = weight.clone();
      best_bias = bias.clone();
      probe.chosen = probe.path.size() - 1;
    }
    bar.set(k + 1);
    if (options.progress)
      fmt::print(stderr,
                 "\nprobe: λ {:.4g}: {:.2f} units per class, {} units, top-1 {:.3f} (held out), {} iterations{}\n",
                 lambda, p.nonzeros_per_class, p.units_used, p.validation_top1, p.iterations,
                 p.converged ? "" : " (not converged)");
    if (!options.full_path && p.nonzeros_per_class >= options.neurons_per_class) break;
  }
  bar.finish();
  probe.weight = best;
  probe.bias = best_bias;
  return probe;
}

ProbeData probe_data_from_folder(CLIP& model, const fs::path& folder, const std::string& point, Reduce reduce,
                                 const std::vector<std::string>& class_names, int batch_size, bool progress) {
  const LabelledImages images = read_labelled_folder(folder, class_names);
  const EncodedImages rows = point_features(model, images.paths, point, reduce, batch_size, progress);
  if (rows.indices.empty()) throw Error(fmt::format("{}: none of its images could be read", folder.string()));
  ProbeData data;
  data.features = rows.embeddings;
  data.classes = images.classes;
  for (const auto& sub : images.folders) data.class_keys.push_back(sub);
  for (size_t i : rows.indices) data.labels.push_back(images.labels[i]);
  data.skipped = static_cast<int64_t>(rows.skipped.size());
  const std::string name = model->resolve_point(point);
  for (int64_t u = 0; u < data.features.size(1); ++u) data.units.push_back(fmt::format("{}:{}", name, u));
  return data;
}

namespace {

// "path,class" or "path<TAB>class" lines; a first line starting "path" is a header.
std::vector<std::pair<std::string, std::string>> read_label_file(const fs::path& file) {
  std::ifstream in(file);
  if (!in) throw Error(fmt::format("{}: cannot open the label file", file.string()));
  std::vector<std::pair<std::string, std::string>> out;
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (trim(line).empty()) continue;
    std::vector<std::string> fields;
    if (const auto tab = line.find('\t'); tab != std::string::npos)
      fields = {line.substr(0, tab), line.substr(tab + 1)};
    else
      fields = csv_fields(line);
    if (number == 1 && ascii_lower(trim(fields[0])) == "path") continue;
    if (fields.size() < 2 || trim(fields[0]).empty() || trim(fields[1]).empty())
      throw Error(fmt::format("{}:{}: expected \"path,class\"", file.string(), number));
    out.emplace_back(std::string(trim(fields[0])), std::string(trim(fields[1])));
  }
  if (out.empty()) throw Error(fmt::format("{}: no labelled images", file.string()));
  return out;
}

// Rows named by paths, selected and labelled by a label file. A label's path matches a
// row's as written, or both made absolute (a row's from the working folder, a label's
// from the label file's folder). Fills labels, classes and class_keys; returns the rows.
std::vector<int64_t> label_rows(const std::vector<std::string>& row_paths, const fs::path& label_file,
                                ProbeData& data) {
  std::map<std::string, int64_t> row_of;
  for (size_t i = 0; i < row_paths.size(); ++i) {
    const fs::path p(row_paths[i]);
    row_of.emplace(p.lexically_normal().string(), static_cast<int64_t>(i));
    row_of.emplace(fs::absolute(p).lexically_normal().string(), static_cast<int64_t>(i));
  }
  const auto labelled = read_label_file(label_file);
  const fs::path base = fs::absolute(label_file).parent_path();
  std::map<std::string, int64_t> class_of;
  std::vector<int64_t> rows;
  for (const auto& [path, name] : labelled) {
    auto it = row_of.find(fs::path(path).lexically_normal().string());
    if (it == row_of.end()) it = row_of.find((base / path).lexically_normal().string());
    if (it == row_of.end()) {
      ++data.skipped;
      continue;
    }
    auto [c, added] = class_of.emplace(name, static_cast<int64_t>(data.classes.size()));
    if (added) {
      data.classes.push_back(name);
      data.class_keys.push_back(name);
    }
    rows.push_back(it->second);
    data.labels.push_back(c->second);
  }
  if (rows.empty())
    throw Error(fmt::format("{}: none of its {} paths names a row (of {})", label_file.string(), labelled.size(),
                            row_paths.size()));
  return rows;
}

}  // namespace

ProbeData probe_data_from_atlas(const fs::path& dir, const std::string& layer_name, const std::string& quantity,
                                const fs::path& label_file) {
  const atlas::Atlas a = atlas::Atlas::open(dir);
  const atlas::LayerInfo& layer = a.layer(layer_name);
  const atlas::Quantity q = atlas::parse_quantity(quantity);
  const auto matrix = a.matrix(layer, q);
  if (!matrix)
    throw Error(fmt::format("{}: keeps no {} matrix for {} (it must be indexed with one)", dir.string(),
                            atlas::quantity_name(q), layer.name));
  std::vector<std::string> paths;
  std::vector<int64_t> columns;
  const int64_t first = a.shard().first;
  for (const auto& [id, path] : a.readable_images()) {
    paths.push_back(path);
    columns.push_back(id - first);
  }
  ProbeData data;
  std::vector<int64_t> selected;
  for (int64_t row : label_rows(paths, label_file, data)) selected.push_back(columns[static_cast<size_t>(row)]);
  const Tensor values = read_npy_tensor(*matrix).to(torch::kFloat);  // (units, images)
  data.features = values.index_select(1, torch::tensor(selected, torch::kLong)).t().contiguous();
  if (torch::isnan(data.features).any().item<bool>())
    throw Error(fmt::format("{}: the matrix has no values for some labelled images", matrix->string()));
  for (int64_t u = 0; u < layer.units; ++u) data.units.push_back(fmt::format("{}:{}", layer.name, u));
  return data;
}

ProbeData probe_data_from_features(const fs::path& npy, const fs::path& label_file) {
  const Tensor features = read_npy_tensor(npy);
  if (features.dim() != 2)
    throw Error(fmt::format("{}: a (rows, units) matrix is needed, not {} dimensions", npy.string(), features.dim()));
  fs::path list = npy;
  list.replace_extension(".paths.txt");
  const auto paths = read_list_file(list, "row paths");
  if (static_cast<int64_t>(paths.size()) != features.size(0))
    throw Error(fmt::format("{}: {} paths for the {} rows of {}", list.string(), paths.size(), features.size(0),
                            npy.filename().string()));
  ProbeData data;
  const auto rows = label_rows(paths, label_file, data);
  data.features = features.to(torch::kFloat).index_select(0, torch::tensor(rows, torch::kLong)).contiguous();
  for (int64_t u = 0; u < features.size(1); ++u) data.units.push_back(std::to_string(u));
  return data;
}

void write_probe_matrix(const fs::path& png, const SparseProbe& probe, const std::vector<size_t>& classes) {
  std::vector<int64_t> units;
  for (size_t c : classes) {
    if (c >= probe.classes.size())
      throw ArgumentError("classes", std::to_string(c), fmt::format("not below {}", probe.classes.size()));
    for (const auto& [u, w] : probe.class_units(c))
      if (w > 0 && std::find(units.begin(), units.end(), u) == units.end()) units.push_back(u);
  }
  plot::Heatmap map;
  map.title = fmt::format("Sparse probe: positive weights ({:.1f} units per class)",
                          probe.path.empty() ? 0.0 : probe.path[probe.chosen].nonzeros_per_class);
  for (size_t c : classes) {
    map.row_labels.push_back(probe.classes[c]);
    std::vector<double> row;
    for (int64_t u : units) row.push_back(std::max(0.0, probe.weight[static_cast<int64_t>(c)][u].item<double>()));
    map.values.push_back(row);
  }
  for (int64_t u : units) map.column_labels.push_back(probe.units[static_cast<size_t>(u)]);
  if (units.empty()) {
    map.column_labels.push_back("(no positive weights)");
    for (auto& row : map.values) row.push_back(0);
  }
  plot::write_heatmap(png, map);
}

void write_probe_path(const fs::path& png, const SparseProbe& probe) {
  plot::Scatter chart;
  chart.title = "Sparse probe: held-out accuracy along the regularization path";
  chart.x_label = "mean units per class";
  chart.y_label = "held-out accuracy";
  plot::PointSeries top1{"top-1", {}, {}, {}}, top5{"top-5", {}, {}, {}};
  for (const auto& p : probe.path) {
    top1.x.push_back(p.nonzeros_per_class);
    top1.y.push_back(p.validation_top1);
    top5.x.push_back(p.nonzeros_per_class);
    top5.y.push_back(p.validation_top5);
  }
  chart.series = {top5, top1};
  chart.joined = 0;
  chart.marker = 7;
  plot::write_scatter(png, chart);
}

}  // namespace clipscope::abstractions
