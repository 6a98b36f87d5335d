#include "labels/similarity.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <cmath>
#include <string>

#include "core/util/error.h"

using torch::Tensor;

namespace clipscope::labels {

namespace {

void check_inputs(const Tensor& similarity, const Tensor& activations, int top_k, int64_t chunk) {
  if (similarity.dim() != 2 || activations.dim() != 2)
    throw ArgumentError("similarity", "", "expected (images, concepts) similarities and (images, units) activations");
  if (similarity.size(0) != activations.size(0))
    throw ArgumentError("activations", std::to_string(activations.size(0)),
                        fmt::format("images, but the similarities have {}", similarity.size(0)));
  if (top_k < 1 || top_k > activations.size(0))
    throw ArgumentError("top_k", std::to_string(top_k),
                        fmt::format("must be in [1, {}] (the images)", activations.size(0)));
  if (chunk < 1) throw ArgumentError("chunk", std::to_string(chunk), "must be positive");
}

// log P(d | E_u) for every unit: sum over its top_k images of log(1 + p_i (P[i, d] - 1) + min_prob),
// p_i = in_set[i] (1 for WPMI). (U, D) double.
Tensor log_p_given_examples(const Tensor& probabilities, const Tensor& activations, const Tensor& in_set,
                            double min_prob, int64_t chunk) {
  const int64_t top_k = in_set.size(0), units = activations.size(1);
  const Tensor top = std::get<1>(activations.topk(top_k, 0));  // (k, U)
  const Tensor p = in_set.view({top_k, 1, 1});
  std::vector<Tensor> parts;
  for (int64_t start = 0; start < units; start += chunk) {
    const int64_t end = std::min(units, start + chunk);
    const Tensor rows = top.slice(1, start, end).reshape({-1});                                  // (k * c)
    const Tensor gathered = probabilities.index_select(0, rows).view({top_k, end - start, -1});  // (k, c, D)
    parts.push_back(torch::log(1 + p * (gathered - 1) + min_prob).sum(0));
  }
  return torch::cat(parts, 0);
}

Tensor pmi(const Tensor& log_given, double lambda) {
  const Tensor log_prior =
      torch::logsumexp(log_given, 0, /*keepdim=*/true) - std::log(static_cast<double>(log_given.size(0)));
  return log_given - lambda * log_prior;
}

}  // namespace

Tensor soft_wpmi(const Tensor& similarity, const Tensor& activations, const SoftWpmiOptions& o) {
  check_inputs(similarity, activations, o.top_k, o.chunk);
  const Tensor probabilities = torch::softmax(o.a * similarity.to(torch::kDouble), 1);
  const Tensor in_set =
      o.p_start - torch::arange(o.top_k, torch::kDouble) / o.top_k * (o.p_start - o.p_end);  // by rank
  return pmi(log_p_given_examples(probabilities, activations.to(torch::kDouble), in_set, o.min_prob, o.chunk), o.lambda)
      .to(torch::kFloat);
}

Tensor wpmi(const Tensor& similarity, const Tensor& activations, const WpmiOptions& o) {
  check_inputs(similarity, activations, o.top_k, o.chunk);
  const Tensor probabilities = torch::softmax(o.a * similarity.to(torch::kDouble), 1);
  return pmi(log_p_given_examples(probabilities, activations.to(torch::kDouble), torch::ones({o.top_k}, torch::kDouble),
                                  o.min_prob, o.chunk),
             o.lambda)
      .to(torch::kFloat);
}

Tensor cosine(const Tensor& similarity, const Tensor& activations, bool cubed, double min_norm) {
  check_inputs(similarity, activations, 1, 1);
  Tensor s = similarity.to(torch::kDouble), a = activations.to(torch::kDouble);
  if (cubed) {
    s = (s - s.mean(0, true)).pow(3);
    a = (a - a.mean(0, true)).pow(3);
  }
  s = s / s.norm(2, 0, true).clamp_min(min_norm);
  a = a / a.norm(2, 0, true).clamp_min(min_norm);
  return a.t().matmul(s).to(torch::kFloat);
}

}  // namespace clipscope::labels
