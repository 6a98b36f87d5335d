#pragma once
// Facet probes for faceted feature visualization (Goh et al. 2021, appendix;
// openai/CLIP-featurevis example_facets.py): a logistic-regression probe on the
// spatially averaged activations of a few lower layers that separates images of a
// facet (faces, text, logos, ...) from generic images. Its weights, one per channel
// of each probed layer, become the objective's style_attrs: they multiply raw
// activations (times their gradient), so they are stored in raw-activation units.
#include <torch/types.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "core/model/clip.h"

namespace clipscope::optvis {

struct FacetProbe {
  std::vector<std::string> layers;  // canonical point names, in order
  std::vector<int64_t> channels;    // per layer
  torch::Tensor weights;            // (sum channels) float32, concatenated in layer order
  double bias = 0;
  int64_t facet_images = 0, generic_images = 0, skipped_images = 0;
  // Balanced accuracies (mean of the two classes' accuracies) of the fitted probe on
  // its training split and on the held-out split (NaN when nothing was held out).
  double train_accuracy = 0;
  double holdout_accuracy = 0;
  double l2 = 0;
  std::string model_sha256;  // of the checkpoint the features came from; may be empty

  // The weights of layer i, (channels[i]) — a view into `weights`.
  torch::Tensor layer_weights(size_t i) const;
};

// The reference's facet layers. ModifiedResNet: every other block output of stage 3
// from the first ("visual.layer3.0", "visual.layer3.2", ...: image_block_3/<i>/Add_6,
// the blocks' final ReLUs). ViT: every other residual block of the first ceil(2/3) of
// the transformer ("visual.transformer.resblocks.0", ".2", ...).
std::vector<std::string> default_facet_layers(const CLIP& model);

// (N, sum channels) float32 on the CPU: each layer's spatial (or token) mean,
// concatenated in the order given. One forward with no gradient that stops after the
// last layer; the model runs in eval mode (its mode is restored afterwards) so that a
// row depends on its image only. Layers may be aliases; unknown, text-tower or
// repeated layers throw Error.
torch::Tensor facet_features(CLIP& model, const std::vector<std::string>& layers,
                             const torch::Tensor& images_preprocessed);

// facet_features of every image in `dir` (recursively; .jpg/.jpeg/.png, in sorted
// order, as collect_image_paths lists a folder), decoded and CLIP-preprocessed at the
// model's resolution on worker threads. Unreadable images are skipped and counted in
// `skipped`. Progress on stderr when `progress`. Throws Error when `dir` is not a
// directory.
torch::Tensor folder_features(CLIP& model, const std::vector<std::string>& layers, const std::filesystem::path& dir,
                              int batch_size, int64_t& skipped, bool progress);

struct FitOptions {
  // Ridge penalty: 0.5 * l2 * |v|^2 is added to the class-balanced mean log-loss,
  // v being the weights on standardized features (so one l2 suits every layer's scale).
  double l2 = 1e-3;
  int max_iterations = 500;  // L-BFGS iterations
  double holdout = 0.2;      // fraction of each class held out to measure accuracy
  uint64_t seed = 0;         // of the split
};

// Fits the probe (facet = 1, generic = 0) on a seeded, stratified split of the rows;
// classes are weighted equally whatever their counts. `layers` and `channels` of the
// result are left empty (the caller knows them), skipped_images 0. Throws Error when
// either class has fewer than 2 rows or the features do not match.
FacetProbe fit_facet_probe(const torch::Tensor& facet_features, const torch::Tensor& generic_features,
                           const FitOptions& options = {});

// Writes the weights as a float32 .npy at `npy` and the rest as JSON beside it (same
// stem, .json). Throws Error when layers/channels do not account for the weights.
void save_facet_probe(const FacetProbe& probe, const std::filesystem::path& npy);
// Reads both back; throws Error naming the file and the problem (missing or invalid
// JSON, missing fields, weights that do not match the channels).
FacetProbe load_facet_probe(const std::filesystem::path& npy);
// The sidecar JSON path of a probe's .npy.
std::filesystem::path facet_probe_json_path(const std::filesystem::path& npy);

}  // namespace clipscope::optvis
