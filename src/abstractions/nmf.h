#pragma once
// Non-negative matrix factorization X ≈ W H (Lee & Seung 2001's multiplicative
// updates for the Frobenius norm), as the article uses it to make an atlas of
// emotion words from their attribution vectors and as lucid uses it on activations.
#include <torch/types.h>

#include <cstdint>
#include <vector>

namespace clipscope::abstractions {

struct NmfOptions {
  int64_t factors = 2;
  int iterations = 500;
  double tolerance = 1e-6;  // stop when the relative error improves by less over 10 iterations
  uint64_t seed = 0;        // W and H start uniform in [0, sqrt(mean(X) / factors)), as scikit-learn's "random"
};

struct Nmf {
  torch::Tensor w;  // (rows, factors), >= 0, fp64
  torch::Tensor h;  // (factors, columns), >= 0, fp64
  // ||X - W H||_F / ||X||_F after each iteration (non-increasing).
  std::vector<double> errors;
};

// Throws Error for a matrix that is not 2-D, has a negative or non-finite entry, or
// for factors outside [1, min(rows, columns)].
Nmf nmf(const torch::Tensor& x, const NmfOptions& options = {});

// A signed matrix (rows, columns) as a non-negative one (rows, 2 columns): each column
// split into its positive part and its negative part's magnitude, so that NMF sees a
// unit that lowers a logit as strongly as one that raises it.
torch::Tensor split_signs(const torch::Tensor& x);

}  // namespace clipscope::abstractions
