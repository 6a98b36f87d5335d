// The report's z-scores: the textbook z for an ordinary unit, and a floor on the spread
// so that a unit silent on every other concept cannot score thousands of std.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "demo/concepts.h"

namespace clipscope::demo {
namespace {

TEST(LabelZ, IsTheConceptsMeanAgainstTheOthersInTheirStd) {
  torch::manual_seed(0);
  const auto acts = torch::rand({60, 5}, torch::kDouble);
  std::vector<int64_t> labels(60);
  for (size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<int64_t>(i % 3);
  const auto z = label_z(acts, labels, 3);
  ASSERT_EQ(z.sizes(), (std::vector<int64_t>{3, 5}));
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t u = 0; u < 5; ++u) {
      std::vector<double> in, out;
      for (int64_t i = 0; i < 60; ++i) (labels[i] == c ? in : out).push_back(acts[i][u].item<double>());
      double mi = 0, mo = 0, vo = 0;
      for (double v : in) mi += v / in.size();
      for (double v : out) mo += v / out.size();
      for (double v : out) vo += (v - mo) * (v - mo) / (out.size() - 1);
      EXPECT_NEAR(z[c][u].item<double>(), (mi - mo) / std::sqrt(vo), 1e-9) << c << " " << u;
    }
}

TEST(LabelZ, AUnitSilentOnTheOtherConceptsIsMeasuredInTheLayersTypicalStd) {
  torch::manual_seed(1);
  auto acts = torch::rand({40, 4}, torch::kDouble);  // units 0-2: ordinary, std ~0.29
  std::vector<int64_t> labels(40);
  for (size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<int64_t>(i % 4);
  acts.select(1, 3).zero_();
  for (int64_t i = 0; i < 40; i += 4) acts[i][3] = 0.01;  // unit 3: a trace for concept 0, silent otherwise
  const auto z = label_z(acts, labels, 4);
  const double typical = acts.std(0).median().item<double>();
  EXPECT_NEAR(z[0][3].item<double>(), 0.01 / (kStdFloorShare * typical), 1e-9);
  EXPECT_LT(z[0][3].item<double>(), 2.0);  // not a selective unit at the report's 2 std
}

}  // namespace
}  // namespace clipscope::demo
