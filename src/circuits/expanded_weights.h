#pragma once
// Expanded weights (Voss et al., "Visualizing Weights"; Captum's extract_expanded_weights):
// the effective kernel between a unit of a later point and every unit of an earlier one,
// through the layers in between with their ReLUs taken as the identity. The network
// between the two points is then affine (convolutions, eval-mode batch norms, average
// pools, residual adds), and the kernel is its Jacobian at the later unit's centre cell:
//   W[c, y, x] = d to[unit, cy, cx] / d from[c, y, x]
// which does not depend on the input. A ResNet's image tower only (ViTs mix positions by
// attention, which is not linear in its input).
#include <torch/types.h>

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "core/model/clip.h"

namespace clipscope::circuits {

// How input units are ranked: the kernel's L2 norm, its largest value (the strongest
// excitation) or its mean (the net effect of a uniform input).
enum class Rank { L2, Max, Mean };
Rank parse_rank(const std::string& name);  // "l2" | "max" | "mean"; throws ArgumentError
std::string rank_name(Rank rank);

// The kernels of many units of `to` at once, as one tensor.
struct ExpandedKernels {
  std::string from, to;            // canonical point names
  std::vector<int64_t> units;      // of `to`, one per row of `weights`
  int64_t cy = 0, cx = 0;          // the centre cell of `to` whose kernels these are
  int64_t from_y = 0, from_x = 0;  // the cell of `from` under it (same relative position)
  torch::Tensor weights;           // (units, channels of from, height of from, width of from), float, CPU
  // The window of `from` the layers in between ran on (the centre cell's receptive field
  // where the grids match; else the whole map), and the time the kernels took.
  int64_t window_y = 0, window_x = 0, window_height = 0, window_width = 0;
  double seconds = 0;
};

struct ExpandedKernelOptions {
  int batch = 64;  // units of `to` per backward pass
  bool progress = false;
};

// The library entry point: the expanded weights from every unit of `from` to each of
// `units` of `to` (points as any name resolve_point accepts). The forward runs once up to
// `from` and the kernels of a batch of units come from one backward pass through the
// layers in between (`from` patched with a batch of zeros: the network is affine there,
// so the Jacobian does not depend on the input). Throws ArgumentError naming the
// parameter for a point that is not a convolutional map of the image tower, `from` not
// before `to`, or a unit out of range.
ExpandedKernels expanded_kernels(CLIP& model, const std::string& from, const std::string& to,
                                 const std::vector<int64_t>& units, const ExpandedKernelOptions& options = {});

// A kernel's score for ranking: (..., height, width) -> (...).
torch::Tensor kernel_scores(const torch::Tensor& kernels, Rank rank);

// The `top` strongest (unit, input unit) pairs of `k` by `rank`, strongest first.
struct Connection {
  int64_t unit = 0, input = 0;
  double score = 0;
};
std::vector<Connection> strongest_connections(const ExpandedKernels& k, Rank rank, int top);

// Writes weights.npy (units, inputs, height, width), units.csv (the rows' units) and
// strongest.csv (the `top` input units of every unit by `rank`: unit, rank, input, score,
// l2, max, mean) into `dir`.
void write_expanded_kernels(const ExpandedKernels& k, const std::filesystem::path& dir, Rank rank, int top);

struct ExpandedWeights {
  std::string from, to;            // canonical point names
  int64_t unit = 0;                // of `to`
  int64_t cy = 0, cx = 0;          // the centre cell of `to` whose kernel this is
  int64_t from_y = 0, from_x = 0;  // the cell of `from` under it (same relative position)
  torch::Tensor weights;           // (channels of from, height of from, width of from), float, CPU
  Rank rank = Rank::L2;
  std::vector<std::pair<int64_t, double>> ranked;  // (input unit, score), best first
  nlohmann::json to_json(int top) const;           // the ranking, top entries
};

// One unit's kernels (expanded_kernels of {unit}) with every input unit ranked.
ExpandedWeights expanded_weights(CLIP& model, const std::string& from, const std::string& to, int64_t unit,
                                 Rank rank = Rank::L2);

// Writes weights.npy (the whole tensor), ranking.csv (rank, unit, score, l2, max, mean)
// and kernels.png (the top `top` kernels, red positive and blue negative on one scale,
// the centre cell outlined) into `dir`.
void write_expanded_weights(const ExpandedWeights& w, const std::filesystem::path& dir, int top = 16);

}  // namespace clipscope::circuits
