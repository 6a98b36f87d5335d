#pragma once
// Classifiers over CLIP's image embeddings, as the CLIP paper evaluates them: zero-shot
// (cosine with each class's prompt embedding at the model's logit scale) and a linear
// probe (multinomial logistic regression on the embeddings, fitted with L-BFGS as the
// paper's scikit-learn probes are). Both are one Classifier, so every experiment that
// needs "the model's answer" (typographic attacks, in-the-wild photos) takes either.
#include <torch/types.h>

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/model/clip.h"
#include "core/text/tokenizer.h"

namespace clipscope {

struct Classifier {
  std::string kind;  // "zero-shot" or "linear probe"
  std::vector<std::string> classes;
  torch::Tensor weight;  // (C, D)
  torch::Tensor bias;    // (C), or undefined
  // Linear probe: the training features' mean and standard deviation (D), applied
  // before the weights; undefined for zero-shot.
  torch::Tensor mean, std;
  bool normalize = false;  // L2-normalize the embeddings first (zero-shot)
  double scale = 1;        // logits are scale * (weight x + bias)

  // (N, C) logits for (N, D) image embeddings (float, on the weights' device).
  torch::Tensor logits(const torch::Tensor& embeddings) const;
  // The index of a class by name (exact, else the only case-insensitive match);
  // throws ArgumentError naming `parameter` and the value otherwise.
  size_t class_index(const std::string& name, const std::string& parameter = "class") const;
  // The classifier on `device` (the model's).
  Classifier to(const torch::Device& device) const;
};

// Zero-shot over `classes` with `templates` ("{}" for the class; none: the class name
// itself): zero_shot_weights, at the model's logit scale.
Classifier zero_shot_classifier(CLIP& model, const Tokenizer& tokenizer, const std::vector<std::string>& classes,
                                const std::vector<std::string>& templates = {}, bool truncate = false);
// The same with the class embeddings already computed ((C, D), e.g. zero_shot_weights_cached).
Classifier zero_shot_classifier(CLIP& model, const std::vector<std::string>& classes, const torch::Tensor& weights);

struct ProbeFitOptions {
  double l2 = 1e-3;           // λ of the penalty λ/2 ||W||² added to the mean cross-entropy
  int max_iterations = 1000;  // L-BFGS iterations
  double validation = 0.2;    // share of each class's images held out to measure accuracy (0: none)
  uint64_t seed = 0;          // which images are held out
};

struct ProbeFit {
  Classifier probe;
  int64_t train = 0, validation = 0;  // images
  double train_top1 = 0, validation_top1 = 0, validation_top5 = 0;
  double loss = 0;  // the final training objective
  int iterations = 0;
  nlohmann::json to_json() const;  // everything but the weights
};

// Each class's rows split into a training and a held-out part: the same share of every
// class (at least one row of a class with two or more), shuffled with `seed`; both
// parts in row order. Probes of every kind hold out this way.
struct Split {
  std::vector<int64_t> train, held;
};
Split stratified_split(const std::vector<int64_t>& labels, int64_t classes, double held_share, uint64_t seed);

// The share of rows whose label is among the k largest logits ((N, C) against (N)).
double top_k_accuracy(const torch::Tensor& logits, const torch::Tensor& labels, int64_t k);

// Multinomial logistic regression of `labels` (N, values in [0, classes)) on `features`
// (N, D), standardized per dimension, with L-BFGS (strong Wolfe line search). Throws
// ArgumentError for mismatched sizes, a label out of range or an option out of range.
ProbeFit fit_linear_probe(const torch::Tensor& features, const std::vector<int64_t>& labels,
                          const std::vector<std::string>& classes, const ProbeFitOptions& options = {});

// A probe as JSON (kind, classes, scale, mean, std, bias) beside an .npy of its weights
// (NAME.weight.npy for NAME.json), both written atomically; `info` is stored under "fit".
void save_linear_probe(const std::filesystem::path& json, const Classifier& probe, const nlohmann::json& info = {});
// Throws Error naming the file for a missing or malformed probe.
Classifier load_linear_probe(const std::filesystem::path& json);

// Images in a folder with one subfolder per class (ImageNet's layout): classes are the
// subfolders in sorted order, named by `class_names` when given (one name per
// subfolder, in that order: e.g. imagenet_classes.txt for wnid folders).
struct LabelledImages {
  std::vector<std::string> classes;
  std::vector<std::string> folders;  // the class subfolders' names, in the same order
  std::vector<std::filesystem::path> paths;
  std::vector<int64_t> labels;
};
// Throws Error naming the folder when it has no class subfolders, or the names file
// when its count differs from the subfolders'.
LabelledImages read_labelled_folder(const std::filesystem::path& folder,
                                    const std::vector<std::string>& class_names = {});

struct ProbeRunOptions {
  ProbeFitOptions fit;
  int batch_size = 32;
  bool progress = true;
};
struct ProbeRun {
  ProbeFit fit;
  int64_t skipped = 0;  // unreadable images
};
// The probe's entry point: embeds a labelled folder's images with `model` (unreadable
// ones skipped and counted) and fits the probe on the embeddings.
ProbeRun fit_probe_on_folder(CLIP& model, const std::filesystem::path& folder,
                             const std::vector<std::string>& class_names = {}, const ProbeRunOptions& options = {});

}  // namespace clipscope
