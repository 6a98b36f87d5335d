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

// softmax(a · similarity) over concepts, row block by row block, in place when allowed.
Tensor concept_probabilities(const Tensor& similarity, double a, bool consume) {
  Tensor p = similarity.scalar_type() == torch::kFloat && similarity.is_contiguous()
                 ? (consume ? similarity : similarity.clone())
                 : similarity.to(torch::kFloat).contiguous();
  constexpr int64_t kRows = 2048;
  for (int64_t start = 0; start < p.size(0); start += kRows) {
    Tensor rows = p.narrow(0, start, std::min(kRows, p.size(0) - start));
    rows.mul_(a);
    rows.sub_(rows.logsumexp(1, /*keepdim=*/true)).exp_();
  }
  return p;
}

// log P(d | E_u) for every unit: sum over its top_k images of log(1 + p_i (P[i, d] - 1) + min_prob),
// p_i = in_set[i] (1 for WPMI). (U, D) float.
Tensor log_p_given_examples(const Tensor& probabilities, const Tensor& activations, const Tensor& in_set,
                            double min_prob, int64_t chunk) {
  const int64_t top_k = in_set.size(0), units = activations.size(1);
  const Tensor top = std::get<1>(activations.topk(top_k, 0));  // (k, U)
  const Tensor p = in_set.view({top_k, 1, 1});
  Tensor out = torch::empty({units, probabilities.size(1)}, torch::kFloat);
  for (int64_t start = 0; start < units; start += chunk) {
    const int64_t end = std::min(units, start + chunk);
    const Tensor rows = top.slice(1, start, end).reshape({-1});                            // (k * c)
    Tensor gathered = probabilities.index_select(0, rows).view({top_k, end - start, -1});  // (k, c, D)
    gathered.sub_(1).mul_(p).add_(1 + min_prob).log_();
    Tensor rows_out = out.narrow(0, start, end - start);
    torch::sum_out(rows_out, gathered, {0});
  }
  return out;
}

Tensor pmi(const Tensor& log_given, double lambda) {
  const Tensor log_prior =
      torch::logsumexp(log_given, 0, /*keepdim=*/true) - std::log(static_cast<double>(log_given.size(0)));
  return log_given - lambda * log_prior;
}

}  // namespace

Tensor soft_wpmi(const Tensor& similarity, const Tensor& activations, const SoftWpmiOptions& o) {
  check_inputs(similarity, activations, o.top_k, o.chunk);
  const Tensor in_set = o.p_start - torch::arange(o.top_k, torch::kFloat) / o.top_k * (o.p_start - o.p_end);  // by rank
  const Tensor probabilities = concept_probabilities(similarity, o.a, o.consume_similarity);
  return pmi(log_p_given_examples(probabilities, activations, in_set, o.min_prob, o.chunk), o.lambda);
}

Tensor wpmi(const Tensor& similarity, const Tensor& activations, const WpmiOptions& o) {
  check_inputs(similarity, activations, o.top_k, o.chunk);
  const Tensor probabilities = concept_probabilities(similarity, o.a, o.consume_similarity);
  return pmi(log_p_given_examples(probabilities, activations, torch::ones({o.top_k}), o.min_prob, o.chunk), o.lambda);
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
