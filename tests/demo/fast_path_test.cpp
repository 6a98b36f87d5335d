// The fast paths keep the science. On the shipped demo model and 1,000 held-out
// images of its world, the fp32 and bf16 fast paths agree with the exact path on
// what an analysis reads from the model: the embeddings, which images excite each
// unit most (top-25 per unit at visual.layer4, by spatial max, as the atlas ranks
// them) and the zero-shot answers. The bounds are the measured values with a
// margin (docs/performance.md records the measurements).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <set>

#include "core/hub/zoo.h"
#include "core/model/loader.h"
#include "core/model/tensor_io.h"
#include "world/concepts.h"
#include "world/generator.h"
#include "zeroshot/zeroshot.h"

namespace clipscope {
namespace {

struct Bounds {
  Precision precision;
  double max_feature_error;    // max |fast - exact| / max |exact| of the image embeddings
  double min_mean_top25;       // mean over units of |top-25 fast ∩ top-25 exact| / 25
  double min_worst_top25;      // the same for the unit that agrees least
  double min_zero_shot_agree;  // fraction of images whose colour and shape answers are unchanged
};

// Per unit, the fraction of the exact top-k images that the fast path also ranks in its top-k.
double mean_top_k_overlap(const torch::Tensor& exact, const torch::Tensor& fast, int64_t k, double* worst) {
  const auto top_exact = std::get<1>(exact.topk(k, 0));  // (k, units)
  const auto top_fast = std::get<1>(fast.topk(k, 0));
  double total = 0;
  *worst = 1;
  for (int64_t u = 0; u < exact.size(1); ++u) {
    auto a = top_exact.select(1, u).contiguous(), b = top_fast.select(1, u).contiguous();
    std::set<int64_t> sa(a.data_ptr<int64_t>(), a.data_ptr<int64_t>() + k);
    int64_t shared = 0;
    for (int64_t i = 0; i < k; ++i) shared += sa.count(b.data_ptr<int64_t>()[i]);
    const double overlap = static_cast<double>(shared) / static_cast<double>(k);
    total += overlap;
    *worst = std::min(*worst, overlap);
  }
  return total / static_cast<double>(exact.size(1));
}

class FastPathOnTheDemoModel : public ::testing::TestWithParam<Bounds> {};

TEST_P(FastPathOnTheDemoModel, KeepsWhatAnAnalysisReads) {
  if (!std::filesystem::exists(demo_model_path())) GTEST_SKIP() << "demo model not found (train it with train-demo)";
  const Bounds bounds = GetParam();
  const std::string demo(kDemoModelName);
  CLIP exact = load_clip(demo);
  CLIP fast = load_clip(demo);
  fast->set_precision(bounds.precision);
  const Tokenizer tokenizer(resolve_vocab_path(std::nullopt, {}, demo), static_cast<int>(exact->config().vocab_size));

  const world::World held_out(4242, world::WorldOptions::first_edition());
  TextRasterizer raster;
  std::vector<Image> images;
  for (uint64_t i = 0; i < 1000; ++i) images.push_back(held_out.sample(i, raster).image);
  const torch::Tensor batch = preprocess_batch(images, static_cast<int>(exact->config().image_resolution));

  torch::NoGradGuard no_grad;
  // One forward per batch gives both the units and the embedding (the attention pool's output).
  auto run = [&](CLIP& model, torch::Tensor* layer4_max) {
    std::vector<torch::Tensor> features, maxima;
    for (int64_t start = 0; start < batch.size(0); start += 100) {
      ActivationCache cache({"visual.layer4", "visual.attnpool"});
      model->run_image(batch.slice(0, start, start + 100), cache);
      maxima.push_back(reduce_positions(cache["visual.layer4"], Layout::NCHW, Reduce::Max));
      features.push_back(cache["visual.attnpool"]);
    }
    *layer4_max = torch::cat(maxima);
    return torch::cat(features);
  };
  torch::Tensor exact_max, fast_max;
  const torch::Tensor exact_features = run(exact, &exact_max);
  const torch::Tensor fast_features = run(fast, &fast_max);
  const double feature_error =
      ((fast_features - exact_features).abs().max() / exact_features.abs().max()).item<double>();
  double worst_overlap = 0;
  const double overlap = mean_top_k_overlap(exact_max, fast_max, 25, &worst_overlap);

  std::vector<std::string> colors, shapes;
  for (const auto& c : world::colors()) colors.push_back(c.name);
  shapes = world::shapes();
  int64_t agree = 0, answers = 0;
  for (const auto* labels : {&colors, &shapes}) {
    const auto exact_top = exact_features.matmul(zero_shot_weights(exact, tokenizer, *labels).t()).argmax(1);
    const auto fast_top = fast_features.matmul(zero_shot_weights(fast, tokenizer, *labels).t()).argmax(1);
    agree += exact_top.eq(fast_top).sum().item<int64_t>();
    answers += exact_top.size(0);
  }
  const double agreement = static_cast<double>(agree) / static_cast<double>(answers);

  std::printf(
      "    %s vs exact on 1000 world images: feature error %.2e; layer4 top-25 overlap mean %.4f, worst unit "
      "%.2f; zero-shot colour+shape top-1 agreement %.4f\n",
      std::string(precision_name(bounds.precision)).c_str(), feature_error, overlap, worst_overlap, agreement);
  EXPECT_LT(feature_error, bounds.max_feature_error);
  EXPECT_GE(overlap, bounds.min_mean_top25);
  EXPECT_GE(worst_overlap, bounds.min_worst_top25);
  EXPECT_GE(agreement, bounds.min_zero_shot_agree);
}

INSTANTIATE_TEST_SUITE_P(Precisions, FastPathOnTheDemoModel,
                         // Measured: fp32 3.3e-7, 1.000, 1.00, 1.000; bf16 6.7e-3, 0.986, 0.84, 0.9985.
                         ::testing::Values(Bounds{Precision::FP32, 1e-5, 0.999, 0.96, 0.999},
                                           Bounds{Precision::BF16, 2e-2, 0.96, 0.7, 0.99}),
                         [](const auto& info) { return std::string(precision_name(info.param.precision)); });

}  // namespace
}  // namespace clipscope
