#include "core/model/loss.h"

#include <torch/nn/functional/loss.h>
#include <torch/torch.h>

namespace clipscope {

torch::Tensor contrastive_loss(const torch::Tensor& logits_per_image, const torch::Tensor& logits_per_text) {
  const auto labels = torch::arange(logits_per_image.size(0),
                                    torch::TensorOptions().dtype(torch::kLong).device(logits_per_image.device()));
  return (torch::nn::functional::cross_entropy(logits_per_image, labels) +
          torch::nn::functional::cross_entropy(logits_per_text, labels)) /
         2;
}

}  // namespace clipscope
