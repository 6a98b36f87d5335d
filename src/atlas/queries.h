#pragma once
// Questions asked of a finished atlas about one unit: where in an image its value
// was read, images sampled across its activation range for blind labelling, and
// the conditional probability of labels given the activation (the article's
// appendix plots).
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <torch/types.h>

#include "atlas/atlas.h"

namespace clipscope::atlas {

// A square region of the model's input image (n_px × n_px pixels).
struct PixelBox {
  int x = 0, y = 0, width = 0, height = 0;
};
// The region of the input image a cell covers: its share of the spatial grid, or
// the whole image for pooled layers and a ViT's class token.
PixelBox cell_box(const LayerInfo& layer, int32_t cell, int n_px);
// A square crop of `fraction` of the image side centred on the cell (moved inside
// the image, never smaller than the cell).
PixelBox crop_around(const PixelBox& cell, int n_px, double fraction);

// One unit's per-image values (the atlas's matrix for `quantity`), with the atlas's
// image ids. Throws Error, saying how to get one, when the atlas has no matrix.
struct UnitValues {
  std::vector<float> values;  // NaN for unreadable images
  int64_t first_image = 0;    // values[j] belongs to image first_image + j
  double rms = 0;             // the unit's RMS over images: the "std from zero" unit
};
UnitValues unit_values(const Atlas& atlas, const LayerInfo& layer, int64_t unit, Quantity quantity = Quantity::Max);

// What unit-unit correlations over an atlas's matrix are computed from: each
// unit's values on an evenly spaced sample of at most `max_samples` of the
// matrix's images, centred and scaled to length 1 (an unreadable image counts as
// the unit's mean), so that rows[a] . rows[b] is the Pearson correlation of units
// a and b over the sample. (units, samples) float32. A few seconds for a layer of
// a large atlas: callers that ask often keep the result.
torch::Tensor correlation_rows(const std::filesystem::path& matrix, int64_t max_samples = 8192);

// Buckets uniformly spaced (in RMS units) between the unit's most inhibitory and
// most excitatory value, with up to per_bin images drawn uniformly from each.
struct Bucket {
  double lo = 0, hi = 0;        // in RMS units
  int64_t population = 0;       // images whose value falls in it
  std::vector<int64_t> sample;  // image ids drawn from it
};
std::vector<Bucket> bucket_images(const UnitValues& unit, int bins, int per_bin, uint64_t seed);

// Labels per image id, from a CSV (header naming a `label` column and an `image`
// (id or path) or `path` column) or a JSON-lines file (one object per image with
// its path under "image", relative to the file, and the label under `key`, as the
// synthetic world's labels.jsonl). Paths are matched against the atlas's images;
// rows with an empty label or an image not in the atlas are counted, not fatal.
struct Labels {
  std::map<int64_t, std::string> by_image;
  int64_t unmatched = 0, unlabelled = 0;
};
Labels read_labels(const Atlas& atlas, const std::filesystem::path& file, const std::string& key = "label");

// P(label | bucket) over the labelled images in each bucket.
struct ConditionalProbability {
  std::vector<double> lo, hi;          // bucket edges in RMS units
  std::vector<int64_t> labelled;       // labelled images per bucket
  std::vector<std::string> labels;     // sorted
  std::vector<std::vector<double>> p;  // [label][bucket]
};
ConditionalProbability conditional_probability(const UnitValues& unit, const Labels& labels, int bins);

// Shared bucket edges: bins uniformly spaced between the unit's extremes (RMS units).
std::vector<double> bucket_edges(const UnitValues& unit, int bins);

}  // namespace clipscope::atlas
