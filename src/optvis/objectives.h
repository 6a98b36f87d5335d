#pragma once
// Objectives (lucid's optvis.objectives): what a feature visualization maximizes,
// as small pieces on named points that add, subtract and scale. Each one reads the
// activations captured at its points (any point name of the model, see
// core/model/points.h) or "input", the parameterized images in [0, 1] before the
// transforms, and gives a scalar to maximize. Like lucid's, a piece without a batch
// index averages over the batch; with one, it reads that image only, so one render
// can optimize a different unit in every image of the batch.
#include <torch/torch.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/model/clip.h"
#include "core/model/points.h"

namespace clipscope::optvis {

// The special point name of the parameterized images (N, 3, H, W) in [0, 1].
inline constexpr const char* kInputPoint = "input";

// What an objective reads on one step.
struct ObjectiveInput {
  const ActivationCache& cache;
  const torch::Tensor& input;
  // Batch-first tensor of a point: "input" or a captured point.
  torch::Tensor at(const std::string& point) const;
  Layout layout(const std::string& point) const;
};

struct Objective {
  std::string description;          // printable, e.g. "channel(visual.layer4, 12) - 0.1 * tv(input)"
  std::vector<std::string> points;  // canonical model points it reads (not "input")
  std::function<torch::Tensor(const ObjectiveInput&)> value;  // scalar, to maximize

  Objective operator+(const Objective& other) const;
  Objective operator-(const Objective& other) const;
  Objective operator-() const;
  Objective operator*(double weight) const;
};
Objective operator*(double weight, const Objective& objective);

// Mean of one unit over positions (lucid's channel).
Objective channel(const std::string& point, int64_t unit, std::optional<int64_t> batch = std::nullopt);
// One unit at one position: a convolutional map's cell (x, y) (default: the centre,
// W/2 and H/2) or a token sequence's token x (default: the middle token).
Objective neuron(const std::string& point, int64_t unit, std::optional<int64_t> x = std::nullopt,
                 std::optional<int64_t> y = std::nullopt, std::optional<int64_t> batch = std::nullopt);
// Dot product of every position with `direction` (units), averaged; with
// cosine_power > 0 each dot is multiplied by max(0.1, cos)^cosine_power (lucid's direction).
Objective direction(const std::string& point, const torch::Tensor& direction, double cosine_power = 0,
                    std::optional<int64_t> batch = std::nullopt);
// lucid's diversity: the mean over images of the summed cosine similarity of the
// image's Gram matrix (units x units, over positions) with every other image's.
// A penalty: subtract it (e.g. "- 100 * diversity(visual.layer3)").
Objective diversity(const std::string& point);
// Penalties (subtract them): sum |x - constant|; sqrt(eps + sum (x - constant)^2);
// total variation (sum of absolute differences of neighbouring pixels, per image
// summed); alpha-norm sum |x - mean|^alpha (Mahendran and Vedaldi); mean (x - constant)^2.
Objective l1(const std::string& point = kInputPoint, double constant = 0, std::optional<int64_t> batch = std::nullopt);
Objective l2(const std::string& point = kInputPoint, double constant = 0, std::optional<int64_t> batch = std::nullopt);
Objective total_variation(const std::string& point = kInputPoint, std::optional<int64_t> batch = std::nullopt);
Objective alpha_norm(double alpha = 6, const std::string& point = kInputPoint,
                     std::optional<int64_t> batch = std::nullopt);
Objective mean_square(const std::string& point = kInputPoint, double constant = 0.5);

// The faceted-visualization term of the article's appendix (openai/CLIP-featurevis
// example_facets.py): for each probed layer g with probe weights w (one per unit),
// sum over images b of s_b * w . spatial_sum(g(x) * ReLU(d neuron / d g(x))), the
// gradient taken without a graph (stop-gradient); s_b runs linearly from
// strength_lo to strength_hi across the batch. `neuron` is the objective whose
// facet is shown (its gradient is taken inside).
Objective facet_attribution(const Objective& neuron, const std::string& layer, const torch::Tensor& weights,
                            double strength_lo, double strength_hi);

// A small expression language over the pieces above, e.g.
//   "channel(visual.layer4, 12) - 0.05 * tv() - 100 * diversity(visual.layer3)"
//   "visual.layer4:12"                       (shorthand for channel)
//   "neuron(visual.layer4.2, 7, x=3, y=3, batch=0) + 0.5 * direction(visual.layer4, dir.npy, cossim=1)"
// Terms are [number *] call [* number], joined by + and -. Point names are
// resolved through the model (aliases allowed); a direction is read from .npy.
// Throws Error naming the bad term.
Objective parse_objective(const std::string& expression, const CLIPImpl& model);

}  // namespace clipscope::optvis
