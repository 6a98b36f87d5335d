// CLIP-Dissect's similarity functions against a direct computation, loop by loop, on a
// small matrix; a planted concept unit is labelled by its concept.
#include "labels/similarity.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "support/shared_data.h"

namespace clipscope::labels {
namespace {

using torch::Tensor;

// The definitions written out with scalars.
std::vector<std::vector<double>> direct_pmi(const Tensor& s, const Tensor& acts, int k, double a, double lambda,
                                            double p_start, double p_end, bool soft) {
  const int64_t n = s.size(0), d = s.size(1), u = acts.size(1);
  std::vector<std::vector<double>> prob(n, std::vector<double>(d));
  for (int64_t i = 0; i < n; ++i) {
    double total = 0;
    for (int64_t j = 0; j < d; ++j) total += std::exp(a * s[i][j].item<double>());
    for (int64_t j = 0; j < d; ++j) prob[i][j] = std::exp(a * s[i][j].item<double>()) / total;
  }
  std::vector<std::vector<double>> given(u, std::vector<double>(d, 0));
  for (int64_t unit = 0; unit < u; ++unit) {
    std::vector<int64_t> order(n);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](int64_t x, int64_t y) { return acts[x][unit].item<double>() > acts[y][unit].item<double>(); });
    for (int r = 0; r < k; ++r) {
      const double p = soft ? p_start - static_cast<double>(r) / k * (p_start - p_end) : 1.0;
      for (int64_t j = 0; j < d; ++j) given[unit][j] += std::log(1 + p * (prob[order[r]][j] - 1) + 1e-7);
    }
  }
  std::vector<std::vector<double>> out(u, std::vector<double>(d));
  for (int64_t j = 0; j < d; ++j) {
    double mx = -1e300;
    for (int64_t unit = 0; unit < u; ++unit) mx = std::max(mx, given[unit][j]);
    double sum = 0;
    for (int64_t unit = 0; unit < u; ++unit) sum += std::exp(given[unit][j] - mx);
    const double prior = mx + std::log(sum) - std::log(static_cast<double>(u));
    for (int64_t unit = 0; unit < u; ++unit) out[unit][j] = given[unit][j] - lambda * prior;
  }
  return out;
}

TEST(LabelSimilarity, SoftWpmiAndWpmiEqualTheirDefinitions) {
  torch::manual_seed(0);
  const Tensor s = torch::rand({40, 6}, torch::kDouble) * 0.4;
  const Tensor acts = torch::randn({40, 5}, torch::kDouble);
  SoftWpmiOptions so;
  so.top_k = 7;
  so.chunk = 2;  // several passes
  const Tensor soft = soft_wpmi(s, acts, so);
  const auto expected = direct_pmi(s, acts, 7, 10, 1, 0.998, 0.97, true);
  WpmiOptions wo;
  wo.top_k = 5;
  const Tensor w = wpmi(s, acts, wo);
  const auto expected_w = direct_pmi(s, acts, 5, 2, 0.6, 1, 1, false);
  ASSERT_EQ(soft.sizes(), (std::vector<int64_t>{5, 6}));
  for (int64_t u = 0; u < 5; ++u)
    for (int64_t d = 0; d < 6; ++d) {
      EXPECT_NEAR(soft[u][d].item<double>(), expected[u][d], 1e-4 * (1 + std::abs(expected[u][d]))) << u << " " << d;
      EXPECT_NEAR(w[u][d].item<double>(), expected_w[u][d], 1e-4 * (1 + std::abs(expected_w[u][d]))) << u << " " << d;
    }
}

TEST(LabelSimilarity, CosineIsOverImagesAndCubedCentresFirst) {
  torch::manual_seed(1);
  const Tensor s = torch::rand({30, 4}, torch::kDouble), acts = torch::randn({30, 3}, torch::kDouble);
  const Tensor c = cosine(s, acts), c3 = cosine(s, acts, true);
  for (int64_t u = 0; u < 3; ++u)
    for (int64_t d = 0; d < 4; ++d) {
      const Tensor x = acts.select(1, u), y = s.select(1, d);
      EXPECT_NEAR(c[u][d].item<double>(), (x.dot(y) / (x.norm() * y.norm())).item<double>(), 1e-5);
      const Tensor x3 = (x - x.mean()).pow(3), y3 = (y - y.mean()).pow(3);
      EXPECT_NEAR(c3[u][d].item<double>(), (x3.dot(y3) / (x3.norm() * y3.norm())).item<double>(), 1e-5);
    }
}

TEST(LabelSimilarity, APlantedConceptUnitIsLabelledByItsConcept) {
  // 8 concepts, 25 images each; CLIP's similarity is highest for each image's own concept,
  // and unit u fires on the images of concept (u * 3) % 8.
  torch::manual_seed(2);
  const int64_t concepts = 8, per = 25, n = concepts * per, units = 8;
  Tensor s = torch::rand({n, concepts}, torch::kDouble) * 0.2 + 0.1;
  Tensor acts = torch::rand({n, units}, torch::kDouble) * 0.3;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t shown = i / per;
    s[i][shown] += 0.15;
    for (int64_t u = 0; u < units; ++u)
      if ((u * 3) % concepts == shown) acts[i][u] += 1;
  }
  SoftWpmiOptions o;
  o.top_k = 20;
  for (const Tensor& scores : {soft_wpmi(s, acts, o), wpmi(s, acts), cosine(s, acts)})
    for (int64_t u = 0; u < units; ++u) EXPECT_EQ(scores[u].argmax().item<int64_t>(), (u * 3) % concepts) << u;
  EXPECT_NE(testing::error_message([&] { soft_wpmi(s, acts.slice(0, 0, 10)); }).find("activations 10: images"),
            std::string::npos);
  o.top_k = 1000;
  EXPECT_NE(testing::error_message([&] { soft_wpmi(s, acts, o); }).find("top_k 1000: must be in [1, 200]"),
            std::string::npos);
}

}  // namespace
}  // namespace clipscope::labels
