#pragma once
// Interventions (the article's footnote: raise a neuron on a blank image and watch an
// emotion word's logit rise): edit units at named points during the image forward
// and compare zero-shot logits before and after.
#include <torch/types.h>

#include <string>
#include <vector>

#include "core/model/clip.h"
#include "core/model/points.h"
#include "core/text/tokenizer.h"

namespace clipscope::abstractions {

struct PointEdit {
  std::string point;  // any name of the point (resolved by the model)
  UnitEdit edit;
};

struct InterventionResult {
  std::vector<std::string> labels;
  torch::Tensor before, after;  // (images, labels) logits: exp(logit_scale) · cos(image, label)
};

// Logits of `images` (preprocessed, (N, 3, H, W)) against the labels' zero-shot
// embeddings (templates averaged; empty: the label alone), without and with the
// edits. Throws Error for no labels, an unknown point, a unit out of range, or an
// edit the forward could not apply (attention patterns are read, not edited).
InterventionResult intervene(CLIP& model, const Tokenizer& tokenizer, const torch::Tensor& images,
                             const std::vector<PointEdit>& edits, const std::vector<std::string>& labels,
                             const std::vector<std::string>& templates = {});

// The image embeddings of `images` with the edits applied (not normalized); what
// intervene compares. Gradients flow through the edits.
torch::Tensor edited_image_features(CLIP& model, const torch::Tensor& images, const std::vector<PointEdit>& edits);

}  // namespace clipscope::abstractions
