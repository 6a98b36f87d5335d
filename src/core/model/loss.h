#pragma once
// CLIP's training objective, used by training and by experiments that measure it.
#include <torch/types.h>

namespace clipscope {

// CLIP's contrastive loss: the mean of the image->text and text->image
// cross-entropies of the logits (N x N; the diagonal holds the matching pairs).
torch::Tensor contrastive_loss(const torch::Tensor& logits_per_image, const torch::Tensor& logits_per_text);

}  // namespace clipscope
