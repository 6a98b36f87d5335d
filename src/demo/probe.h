#pragma once
// The model as the demo report queries it: world scenes rendered to tensors,
// image and text embeddings, unit means at a named point, zero-shot classes; all
// batched and without gradients. Internal to src/demo.
#include <torch/torch.h>

#include <string>
#include <vector>

#include "core/model/clip.h"
#include "core/model/points.h"
#include "core/model/tensor_io.h"
#include "core/raster/text.h"
#include "core/text/tokenizer.h"
#include "demo/batches.h"
#include "world/scene.h"

namespace clipscope::demo {

using world::Scene;

// Everything the report needs from the model, batched and without gradients.
class Probe {
 public:
  Probe(CLIP& model, const Tokenizer& tokenizer, int batch) : model_(model), tokenizer_(tokenizer), batch_(batch) {
    model_->eval();
  }
  int size() const { return static_cast<int>(model_->config().image_resolution); }
  CLIP& model() { return model_; }
  const Tokenizer& tokenizer() const { return tokenizer_; }
  int batch() const { return batch_; }

  torch::Tensor render(std::vector<Scene>& scenes) {
    std::vector<Image> images;
    images.reserve(scenes.size());
    for (Scene& s : scenes) images.push_back(world::render_scene(s, raster_));
    return images_to_tensor(images);
  }
  // (N, D) L2-normalized image embeddings.
  torch::Tensor image_features(const torch::Tensor& images) {
    return batched(images, [&](const torch::Tensor& x) { return normalized(model_->encode_image(x)); });
  }
  // (N, C) spatial means of a point's units.
  torch::Tensor unit_means(const torch::Tensor& images, const std::string& point) {
    const std::string name = model_->resolve_point(point);
    return batched(images, [&](const torch::Tensor& x) {
      ActivationCache cache({name});
      model_->run_image(x, cache);
      return reduce_positions(cache[name], cache.layout(name), Reduce::Mean);
    });
  }
  torch::Tensor text_features(const std::vector<std::string>& texts) {
    const auto tokens = tokenize_batch(tokenizer_, texts, static_cast<int>(model_->config().context_length), true);
    return batched(tokens, [&](const torch::Tensor& t) { return normalized(model_->encode_text(t)); });
  }
  // (K, D) class embeddings: the normalized mean of each class's normalized prompt embeddings.
  torch::Tensor classes(const std::vector<std::vector<std::string>>& prompts) {
    std::vector<torch::Tensor> rows;
    for (const auto& p : prompts) rows.push_back(normalized(text_features(p).mean(0, true)));
    return torch::cat(rows);
  }
  static std::vector<int64_t> classify(const torch::Tensor& features, const torch::Tensor& classes) {
    const auto best = features.matmul(classes.t()).argmax(1).contiguous();
    return {best.data_ptr<int64_t>(), best.data_ptr<int64_t>() + best.numel()};
  }

 private:
  static torch::Tensor normalized(const torch::Tensor& x) { return x / x.norm(2, -1, true); }
  template <typename F>
  torch::Tensor batched(const torch::Tensor& input, F f) {
    torch::NoGradGuard no_grad;
    std::vector<torch::Tensor> parts;
    for (int64_t i = 0; i < input.size(0); i += batch_)
      parts.push_back(f(input.slice(0, i, i + batch_).to(model_->device())).cpu());
    return torch::cat(parts);
  }
  CLIP& model_;
  const Tokenizer& tokenizer_;
  const int batch_;
  TextRasterizer raster_;
};

// The fraction of predictions equal to the expected labels.
inline double fraction(const std::vector<int64_t>& predicted, const std::vector<int64_t>& expected) {
  size_t hits = 0;
  for (size_t i = 0; i < predicted.size(); ++i) hits += predicted[i] == expected[i] ? 1 : 0;
  return predicted.empty() ? 0.0 : static_cast<double>(hits) / static_cast<double>(predicted.size());
}

}  // namespace clipscope::demo
