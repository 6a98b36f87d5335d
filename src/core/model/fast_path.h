#pragma once
// The model's inference fast path (--precision fp32/bf16): the pieces the blocks of
// modules.h use beside their exact modules. Kept out of modules.h so that the
// model reads like OpenAI's clip/model.py.
#include <torch/nn.h>

#include <optional>
#include <vector>

namespace clipscope {

// Inference-only copies of weights, made by CLIPImpl::set_precision and never
// trained or saved: batch norms folded into the convolutions before them, weights
// in the compute dtype, convolutions channels-last. The exact modules stay beside
// them, so a block asked for a point the fast path does not have (a convolution's
// output before its batch norm) runs exactly. A module's fast dtype is nullopt
// when the fast path is off.
using FastDtype = std::optional<torch::ScalarType>;

// conv -> batch norm as one convolution: w' = w * g / s, b' = beta - mean * g / s, s = sqrt(var + eps).
struct FoldedConv {
  FoldedConv() = default;
  // bn may be empty (a convolution alone, e.g. the ViT's patch embedding).
  FoldedConv(const torch::nn::Conv2d& conv, const torch::nn::BatchNorm2d& bn, torch::ScalarType dtype);
  torch::Tensor operator()(const torch::Tensor& x) const;
  torch::Tensor weight, bias;
  std::vector<int64_t> stride, padding;
};

// A linear layer's weights in the compute dtype; the input is cast to it.
struct FastLinear {
  FastLinear() = default;
  FastLinear(const torch::Tensor& weight, const torch::Tensor& bias, torch::ScalarType dtype);
  torch::Tensor operator()(const torch::Tensor& x) const;
  explicit operator bool() const { return weight.defined(); }
  torch::Tensor weight, bias;
};

// Activations on the fast path: the compute dtype, channels-last for image maps.
torch::Tensor to_fast(const torch::Tensor& x, torch::ScalarType dtype);

}  // namespace clipscope
