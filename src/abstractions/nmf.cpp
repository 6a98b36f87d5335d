#include "abstractions/nmf.h"

#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "core/util/error.h"

namespace clipscope::abstractions {

Nmf nmf(const torch::Tensor& x_in, const NmfOptions& o) {
  if (x_in.dim() != 2) throw Error(fmt::format("nmf: the matrix has {} dimensions, not 2", x_in.dim()));
  const torch::Tensor x = x_in.to(torch::kCPU, torch::kDouble);
  const int64_t rows = x.size(0), columns = x.size(1);
  if (o.factors < 1 || o.factors > std::min(rows, columns))
    throw Error(fmt::format("nmf: factors = {} must be in [1, {}] for a {}x{} matrix", o.factors,
                            std::min(rows, columns), rows, columns));
  if (!torch::isfinite(x).all().item<bool>()) throw Error("nmf: the matrix has a non-finite entry");
  if (x.lt(0).any().item<bool>()) throw Error("nmf: the matrix has a negative entry (split its signs first)");
  const double norm = x.norm().item<double>();
  Nmf r;
  auto generator = at::make_generator<at::CPUGeneratorImpl>(o.seed);
  const double scale = std::sqrt(x.mean().item<double>() / static_cast<double>(o.factors));
  r.w = torch::rand({rows, o.factors}, generator, torch::kDouble) * scale;
  r.h = torch::rand({o.factors, columns}, generator, torch::kDouble) * scale;
  if (norm == 0) {
    r.w.zero_();
    r.h.zero_();
    r.errors.push_back(0);
    return r;
  }
  constexpr double eps = 1e-12;
  for (int it = 0; it < o.iterations; ++it) {
    r.h.mul_(r.w.t().matmul(x) / (r.w.t().matmul(r.w).matmul(r.h) + eps));
    r.w.mul_(x.matmul(r.h.t()) / (r.w.matmul(r.h.matmul(r.h.t())) + eps));
    r.errors.push_back((x - r.w.matmul(r.h)).norm().item<double>() / norm);
    const size_t n = r.errors.size();
    if (n > 10 && r.errors[n - 11] - r.errors[n - 1] < o.tolerance) break;
  }
  return r;
}

torch::Tensor split_signs(const torch::Tensor& x) {
  if (x.dim() != 2) throw Error(fmt::format("split_signs: the matrix has {} dimensions, not 2", x.dim()));
  return torch::cat({x.clamp_min(0), (-x).clamp_min(0)}, 1);
}

}  // namespace clipscope::abstractions
