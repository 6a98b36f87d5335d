#pragma once
// Random image transforms applied before every step's forward pass (lucid's
// optvis.transform), so the optimized image must work under small shifts, scalings
// and rotations. Each transform draws one random choice per call and applies it to
// the whole batch, as lucid does. Images are (N, C, H, W) float tensors.
#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

namespace clipscope::optvis {

using Rng = std::mt19937_64;

struct Transform {
  std::string name;  // printable, parseable: "pad(12,0.5)", "jitter(8)", "scale(0.9,1,1.1)", ...
  std::function<torch::Tensor(const torch::Tensor&, Rng&)> apply;
};

// Pads `width` pixels on every side with a constant value.
Transform pad(int64_t width, double value = 0.5);
// A random crop d pixels smaller in each dimension: the offset is uniform in [0, d] on each axis.
Transform jitter(int64_t d);
// Bilinear resize by a factor drawn from `scales` (new side = round(side * scale)).
Transform random_scale(std::vector<double> scales);
// Rotation about the centre by an angle drawn from `degrees` (bilinear, same size, zeros outside).
Transform random_rotate(std::vector<double> degrees);
// Centre crop or pad (constant 0.5) to height x width.
Transform crop_or_pad_to(int64_t height, int64_t width);

torch::Tensor apply_all(const std::vector<Transform>& transforms, const torch::Tensor& images, Rng& rng);

// lucid's standard_transforms: pad(12, 0.5), jitter(8), scale 1 + (i-5)/50 for
// i = 0..10, rotate -10..10 degrees plus five extra 0s, jitter(4).
std::vector<Transform> standard_transforms();
// The faceted-visualization reference's heavier set: pad(2, 0.5), ten jitter(4),
// scale 0.995^n (n = -5..79) and 0.998^n (n = 20..39, twice), rotate -20..19,
// -10..9, -5..4 and five 0s, jitter(2), crop_or_pad_to(resolution).
std::vector<Transform> facet_transforms(int64_t resolution);

// "standard", "facet:RES", "none", or a comma-separated list of the names above:
// "pad(12,0.5),jitter(8),scale(0.9,1,1.1),rotate(-5,0,5),jitter(4),crop(224,224)".
// Throws Error naming the bad piece.
std::vector<Transform> parse_transforms(const std::string& spec);
std::string describe(const std::vector<Transform>& transforms);  // names joined by ", "

}  // namespace clipscope::optvis
