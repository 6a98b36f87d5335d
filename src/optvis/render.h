#pragma once
// The one render loop (lucid's render_vis): parameterized images -> random
// transforms -> CLIP's normalization -> the model, as far as the objective's points
// -> Adam on -objective. Everything about *what* is optimized lives in the
// parameterization, the transforms and the objective.
#include <torch/torch.h>

#include <functional>
#include <optional>
#include <vector>

#include "core/model/clip.h"
#include "optvis/objectives.h"
#include "optvis/param.h"
#include "optvis/transforms.h"

namespace clipscope::optvis {

struct RenderOptions {
  int steps = 512;
  double learning_rate = 0.05;
  // Steps after which the images are kept (1-based, like lucid's thresholds); the
  // last step is always kept.
  std::vector<int> thresholds;
  // The first N steps use redirected ReLU gradients (core/model/modules.h); a later
  // step whose gradient is exactly zero (the unit does not fire) is redone with them.
  int redirect_relu_steps = 16;
  uint64_t seed = 0;  // the transforms' random draws (the parameterization has its own seed)
  std::vector<Transform> transforms = standard_transforms();
  // Called after every step with the step (1-based) and the objective before the update.
  std::function<void(int step, double objective)> on_step;
};

struct Snapshot {
  int step = 0;
  torch::Tensor images;  // (N, 3, H, W) float32 in [0, 1], on the CPU
  double objective = 0;  // at that step (with transforms)
};

// Whether the model needs images at exactly its input resolution to reach these
// points: a ViT always (position embeddings), a ResNet past layer4 (attention pool).
bool needs_model_resolution(const CLIPImpl& model, const std::vector<std::string>& points);

// CLIP's input normalization, (x - mean) / std per channel, differentiable; pass
// the model's config().normalization (OpenAI's mean and std by default).
torch::Tensor clip_normalize(const torch::Tensor& images, const Normalization& normalization = {});

// Evaluates `objective` on images (no transforms), e.g. to report what a render reached.
double evaluate(CLIP& model, const Objective& objective, const torch::Tensor& images);

std::vector<Snapshot> render(CLIP& model, const Objective& objective, ImageParam& param, const RenderOptions& options);

}  // namespace clipscope::optvis
