#pragma once
// Contributions (the circuits follow-up): how a unit's value splits over the units of an
// earlier point, and how one unit's activation spreads over the units of later points.
// A contribution is activation × gradient summed over positions:
//   contribution(c -> u) = sum over cells p of a_c(p) * d v_u / d a_c(p)
// where v_u is the later unit's value (its spatial mean, or its value at its top cell).
// Where the path between the points is linear (ReLUs that stay on, or taken as the identity)
// the contributions of all units of the earlier point plus the path's biases are exactly the
// value: v_u = sum_c contribution(c -> u) + rest, with rest the value at a = 0.
#include <torch/types.h>

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/model/clip.h"
#include "core/model/points.h"

namespace clipscope::circuits {

// A unit's value: its spatial mean (Reduce::Mean) or its value at its top cell (Reduce::Max).
torch::Tensor unit_values(const torch::Tensor& point, Reduce reduce);  // (N, C, H, W) -> (N, C)

// Backward: every unit of `from` into `to`'s `unit`, on a preprocessed batch.
struct BackwardContributions {
  std::string from, to;
  int64_t unit = 0;
  torch::Tensor values;         // (N): the unit's value
  torch::Tensor contributions;  // (N, channels of from)
  torch::Tensor rest;           // (N): value - sum of the contributions (biases, and where the path bends)
};
BackwardContributions backward_contributions(CLIP& model, const std::string& from, const std::string& to, int64_t unit,
                                             const torch::Tensor& images, Reduce reduce = Reduce::Mean);

// Forward: `from`'s `unit` into every unit of `to`, on a preprocessed batch: one
// Jacobian-vector product (the double-backward trick) per point.
struct ForwardContributions {
  std::string from, to;
  int64_t unit = 0;
  torch::Tensor contributions;  // (N, channels of to)
};
std::vector<ForwardContributions> forward_contributions(CLIP& model, const std::string& from, int64_t unit,
                                                        const std::vector<std::string>& to, const torch::Tensor& images,
                                                        Reduce reduce = Reduce::Mean);

struct ContributionOptions {
  Reduce reduce = Reduce::Mean;
  int batch = 16;
  bool progress = false;
};

// The library entry point, over image files (unreadable ones skipped and counted):
// backward (`unit` is `to[0]`'s; contributions of every unit of `from`) or forward
// (`unit` is `from`'s; its contributions to every unit of each point of `to`), each
// averaged over the images, with the distribution's bimodality per point.
struct ContributionReport {
  bool forward = false;
  std::string from;
  std::vector<std::string> to;
  int64_t unit = 0;
  Reduce reduce = Reduce::Mean;
  int64_t images = 0, skipped = 0;
  double value = 0, rest = 0;  // backward: the unit's mean value, and what the contributions leave
  struct Point {
    std::string point;      // backward: from; forward: each of to
    torch::Tensor mean;     // (units of the point): mean contribution over the images
    double bimodality = 0;  // Sarle's coefficient of `mean` over the units
    double positive = 0;    // share of the units with a positive mean contribution
  };
  std::vector<Point> points;
  nlohmann::json to_json(int top) const;
};
ContributionReport contribution_report(CLIP& model, bool forward, const std::string& from,
                                       const std::vector<std::string>& to, int64_t unit,
                                       const std::vector<std::filesystem::path>& images,
                                       const ContributionOptions& options = {});

// Writes into `dir`: contributions.csv (point, unit, mean contribution), bimodality.csv
// (point, units, bimodality, positive) and one histogram PNG per point.
void write_contributions(const ContributionReport& report, const std::filesystem::path& dir);

// Sarle's bimodality coefficient of a sample, (skewness² + 1) / (excess kurtosis +
// 3 (n - 1)² / ((n - 2)(n - 3))), with the sample skewness and kurtosis corrected for bias:
// above 5/9 (the uniform distribution's value) suggests two modes. NaN for n < 4.
double sarle_bimodality(const torch::Tensor& sample);

}  // namespace clipscope::circuits
