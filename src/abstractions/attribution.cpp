#include "abstractions/attribution.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <algorithm>

#include "core/util/error.h"
#include "zeroshot/zeroshot.h"

namespace clipscope::abstractions {

const std::vector<std::string>& emotion_templates() {
  static const std::vector<std::string> templates = {"i am feeling {}", "Me feeling {} on my face",
                                                     "a photo of me with a {} expression on my face"};
  return templates;
}

std::vector<std::string> attribution_points(CLIPImpl& model) {
  if (auto* resnet = dynamic_cast<ModifiedResNet*>(model.visual.get())) {
    const auto stages = resnet->stages.size();
    return {model.resolve_point(fmt::format("visual.layer{}", stages)),
            model.resolve_point(fmt::format("visual.layer{}.{}", stages, resnet->stages.back()->size() - 1))};
  }
  if (auto* vit = dynamic_cast<VisionTransformer*>(model.visual.get()))
    return {
        model.resolve_point(fmt::format("visual.transformer.resblocks.{}", vit->transformer->resblocks->size() - 1))};
  return {};
}

torch::Tensor unit_directions(CLIPImpl& model, const std::string& point) {
  const auto points = attribution_points(model);
  std::string canonical;
  try {
    canonical = model.resolve_point(point);
  } catch (const Error&) {}
  if (std::find(points.begin(), points.end(), canonical) == points.end())
    throw Error(fmt::format("point '{}' has no direction in the embedding space: only the last layer does ({})", point,
                            fmt::join(points, ", ")));
  torch::NoGradGuard no_grad;
  torch::Tensor d;
  if (auto* resnet = dynamic_cast<ModifiedResNet*>(model.visual.get()))
    d = resnet->attnpool->c_proj->weight.matmul(resnet->attnpool->v_proj->weight).t();  // (units, embed)
  else if (auto* vit = dynamic_cast<VisionTransformer*>(model.visual.get()))
    d = vit->ln_post->weight.unsqueeze(1) * vit->proj;  // ln_post's gain, then the projection
  return d.to(torch::kCPU, torch::kFloat32).contiguous();
}

std::vector<std::pair<int64_t, double>> Attribution::top(size_t t, int64_t k) const {
  const auto row = scores[static_cast<int64_t>(t)];
  const auto [values, units] = row.topk(std::min<int64_t>(k, row.size(0)));
  std::vector<std::pair<int64_t, double>> out;
  for (int64_t i = 0; i < values.size(0); ++i) out.emplace_back(units[i].item<int64_t>(), values[i].item<double>());
  return out;
}

Attribution attribute_texts(CLIP& model, const Tokenizer& tokenizer, const std::vector<std::string>& texts,
                            const AttributionOptions& options) {
  if (texts.empty()) throw Error("attribution: no texts given");
  Attribution a;
  const auto points = attribution_points(*model);
  if (points.empty()) throw Error("attribution: the model's image tower has no affine last step");
  a.point = options.point.empty() ? points.front() : model->resolve_point(options.point);
  const torch::Tensor directions = unit_directions(*model, a.point);
  const torch::Tensor embeddings =
      zero_shot_weights(model, tokenizer, texts, options.templates, options.truncate).to(torch::kCPU, torch::kFloat32);
  a.texts = texts;
  a.scores = embeddings.matmul(directions.t());  // (texts, units)
  if (options.center) {
    if (texts.size() < 2) throw Error("attribution: centering needs at least two texts");
    a.scores = a.scores - a.scores.mean(0, true);
  }
  a.scores = a.scores.contiguous();
  return a;
}

}  // namespace clipscope::abstractions
