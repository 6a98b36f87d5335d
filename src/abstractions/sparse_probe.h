#pragma once
// The article's sparse linear probe ("Using Abstractions"): multinomial logistic
// regression of image classes on a layer's units with an L1 (or elastic-net) penalty,
// fitted along a regularization path from the empty model down to a chosen sparsity
// (about 3 units per class in the article), so that each class is read off a handful
// of units and the classes that share units show how the layer organizes them.
//
// The solver is FISTA (Beck & Teboulle 2009) with a constant step from Böhning's bound
// on the softmax Hessian and adaptive restart (O'Donoghue & Candès 2015), warm-started
// along the path; the intercept is not penalized. Debian ships no multinomial L1
// solver (liblinear's L1 logistic regression is one-vs-rest, mlpack's softmax
// regression is L2 only), and the loop is two matrix products per iteration in LibTorch.
#include <torch/types.h>

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/model/clip.h"
#include "core/model/points.h"

namespace clipscope::abstractions {

struct SparseProbeOptions {
  // Penalty λ·(l1_ratio·|W|₁ + (1 − l1_ratio)/2·|W|²) added to the mean cross-entropy,
  // W being the weights on standardized features. 1: the lasso; (0, 1): elastic net.
  double l1_ratio = 1.0;
  int path = 20;                   // λ values, log-spaced from λ_max (no unit used) down
  double lambda_min_ratio = 1e-3;  // the path's last λ as a fraction of λ_max
  // The target: the path point whose mean non-zero weights per class is closest to it
  // is the probe kept; the path stops once it is passed (unless full_path).
  double neurons_per_class = 3;
  bool full_path = false;
  int max_iterations = 500;  // FISTA iterations per λ
  double tolerance = 1e-4;   // stop when no weight moves more than this × the largest weight
  double validation = 0.2;   // share of each class held out for top-1 and top-5
  uint64_t seed = 0;         // of the held-out split
  bool progress = false;     // one line per path point on stderr
};

// One λ of the path, measured after its fit.
struct PathPoint {
  double lambda = 0;
  double nonzeros_per_class = 0;  // mean over classes of the units with a non-zero weight
  int64_t units_used = 0;         // units with a non-zero weight for some class
  double loss = 0;                // the penalized objective on the training rows
  double train_top1 = 0, validation_top1 = 0, validation_top5 = 0;
  int iterations = 0;
  bool converged = false;
  double seconds = 0;  // the fit's wall time
  nlohmann::json to_json() const;
};

struct SparseProbe {
  std::vector<std::string> classes;
  std::vector<std::string> units;  // one name per feature column, e.g. "visual.layer4:17"
  torch::Tensor weight;            // (classes, units) on standardized features, mostly zero
  torch::Tensor bias;              // (classes)
  torch::Tensor mean, std;         // (units): the training rows' standardization
  std::vector<PathPoint> path;
  size_t chosen = 0;  // the path point kept as `weight`
  double l1_ratio = 1;
  int64_t train = 0, validation = 0;  // rows

  // (N, classes) logits of raw (unstandardized) features.
  torch::Tensor logits(const torch::Tensor& features) const;
  // A class's units with a non-zero weight, largest |weight| first (positive and negative).
  std::vector<std::pair<int64_t, double>> class_units(size_t c) const;
  nlohmann::json to_json() const;  // everything but the weight matrix
  std::string path_csv() const;    // lambda,nonzeros_per_class,units_used,loss,train_top1,validation_top1,...
  SparseProbe to(const torch::Device& device) const;  // the tensors moved
};

// The smooth part of the objective (mean cross-entropy plus the L2 share of the
// penalty) and its gradients, at weights W (C, D) and bias b (C) for standardized
// features x (N, D) and targets y: labels (N, long) or probabilities (N, C), the
// cross-entropy then taken against the distribution. Exposed for the gradient check.
struct SmoothObjective {
  double value = 0;
  torch::Tensor grad_weight, grad_bias;
};
SmoothObjective smooth_objective(const torch::Tensor& x, const torch::Tensor& y, const torch::Tensor& weight,
                                 const torch::Tensor& bias, double l2);

// Fits the path on `features` (N, D; any float type, on any device: the fit runs there)
// with `labels` in [0, classes). The probe's tensors are on that device.
// `unit_names` names the columns (default "0", "1", ...). Throws ArgumentError naming
// the parameter for mismatched sizes, labels out of range, fewer than 2 classes or an
// option out of range.
SparseProbe fit_sparse_probe(const torch::Tensor& features, const std::vector<int64_t>& labels,
                             const std::vector<std::string>& classes, const SparseProbeOptions& options = {},
                             std::vector<std::string> unit_names = {});
// The same with `targets` either labels (N, long) or probabilities (N, classes), rows
// summing to 1: the probe then fits the distributions (a sparse student of another
// classifier, as emotion_codes distils the attribution vectors). Rows are split and
// the accuracies measured by each row's most probable class.
SparseProbe fit_sparse_probe(const torch::Tensor& features, const torch::Tensor& targets,
                             const std::vector<std::string>& classes, const SparseProbeOptions& options = {},
                             std::vector<std::string> unit_names = {});

// A probe's inputs: a feature row per image with its class.
struct ProbeData {
  torch::Tensor features;  // (N, units) float
  std::vector<int64_t> labels;
  std::vector<std::string> classes;
  // Per class, what identifies it outside the probe: the subfolder's name (an ImageNet
  // wnid such as n02084071 for WordNet) or the label file's class.
  std::vector<std::string> class_keys;
  std::vector<std::string> units;
  int64_t skipped = 0;  // unreadable or unlabelled images
};
// A labelled folder (one subfolder per class, read as read_labelled_folder does): the
// units of `point` reduced over positions by `reduce`, unreadable images skipped and counted.
ProbeData probe_data_from_folder(CLIP& model, const std::filesystem::path& folder, const std::string& point,
                                 Reduce reduce, const std::vector<std::string>& class_names = {}, int batch_size = 32,
                                 bool progress = false);
// Label files are CSV or TSV lines "path,class" (a header line "path,..." is skipped).
// A label's path matches an image's as written, or both made absolute (a relative label
// path from the label file's folder). Labels naming no image are skipped and counted;
// images without a label are left out. Classes are numbered in order of appearance.
//
// An atlas's full matrix of `layer` (`quantity`: "max" or "mean"; the atlas must have
// been indexed with that matrix) with a label file. Throws Error naming the atlas or
// the file when the matrix is absent, a line is malformed or no image matches.
ProbeData probe_data_from_atlas(const std::filesystem::path& atlas, const std::string& layer,
                                const std::string& quantity, const std::filesystem::path& label_file);
// Rows of a (rows, units) .npy whose rows are named by NAME.paths.txt beside it (what
// `clipscope activations --reduce mean|max` writes) with a label file. Units are named
// by their column. Throws Error naming the file for a matrix of another shape, a paths
// file that does not match the rows, or no labelled row.
ProbeData probe_data_from_features(const std::filesystem::path& npy, const std::filesystem::path& label_file);

// The article's Fig. 8 view: for the chosen classes, every unit with a positive weight
// in one of them, as a heat map of the positive weights (classes × units).
void write_probe_matrix(const std::filesystem::path& png, const SparseProbe& probe, const std::vector<size_t>& classes);
// The path as a plot: held-out top-1 and top-5 against the mean units per class.
void write_probe_path(const std::filesystem::path& png, const SparseProbe& probe);

}  // namespace clipscope::abstractions
