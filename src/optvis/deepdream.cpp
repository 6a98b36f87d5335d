#include "optvis/deepdream.h"

#include <fmt/format.h>

#include <cmath>
#include <numeric>

#include "core/util/error.h"
#include "optvis/render.h"
#include "optvis/transforms.h"

namespace clipscope::optvis {

using torch::Tensor;
namespace F = torch::nn::functional;

Tensor gaussian_blur(const Tensor& images, double sigma) {
  if (sigma <= 0) return images;
  const int64_t radius = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(3 * sigma)));
  std::vector<double> kernel;
  for (int64_t k = -radius; k <= radius; ++k) kernel.push_back(std::exp(-0.5 * k * k / (sigma * sigma)));
  const double total = std::accumulate(kernel.begin(), kernel.end(), 0.0);
  // Reflect padding needs the pad to be smaller than the side; replicate beyond that.
  const int64_t pad = std::min({radius, images.size(2) - 1, images.size(3) - 1});
  Tensor x = F::pad(images, F::PadFuncOptions({pad, pad, pad, pad}).mode(torch::kReflect));
  if (pad < radius)
    x = F::pad(x, F::PadFuncOptions({radius - pad, radius - pad, radius - pad, radius - pad}).mode(torch::kReplicate));
  // Separable, as a weighted sum of shifted views: a handful of element-wise ops,
  // much cheaper than a grouped convolution for a 7-tap kernel.
  const int64_t h = images.size(2), w = images.size(3);
  Tensor rows = x.narrow(3, 0, w) * (kernel[0] / total);
  for (size_t k = 1; k < kernel.size(); ++k)
    rows = rows + x.narrow(3, static_cast<int64_t>(k), w) * (kernel[k] / total);
  Tensor out = rows.narrow(2, 0, h) * (kernel[0] / total);
  for (size_t k = 1; k < kernel.size(); ++k)
    out = out + rows.narrow(2, static_cast<int64_t>(k), h) * (kernel[k] / total);
  return out;
}

namespace {

Tensor resized(const Tensor& images, int64_t h, int64_t w) {
  if (images.size(2) == h && images.size(3) == w) return images;
  return F::interpolate(
      images, F::InterpolateFuncOptions().size(std::vector<int64_t>{h, w}).mode(torch::kBilinear).align_corners(false));
}

}  // namespace

Tensor deep_dream(CLIP& model, const Objective& objective, const Tensor& start, const DeepDreamOptions& options) {
  if (options.octaves < 1) throw Error(fmt::format("octaves must be at least 1 (got {})", options.octaves));
  if (options.octave_scale < 1)
    throw Error(fmt::format("octave scale must be at least 1 (got {})", options.octave_scale));
  if (options.steps_per_octave < 1)
    throw Error(fmt::format("steps per octave must be at least 1 (got {})", options.steps_per_octave));
  const int64_t h = start.size(2), w = start.size(3);
  Rng rng(options.seed);
  Tensor image = start.to(model->device(), torch::kFloat32).clamp(0, 1);
  const int total = options.octaves * options.steps_per_octave;
  int step = 0;
  for (int octave = options.octaves - 1; octave >= 0; --octave) {
    const double shrink = std::pow(options.octave_scale, octave);
    const int64_t oh = std::max<int64_t>(8, std::lround(h / shrink)),
                  ow = std::max<int64_t>(8, std::lround(w / shrink));
    // Upscaling the previous octave's dream carries its large-scale structure up.
    image = resized(image, oh, ow).detach();
    for (int i = 0; i < options.steps_per_octave; ++i) {
      const int64_t span = 2 * options.max_shift + 1;
      const int64_t dy = static_cast<int64_t>(rng() % span) - options.max_shift;
      const int64_t dx = static_cast<int64_t>(rng() % span) - options.max_shift;
      Tensor shifted = image.roll({dy, dx}, {2, 3}).detach().requires_grad_(true);
      Tensor value;
      {
        torch::AutoGradMode grad(true);
        ActivationCache cache(objective.points);
        const bool fixed = needs_model_resolution(*model, objective.points);
        Tensor input = shifted;
        if (fixed) input = resized(input, model->config().image_resolution, model->config().image_resolution);
        if (!objective.points.empty()) model->run_image(clip_normalize(input, model->config().normalization), cache);
        value = objective.value(ObjectiveInput{cache, shifted});
        value.backward();
      }
      Tensor g = gaussian_blur(shifted.grad(), options.smoothing_sigma).roll({-dy, -dx}, {2, 3});
      g = g / (g.abs().mean() + 1e-8);
      image = (image + options.step_size * g).clamp(0, 1).detach();
      const double v = value.item<double>();
      if (!std::isfinite(v)) throw Error(fmt::format("the objective became {} at step {}", v, step + 1));
      if (options.on_step) options.on_step(++step, total, v);
    }
  }
  return resized(image, h, w).detach().to(torch::kCPU).contiguous();
}

}  // namespace clipscope::optvis
