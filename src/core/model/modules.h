#pragma once
// The building blocks of OpenAI's clip/model.py, with the same submodule names so
// that state-dict keys match one to one. Each block knows its full path (e.g.
// "visual.layer4.2") and marks its intermediate values in an ActivationCache.
// Everything is out of place (OpenAI's ReLUs are inplace) so captured tensors are
// never overwritten.
#include <torch/nn.h>

#include <optional>
#include <string>
#include <vector>

#include "core/model/config.h"
#include "core/model/fast_path.h"
#include "core/model/points.h"
#include "core/model/redirected_relu.h"

namespace clipscope {

// ----- ModifiedResNet -----------------------------------------------------------

// AvgPool -> 1x1 conv -> BN on the shortcut of strided / widening bottlenecks
// (OpenAI's downsample Sequential: "-1" avgpool, "0" conv, "1" bn).
struct DownsampleImpl : torch::nn::Module {
  DownsampleImpl(int64_t in, int64_t out, int64_t stride);
  int64_t stride;
  torch::nn::Conv2d conv{nullptr};
  torch::nn::BatchNorm2d bn{nullptr};
};
TORCH_MODULE(Downsample);

// Anti-aliased bottleneck: strided convs are replaced by a 2x2 avgpool after conv2.
struct BottleneckImpl : torch::nn::Module {
  BottleneckImpl(std::string path, int64_t inplanes, int64_t planes, int64_t stride);
  torch::Tensor forward(const torch::Tensor& x, ActivationCache* cache = nullptr);
  void set_fast(FastDtype dtype);

  std::string path;
  int64_t stride;
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv3{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr}, bn2{nullptr}, bn3{nullptr};
  Downsample downsample{nullptr};

 private:
  std::vector<FoldedConv> folded_;  // conv1..3 (+ downsample) with their norms; empty = exact only
};
TORCH_MODULE(Bottleneck);

// Multi-head QKV attention pooling over the spatial grid, queried by the mean token.
struct AttentionPool2dImpl : torch::nn::Module {
  AttentionPool2dImpl(std::string path, int64_t spacial_dim, int64_t embed_dim, int64_t num_heads, int64_t output_dim);
  torch::Tensor forward(const torch::Tensor& x, ActivationCache* cache = nullptr);
  void set_fast(FastDtype dtype);

  std::string path;
  int64_t num_heads;
  torch::Tensor positional_embedding;
  torch::nn::Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, c_proj{nullptr};

 private:
  // Fast path: k and v projected by one matrix product over all tokens.
  FastLinear fast_q_, fast_kv_, fast_c_;
  torch::Tensor fast_positional_embedding_;
};
TORCH_MODULE(AttentionPool2d);

// The image towers share this interface; `forward` returns the image embedding.
struct VisualTower : torch::nn::Module {
  virtual torch::Tensor forward(const torch::Tensor& images, ActivationCache* cache) = 0;
  virtual void set_fast(FastDtype dtype) = 0;
};

struct ModifiedResNet : VisualTower {
  ModifiedResNet(const std::vector<int64_t>& layers, int64_t output_dim, int64_t heads, int64_t input_resolution,
                 int64_t width);
  torch::Tensor forward(const torch::Tensor& images, ActivationCache* cache) override;
  void set_fast(FastDtype dtype) override;

  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv3{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr}, bn2{nullptr}, bn3{nullptr};
  std::vector<torch::nn::ModuleList> stages;  // layer1..layer4
  AttentionPool2d attnpool{nullptr};

 private:
  std::vector<FoldedConv> folded_stem_;  // conv1..3 with their norms; empty = exact only
};

// ----- Transformer ------------------------------------------------------------

// nn.MultiheadAttention's parameters (in_proj_weight/bias, out_proj) and math.
struct MultiheadAttentionImpl : torch::nn::Module {
  MultiheadAttentionImpl(std::string path, int64_t width, int64_t heads);
  // x: (tokens, batch, width); mask: additive (tokens, tokens) or undefined.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& mask, ActivationCache* cache = nullptr);
  void set_fast(FastDtype dtype);

  std::string path;
  int64_t heads;
  torch::Tensor in_proj_weight, in_proj_bias;
  torch::nn::Linear out_proj{nullptr};

 private:
  FastLinear fast_in_, fast_out_;
};
TORCH_MODULE(MultiheadAttention);

// c_fc -> the activation (QuickGELU or GELU; the point is named "gelu" either way, as
// OpenAI's module is) -> c_proj.
struct MlpImpl : torch::nn::Module {
  MlpImpl(std::string path, int64_t width, Activation activation);
  torch::Tensor forward(const torch::Tensor& x, ActivationCache* cache = nullptr);
  void set_fast(FastDtype dtype);
  std::string path;
  Activation activation;
  torch::nn::Linear c_fc{nullptr}, c_proj{nullptr};

 private:
  FastLinear fast_fc_, fast_proj_;
};
TORCH_MODULE(Mlp);

struct ResidualAttentionBlockImpl : torch::nn::Module {
  ResidualAttentionBlockImpl(std::string path, int64_t width, int64_t heads, Activation activation);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& mask, ActivationCache* cache = nullptr);
  void set_fast(FastDtype dtype);

  std::string path;
  MultiheadAttention attn{nullptr};
  torch::nn::LayerNorm ln_1{nullptr}, ln_2{nullptr};
  Mlp mlp{nullptr};
};
TORCH_MODULE(ResidualAttentionBlock);

struct TransformerImpl : torch::nn::Module {
  TransformerImpl(std::string path, int64_t width, int64_t layers, int64_t heads, Activation activation);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& mask, ActivationCache* cache = nullptr);
  void set_fast(FastDtype dtype);
  torch::nn::ModuleList resblocks{nullptr};
};
TORCH_MODULE(Transformer);

struct VisionTransformer : VisualTower {
  VisionTransformer(int64_t input_resolution, int64_t patch_size, int64_t width, int64_t layers, int64_t heads,
                    int64_t output_dim, Activation activation);
  torch::Tensor forward(const torch::Tensor& images, ActivationCache* cache) override;
  void set_fast(FastDtype dtype) override;

  torch::nn::Conv2d conv1{nullptr};
  torch::Tensor class_embedding, positional_embedding, proj;
  torch::nn::LayerNorm ln_pre{nullptr}, ln_post{nullptr};
  Transformer transformer{nullptr};

 private:
  FoldedConv fast_conv1_;  // the patch embedding in the compute dtype
};

torch::Tensor quick_gelu(const torch::Tensor& x);
// quick_gelu or torch's exact (erf) GELU, nn.GELU's default.
torch::Tensor activate(const torch::Tensor& x, Activation activation);

}  // namespace clipscope
