#include "optvis/render.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <set>

#include "core/image/preprocess.h"
#include "core/util/error.h"

namespace clipscope::optvis {

using torch::Tensor;

bool needs_model_resolution(const CLIPImpl& model, const std::vector<std::string>& points) {
  if (model.config().is_vit()) return true;  // position embeddings fix the input size
  return std::any_of(points.begin(), points.end(), [](const std::string& p) {
    return p.rfind("visual.attnpool", 0) == 0 || p.rfind("visual", 0) != 0;
  });
}

Tensor clip_normalize(const Tensor& images, const Normalization& normalization) {
  const auto options = images.options();
  const auto& m = normalization.mean;
  const auto& s = normalization.std;
  const Tensor mean = torch::tensor({m[0], m[1], m[2]}, options).view({1, 3, 1, 1});
  const Tensor std = torch::tensor({s[0], s[1], s[2]}, options).view({1, 3, 1, 1});
  return (images - mean) / std;
}

namespace {

// The transformed, normalized model input; resized to the model's resolution when its points need it.
Tensor model_input(const Tensor& images, bool fixed, int64_t resolution, const Normalization& normalization) {
  Tensor x = images;
  if (fixed && (x.size(2) != resolution || x.size(3) != resolution))
    x = torch::nn::functional::interpolate(x, torch::nn::functional::InterpolateFuncOptions()
                                                  .size(std::vector<int64_t>{resolution, resolution})
                                                  .mode(torch::kBilinear)
                                                  .align_corners(false));
  return clip_normalize(x, normalization);
}

// Runs the image tower to the objective's points and evaluates it.
Tensor objective_value(CLIP& model, const Objective& objective, const Tensor& images, const Tensor& transformed,
                       bool fixed) {
  std::vector<std::string> points = objective.points;
  ActivationCache cache(points);
  if (!points.empty()) {
    try {
      model->run_image(model_input(transformed, fixed, model->config().image_resolution, model->config().normalization),
                       cache);
    } catch (const c10::Error& e) {
      // e.g. a transformed image too small for a deep layer: say which, on one line.
      std::string why = e.what_without_backtrace();
      why = why.substr(0, why.find('\n'));
      throw Error(fmt::format("the model could not run on {}x{} images up to {}: {}", transformed.size(2),
                              transformed.size(3), fmt::join(points, ", "), why));
    }
  }
  return objective.value(ObjectiveInput{cache, images});
}

}  // namespace

double evaluate(CLIP& model, const Objective& objective, const Tensor& images) {
  // With a graph: facet terms take a gradient inside the objective.
  torch::AutoGradMode grad(true);
  const Tensor x = images.to(model->device()).detach().requires_grad_(true);
  return objective_value(model, objective, x, x, needs_model_resolution(*model, objective.points)).item<double>();
}

namespace {

bool has_gradient(ImageParam& param) {
  for (const Tensor& p : param.parameters())
    if (p.grad().defined() && p.grad().ne(0).any().item<bool>()) return true;
  return false;
}

}  // namespace

std::vector<Snapshot> render(CLIP& model, const Objective& objective, ImageParam& param, const RenderOptions& options) {
  if (options.steps < 1) throw Error(fmt::format("steps must be at least 1 (got {})", options.steps));
  if (options.learning_rate <= 0)
    throw Error(fmt::format("learning rate must be positive (got {})", options.learning_rate));
  std::set<int> keep(options.thresholds.begin(), options.thresholds.end());
  for (int t : keep)
    if (t < 1 || t > options.steps) throw Error(fmt::format("threshold {} is outside the {} steps", t, options.steps));
  keep.insert(options.steps);

  const bool fixed = needs_model_resolution(*model, objective.points);
  torch::optim::Adam adam(param.parameters(), torch::optim::AdamOptions(options.learning_rate));
  Rng rng(options.seed);
  std::vector<Snapshot> out;
  for (int step = 1; step <= options.steps; ++step) {
    Tensor value;
    // Past the first redirect_relu_steps, a step whose gradient is exactly zero (every
    // path to the objective closed by a ReLU: a unit that does not fire for the current
    // image) is taken again with redirected gradients, so a unit dead at the start of the
    // render still gets an image.
    for (bool redirected = step <= options.redirect_relu_steps;; redirected = true) {
      adam.zero_grad();
      const Tensor images = param.image();
      const Tensor transformed = apply_all(options.transforms, images, rng);
      {
        RedirectedReluGuard redirect(redirected);
        value = objective_value(model, objective, images, transformed, fixed);
        (-value).backward();
      }
      if (redirected || has_gradient(param)) break;
    }
    const double v = value.item<double>();
    if (!std::isfinite(v)) throw Error(fmt::format("the objective became {} at step {}", v, step));
    adam.step();
    if (options.on_step) options.on_step(step, v);
    if (keep.count(step)) {
      torch::NoGradGuard no_grad;
      out.push_back({step, param.image().detach().to(torch::kCPU).contiguous(), v});
    }
  }
  return out;
}

}  // namespace clipscope::optvis
