#pragma once
// Deep Dream (the student reproduction's variant): gradient ascent on the image
// itself, octave by octave from a small copy up to full size, each step at a random
// shift (rolled, so no border appears), the gradient Gaussian-smoothed and
// normalized by its mean magnitude so the step size means the same at every layer.
#include <torch/torch.h>

#include <functional>

#include "core/model/clip.h"
#include "optvis/objectives.h"

namespace clipscope::optvis {

struct DeepDreamOptions {
  int octaves = 4;
  double octave_scale = 1.4;  // each octave is this much larger than the previous one
  int steps_per_octave = 32;
  double step_size = 0.01;       // per step, in units of the normalized gradient (image range [0, 1])
  int max_shift = 16;            // random roll of up to this many pixels on each axis
  double smoothing_sigma = 1.0;  // Gaussian sigma (pixels) applied to the gradient
  uint64_t seed = 0;
  std::function<void(int step, int total, double objective)> on_step;
};

// Separable Gaussian blur of (N, C, H, W) with reflect padding (sigma <= 0: unchanged).
torch::Tensor gaussian_blur(const torch::Tensor& images, double sigma);

// Dreams from `start` ((N, 3, H, W) in [0, 1]); returns the final images, same size, on the CPU.
torch::Tensor deep_dream(CLIP& model, const Objective& objective, const torch::Tensor& start,
                         const DeepDreamOptions& options);

}  // namespace clipscope::optvis
