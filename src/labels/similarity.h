#pragma once
// CLIP-Dissect's similarity functions (Oikarinen & Weng, "CLIP-Dissect: Automatic
// Description of Neuron Representations"): how well each concept describes each unit,
// from a probing set's activations and CLIP's image-concept similarities.
//
//   similarity   (N images, D concepts): cosines between CLIP's image and concept
//                embeddings (both normalized), as CLIP-Dissect computes them;
//   activations  (N images, U units): each unit's value per image (e.g. spatial mean).
//
// Every function returns (U, D): the score of concept d for unit u, higher is better,
// computed in float as CLIP-Dissect does.
#include <torch/types.h>

#include <cstdint>

namespace clipscope::labels {

// Soft-WPMI, CLIP-Dissect's default. With P = softmax(a · similarity) over concepts and
// E_u the unit's top_k images by activation, the i-th of them counting as "in the
// concept's set" with probability p_i (from p_start down to p_end linearly in rank):
//   log P(d | E_u) = sum_i log(1 + p_i (P[i, d] - 1) + min_prob)
//   log P(d)       = logsumexp_u log P(d | E_u) - log U      (over the layer's units)
//   score          = log P(d | E_u) - lambda · log P(d)
struct SoftWpmiOptions {
  int top_k = 100;
  double a = 10;  // softmax temperature
  double lambda = 1;
  double p_start = 0.998, p_end = 0.97;
  double min_prob = 1e-7;
  int64_t chunk = 16;  // units per pass: memory is chunk × top_k × D floats
  // Overwrite `similarity` with the softmax instead of copying it: the copy is the size of
  // the whole (images × concepts) matrix (8 GB for 100,000 images × 20,000 concepts). Only
  // for a float tensor the caller does not need again.
  bool consume_similarity = false;
};
torch::Tensor soft_wpmi(const torch::Tensor& similarity, const torch::Tensor& activations,
                        const SoftWpmiOptions& options = {});

// WPMI: the same with every top image in the set (log P(d | E_u) = sum_i log(P[i, d] +
// min_prob)) and CLIP-Dissect's WPMI defaults.
struct WpmiOptions {
  int top_k = 28;
  double a = 2;
  double lambda = 0.6;
  double min_prob = 1e-7;
  int64_t chunk = 16;
  bool consume_similarity = false;  // as for soft_wpmi
};
torch::Tensor wpmi(const torch::Tensor& similarity, const torch::Tensor& activations, const WpmiOptions& options = {});

// Cosine over the images between a unit's activations and a concept's similarities
// (each column normalized); `cubed` first centres each column and cubes it, as
// CLIP-Dissect's cos^3 does (columns with a norm under min_norm are divided by min_norm).
torch::Tensor cosine(const torch::Tensor& similarity, const torch::Tensor& activations, bool cubed = false,
                     double min_norm = 1e-3);

}  // namespace clipscope::labels
