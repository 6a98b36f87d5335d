#pragma once
// How much of a bottleneck unit's value comes through the shortcut rather than the
// convolutional branch (the circuits follow-up: about 86 % of RN50's last-block channels
// take more than 90 % from the shortcut on their feature visualization). A bottleneck's
// output is relu(branch + shortcut), branch = bn3's output and shortcut = the block's input
// (or its downsample's output); at the cell where the unit's output is largest,
//   share = shortcut / (shortcut + branch)
// which is 1 for a unit that only passes its input on, below 0 or above 1 when the two
// disagree in sign, and undefined (NaN) where the unit is off (shortcut + branch <= 0).
#include <torch/types.h>

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/model/clip.h"

namespace clipscope::circuits {

// Per image and unit of one bottleneck.
struct ResidualShares {
  std::string block;       // canonical, e.g. visual.layer4.2
  torch::Tensor shortcut;  // (images, units): the shortcut's value at the unit's top cell
  torch::Tensor branch;    // (images, units): the branch's value there
  torch::Tensor share;     // (images, units): shortcut / (shortcut + branch), NaN where the unit is off
};

// The bottleneck `name` stands for: a bottleneck ("visual.layer4.2", "4/2/6") or a stage,
// whose output is its last bottleneck's ("visual.layer4"). Throws ArgumentError naming
// `block` for anything else.
std::string bottleneck_of(const CLIPImpl& model, const std::string& name);

// The shares of every unit of `block` (as bottleneck_of accepts it) on a preprocessed
// batch (N, 3, R, R).
ResidualShares residual_shares(CLIP& model, const std::string& block, const torch::Tensor& images);

// A unit's share over the images where it is on: the mean and how many.
struct UnitShare {
  int64_t unit = 0;
  double share = 0;  // NaN when the unit is on in none
  int64_t images = 0;
};

struct ResidualShareSummary {
  std::string block;
  std::vector<UnitShare> units;
  double above_90 = 0;  // share of the units with a defined share that take > 0.9 from the shortcut
  int64_t defined = 0;  // units with a defined share
  nlohmann::json to_json() const;
};

// Each unit's mean share over the images it is on in `shares`, where rows[u] lists the
// image rows to use for unit u (e.g. its own top dataset examples); empty: every row.
ResidualShareSummary summarize(const ResidualShares& shares, const std::vector<std::vector<int64_t>>& rows = {});

struct ResidualShareOptions {
  int batch = 32;
  bool progress = false;
};

// The library entry point: the shares of `block` on image files (each read and
// preprocessed for the model; an unreadable one is skipped and counted in `skipped`),
// summarized per unit over rows[u] (indices into `images`; empty: all).
ResidualShareSummary residual_share(CLIP& model, const std::string& block,
                                    const std::vector<std::filesystem::path>& images,
                                    const std::vector<std::vector<int64_t>>& rows = {},
                                    const ResidualShareOptions& options = {}, int64_t* skipped = nullptr);

// Writes shares.csv (unit, share, images) and shares.png (the histogram of units' shares,
// the fraction above 0.9 in the title) into `dir`.
void write_residual_share(const ResidualShareSummary& summary, const std::filesystem::path& dir);

}  // namespace clipscope::circuits
