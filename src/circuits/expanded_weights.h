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

// The expanded weights from every unit of `from` to `to`'s `unit` (points as any name
// resolve_point accepts). Throws ArgumentError naming the parameter for a point that is
// not a convolutional map of the image tower, `from` not before `to`, or a unit out of
// range.
ExpandedWeights expanded_weights(CLIP& model, const std::string& from, const std::string& to, int64_t unit,
                                 Rank rank = Rank::L2);

// Writes weights.npy (the whole tensor), ranking.csv (rank, unit, score, l2, max, mean)
// and kernels.png (the top `top` kernels, red positive and blue negative on one scale,
// the centre cell outlined) into `dir`.
void write_expanded_weights(const ExpandedWeights& w, const std::filesystem::path& dir, int top = 16);

}  // namespace clipscope::circuits
