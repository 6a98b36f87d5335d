#pragma once
// CLIP = image tower (ModifiedResNet or ViT) + causal text Transformer, joined by
// a learned temperature: logits = exp(logit_scale) * cos(image, text). Submodule
// and parameter names are OpenAI's, so a state dict loads key for key.
#include <torch/nn.h>

#include <memory>
#include <string>
#include <vector>

#include "core/model/config.h"
#include "core/model/modules.h"
#include "core/model/points.h"
#include "core/model/precision.h"

namespace clipscope {

struct PointInfo {
  std::string name;
  std::vector<int64_t> shape;  // batch-first, batch dimension omitted
  Layout layout;
  int64_t channels;  // size of the unit dimension
};

class CLIPImpl : public torch::nn::Module {
 public:
  explicit CLIPImpl(const CLIPConfig& config);

  // Image embedding (unnormalized). images: (N, 3, R, R) preprocessed.
  torch::Tensor encode_image(const torch::Tensor& images, ActivationCache* cache = nullptr);
  // Text embedding (unnormalized), pooled at each sequence's end token (argmax id).
  torch::Tensor encode_text(const torch::Tensor& tokens, ActivationCache* cache = nullptr);
  // The same from the token embeddings (N, L, width) instead of the ids, pooled at
  // positions `eot` (N, long): what optimizing text in embedding space differentiates.
  torch::Tensor encode_token_embeddings(const torch::Tensor& embeddings, const torch::Tensor& eot,
                                        ActivationCache* cache = nullptr);
  // (logits_per_image, logits_per_text); `image_cache` also captures image points
  // (with their gradients: training reads them).
  std::pair<torch::Tensor, torch::Tensor> forward(const torch::Tensor& images, const torch::Tensor& tokens,
                                                  ActivationCache* image_cache = nullptr);

  // Runs the image tower only as far as needed to fill `cache` (canonical names of
  // "visual.*" points); text points need run_text. Unknown names throw Error.
  void run_image(const torch::Tensor& images, ActivationCache& cache);
  void run_text(const torch::Tensor& tokens, ActivationCache& cache);

  // Canonical name of a point: resolves aliases ("image_block_4/5/Add_6" ->
  // "visual.layer4.5", "visual.layer4.1.relu3:input" -> "visual.layer4.1.add").
  // Throws Error for names that are not points of this model.
  std::string resolve_point(const std::string& name) const;
  // Every point with its shape, in execution order (image tower, then text tower).
  const std::vector<PointInfo>& points() const;
  const PointInfo& point(const std::string& canonical_name) const;

  // OpenAI's initialize_parameters (for random-weight models).
  void initialize_parameters();

  // How forward passes compute (see precision.h); a new model is Exact. The fast
  // paths prepare inference-only copies of the weights on the model's current
  // device: call after moving the model, and again after changing its weights.
  // Every path returns fp32 embeddings and captures points with the same names
  // and shapes.
  void set_precision(Precision precision);
  Precision precision() const { return precision_; }

  const CLIPConfig& config() const { return config_; }
  torch::Device device() const { return logit_scale.device(); }

  std::shared_ptr<VisualTower> visual;
  Transformer transformer{nullptr};
  torch::nn::Embedding token_embedding{nullptr};
  torch::Tensor positional_embedding, text_projection, logit_scale;
  torch::nn::LayerNorm ln_final{nullptr};

 private:
  torch::Tensor causal_mask(int64_t n) const;
  void run_tower(bool image_tower, const torch::Tensor& input, ActivationCache& cache);
  CLIPConfig config_;
  Precision precision_ = Precision::Exact;
  mutable std::vector<PointInfo> points_;  // filled lazily by points()
};
TORCH_MODULE(CLIP);

}  // namespace clipscope
