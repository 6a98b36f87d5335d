#include "abstractions/intervene.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include "core/util/error.h"
#include "zeroshot/zeroshot.h"

namespace clipscope::abstractions {

torch::Tensor edited_image_features(CLIP& model, const torch::Tensor& images, const std::vector<PointEdit>& edits) {
  ActivationCache cache({}, /*stop_early=*/false);
  for (const PointEdit& e : edits) {
    const std::string point = model->resolve_point(e.point);
    if (point.rfind("visual", 0) != 0)
      throw Error(fmt::format("edit of {}: the point is in the text tower, not the image tower", e.point));
    cache.edit(point, e.edit);
  }
  const torch::Tensor features = model->encode_image(images.to(model->device()), &cache);
  if (const auto missed = cache.unapplied_edits(); !missed.empty())
    throw Error(fmt::format("edit of {}: the forward pass does not edit this point (attention patterns are read-only)",
                            fmt::join(missed, ", ")));
  return features;
}

InterventionResult intervene(CLIP& model, const Tokenizer& tokenizer, const torch::Tensor& images,
                             const std::vector<PointEdit>& edits, const std::vector<std::string>& labels,
                             const std::vector<std::string>& templates) {
  if (labels.empty()) throw Error("intervention: no labels to compare");
  torch::NoGradGuard no_grad;
  const torch::Tensor classes = zero_shot_weights(model, tokenizer, labels, templates).to(torch::kFloat32);
  auto logits = [&](torch::Tensor f) {
    f = f.to(torch::kFloat32);
    f = f / f.norm(2, -1, true).clamp_min(1e-12);
    return (model->logit_scale.exp().to(torch::kFloat32) * f.matmul(classes.t())).to(torch::kCPU);
  };
  InterventionResult r;
  r.labels = labels;
  r.after = logits(edited_image_features(model, images, edits));
  r.before = logits(model->encode_image(images.to(model->device())));
  return r;
}

}  // namespace clipscope::abstractions
