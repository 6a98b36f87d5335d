#include "zeroshot/classifier.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/optim/lbfgs.h>

#include <algorithm>
#include <fstream>
#include <numeric>
#include <random>

#include "core/image/stream.h"
#include "core/model/image_batches.h"
#include "core/model/tensor_io.h"
#include "core/util/error.h"
#include "core/util/files.h"
#include "core/util/strings.h"
#include "zeroshot/zeroshot.h"

namespace clipscope {

namespace fs = std::filesystem;
using torch::Tensor;

Tensor Classifier::logits(const Tensor& embeddings) const {
  Tensor x = embeddings.to(weight.device(), torch::kFloat);
  if (normalize) x = x / x.norm(2, -1, true).clamp_min(1e-12);
  if (mean.defined()) x = (x - mean) / std;
  Tensor out = torch::matmul(x, weight.t());
  if (bias.defined()) out = out + bias;
  return scale * out;
}

size_t Classifier::class_index(const std::string& name, const std::string& parameter) const {
  if (const auto it = std::find(classes.begin(), classes.end(), name); it != classes.end())
    return static_cast<size_t>(it - classes.begin());
  const std::string lower = ascii_lower(name);
  std::vector<size_t> found;
  for (size_t i = 0; i < classes.size(); ++i)
    if (ascii_lower(classes[i]) == lower) found.push_back(i);
  if (found.size() == 1) return found.front();
  throw ArgumentError(parameter, fmt::format("'{}'", name),
                      found.empty() ? fmt::format("not one of the classifier's {} classes", classes.size())
                                    : "matches several classes when case is ignored");
}

Classifier Classifier::to(const torch::Device& device) const {
  Classifier c = *this;
  for (Tensor* t : {&c.weight, &c.bias, &c.mean, &c.std})
    if (t->defined()) *t = t->to(device, torch::kFloat);
  return c;
}

Classifier zero_shot_classifier(CLIP& model, const Tokenizer& tokenizer, const std::vector<std::string>& classes,
                                const std::vector<std::string>& templates, bool truncate) {
  return zero_shot_classifier(model, classes, zero_shot_weights(model, tokenizer, classes, templates, truncate));
}

Classifier zero_shot_classifier(CLIP& model, const std::vector<std::string>& classes, const Tensor& weights) {
  if (weights.dim() != 2 || weights.size(0) != static_cast<int64_t>(classes.size()))
    throw ArgumentError("weights", "", fmt::format("must be one row per class ({})", classes.size()));
  Classifier c;
  c.kind = "zero-shot";
  c.classes = classes;
  c.weight = weights.to(torch::kFloat);
  c.normalize = true;
  c.scale = model->logit_scale.exp().item<double>();
  return c;
}

double top_k_accuracy(const Tensor& logits, const Tensor& labels, int64_t k) {
  if (logits.size(0) == 0) return 0;
  k = std::min<int64_t>(k, logits.size(1));
  const Tensor top = std::get<1>(logits.topk(k, 1));
  return top.eq(labels.unsqueeze(1)).any(1).to(torch::kDouble).mean().item<double>();
}

Split stratified_split(const std::vector<int64_t>& labels, int64_t classes, double held_share, uint64_t seed) {
  std::vector<std::vector<int64_t>> by_class(static_cast<size_t>(classes));
  for (size_t i = 0; i < labels.size(); ++i)
    by_class.at(static_cast<size_t>(labels[i])).push_back(static_cast<int64_t>(i));
  std::mt19937_64 rng(seed);
  Split split;
  for (auto& rows : by_class) {
    std::shuffle(rows.begin(), rows.end(), rng);
    size_t k = static_cast<size_t>(std::llround(held_share * static_cast<double>(rows.size())));
    if (held_share > 0 && k == 0 && rows.size() >= 2) k = 1;
    split.held.insert(split.held.end(), rows.begin(), rows.begin() + static_cast<int64_t>(k));
    split.train.insert(split.train.end(), rows.begin() + static_cast<int64_t>(k), rows.end());
  }
  std::sort(split.train.begin(), split.train.end());
  std::sort(split.held.begin(), split.held.end());
  return split;
}

nlohmann::json ProbeFit::to_json() const {
  return {{"classes", probe.classes.size()},
          {"train_images", train},
          {"validation_images", validation},
          {"train_top1", train_top1},
          {"validation_top1", validation_top1},
          {"validation_top5", validation_top5},
          {"loss", loss},
          {"iterations", iterations}};
}

ProbeFit fit_linear_probe(const Tensor& features, const std::vector<int64_t>& labels,
                          const std::vector<std::string>& classes, const ProbeFitOptions& options) {
  if (features.dim() != 2) throw ArgumentError("features", "", "must be a (N, D) matrix");
  const int64_t n = features.size(0), C = static_cast<int64_t>(classes.size());
  if (static_cast<int64_t>(labels.size()) != n)
    throw ArgumentError("labels", std::to_string(labels.size()), fmt::format("must be one per feature row ({})", n));
  if (C < 2) throw ArgumentError("classes", std::to_string(C), "a probe needs at least 2");
  for (int64_t y : labels)
    if (y < 0 || y >= C) throw ArgumentError("labels", std::to_string(y), fmt::format("not in [0, {})", C));
  if (!(options.l2 >= 0)) throw ArgumentError("l2", fmt::format("{}", options.l2), "must be >= 0");
  if (options.max_iterations < 1)
    throw ArgumentError("max_iterations", std::to_string(options.max_iterations), "must be positive");
  if (!(options.validation >= 0 && options.validation < 1))
    throw ArgumentError("validation", fmt::format("{}", options.validation), "must be in [0, 1)");

  const auto [train, held] = stratified_split(labels, C, options.validation, options.seed);
  if (train.empty()) throw ArgumentError("features", "", "no training rows left after the held-out share");
  const Tensor all_labels = torch::tensor(labels, torch::kLong);
  const Tensor x_all = features.to(torch::kFloat);
  const Tensor train_index = torch::tensor(train, torch::kLong), held_index = torch::tensor(held, torch::kLong);
  const Tensor x = x_all.index_select(0, train_index), y = all_labels.index_select(0, train_index);

  ProbeFit fit;
  Classifier& p = fit.probe;
  p.kind = "linear probe";
  p.classes = classes;
  p.mean = x.mean(0);
  p.std = x.std(0, /*unbiased=*/false).clamp_min(1e-6);
  const Tensor xs = (x - p.mean) / p.std;

  Tensor w = torch::zeros({C, x.size(1)}, torch::kFloat).requires_grad_(true);
  Tensor b = torch::zeros({C}, torch::kFloat).requires_grad_(true);
  torch::optim::LBFGS solver({w, b}, torch::optim::LBFGSOptions(1)
                                         .max_iter(options.max_iterations)
                                         .history_size(20)
                                         .tolerance_grad(1e-6)
                                         .tolerance_change(1e-10)
                                         .line_search_fn("strong_wolfe"));
  int evaluations = 0;
  auto objective = [&] {
    solver.zero_grad();
    Tensor loss = torch::cross_entropy_loss(torch::matmul(xs, w.t()) + b, y) + 0.5 * options.l2 * w.pow(2).sum();
    loss.backward();
    ++evaluations;
    return loss;
  };
  solver.step(objective);  // returns the loss at the start, not at the end
  fit.iterations = evaluations;
  p.weight = w.detach();
  p.bias = b.detach();

  torch::NoGradGuard no_grad;
  fit.loss = (torch::cross_entropy_loss(torch::matmul(xs, p.weight.t()) + p.bias, y) +
              0.5 * options.l2 * p.weight.pow(2).sum())
                 .item<double>();
  fit.train = static_cast<int64_t>(train.size());
  fit.validation = static_cast<int64_t>(held.size());
  fit.train_top1 = top_k_accuracy(p.logits(x), y, 1);
  if (!held.empty()) {
    const Tensor lh = p.logits(x_all.index_select(0, held_index));
    const Tensor yh = all_labels.index_select(0, held_index);
    fit.validation_top1 = top_k_accuracy(lh, yh, 1);
    fit.validation_top5 = top_k_accuracy(lh, yh, 5);
  }
  return fit;
}

namespace {

fs::path weight_path(const fs::path& json) {
  fs::path w = json;
  w.replace_extension(".weight.npy");
  return w;
}

}  // namespace

void save_linear_probe(const fs::path& json, const Classifier& probe, const nlohmann::json& info) {
  if (!probe.weight.defined() || !probe.mean.defined() || !probe.bias.defined())
    throw ArgumentError("probe", "", "has no fitted weights, bias and standardization");
  write_npy_tensor(weight_path(json), probe.weight.to(torch::kCPU, torch::kFloat).contiguous());
  nlohmann::json j = {{"kind", probe.kind},
                      {"classes", probe.classes},
                      {"scale", probe.scale},
                      {"normalize", probe.normalize},
                      {"weight", weight_path(json).filename().string()},
                      {"bias", tensor_values(probe.bias)},
                      {"mean", tensor_values(probe.mean)},
                      {"std", tensor_values(probe.std)}};
  if (!info.is_null()) j["fit"] = info;
  write_file_atomically(json, j.dump(1) + "\n");
}

Classifier load_linear_probe(const fs::path& json) {
  std::ifstream in(json);
  if (!in) throw Error(fmt::format("{}: cannot open the probe", json.string()));
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("{}: not a probe ({})", json.string(), first_line(e.what())));
  }
  Classifier c;
  try {
    c.kind = j.value("kind", "linear probe");
    c.classes = j.at("classes").get<std::vector<std::string>>();
    c.scale = j.value("scale", 1.0);
    c.normalize = j.value("normalize", false);
    c.weight = read_npy_tensor(json.parent_path() / j.at("weight").get<std::string>()).to(torch::kFloat);
    c.bias = torch::tensor(j.at("bias").get<std::vector<float>>());
    c.mean = torch::tensor(j.at("mean").get<std::vector<float>>());
    c.std = torch::tensor(j.at("std").get<std::vector<float>>());
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("{}: not a probe ({})", json.string(), first_line(e.what())));
  }
  const auto C = static_cast<int64_t>(c.classes.size());
  if (c.weight.dim() != 2 || c.weight.size(0) != C || c.bias.numel() != C || c.mean.numel() != c.weight.size(1) ||
      c.std.numel() != c.weight.size(1))
    throw Error(fmt::format("{}: the weights ({}), bias ({}), mean ({}) and classes ({}) do not fit together",
                            json.string(), fmt::join(c.weight.sizes(), "x"), c.bias.numel(), c.mean.numel(), C));
  return c;
}

LabelledImages read_labelled_folder(const fs::path& folder, const std::vector<std::string>& class_names) {
  std::error_code ec;
  if (!fs::is_directory(folder, ec)) throw Error(fmt::format("{}: not a folder", folder.string()));
  std::vector<fs::path> subfolders;
  for (const auto& entry : fs::directory_iterator(folder, ec))
    if (entry.is_directory()) subfolders.push_back(entry.path());
  if (ec) throw Error(fmt::format("{}: cannot read the folder ({})", folder.string(), ec.message()));
  std::sort(subfolders.begin(), subfolders.end());
  if (subfolders.empty()) throw Error(fmt::format("{}: no class subfolders (one per class)", folder.string()));
  if (!class_names.empty() && class_names.size() != subfolders.size())
    throw Error(fmt::format("{}: {} class subfolders, but {} class names", folder.string(), subfolders.size(),
                            class_names.size()));
  LabelledImages out;
  for (size_t c = 0; c < subfolders.size(); ++c) {
    out.folders.push_back(subfolders[c].filename().string());
    out.classes.push_back(class_names.empty() ? out.folders.back() : class_names[c]);
    for (auto& p : collect_image_paths({subfolders[c].string()})) {
      out.paths.push_back(std::move(p));
      out.labels.push_back(static_cast<int64_t>(c));
    }
  }
  return out;
}

ProbeRun fit_probe_on_folder(CLIP& model, const fs::path& folder, const std::vector<std::string>& class_names,
                             const ProbeRunOptions& options) {
  const LabelledImages images = read_labelled_folder(folder, class_names);
  const EncodedImages encoded =
      encode_images(model, images.paths, options.batch_size, options.progress, "probe: image embeddings");
  if (encoded.indices.empty()) throw Error(fmt::format("{}: none of its images could be read", folder.string()));
  std::vector<int64_t> labels;
  for (size_t i : encoded.indices) labels.push_back(images.labels[i]);
  ProbeRun run;
  run.skipped = static_cast<int64_t>(encoded.skipped.size());
  run.fit = fit_linear_probe(encoded.embeddings, labels, images.classes, options.fit);
  return run;
}

}  // namespace clipscope
