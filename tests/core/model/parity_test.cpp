// Parity with OpenAI's CLIP (clip/model.py, torch 1.13, fp32 on fp16-rounded
// weights): features, logits, activations and an input gradient within 1e-4
// relative, for both tiny models and both checkpoint formats, on the exact path
// and on the fp32 fast path (folded batch norms, channels-last, trimmed text).
// The bf16 fast path is held to the bound measured for it (docs/performance.md).
#include <gtest/gtest.h>

#include <regex>

#include "core/model/checkpoint.h"
#include "core/model/fixtures.h"
#include "core/model/loader.h"
#include "support/shared_data.h"

using namespace clipscope;
using clipscope::testing::relative_error;

namespace {

constexpr double kTolerance = 1e-4;
// bf16 keeps 8 significant bits: the measured worst case on the fixtures is 2.1e-2
// (rn_tiny's logits); the bound leaves a margin above it.
constexpr double kBf16Tolerance = 3e-2;
// bf16 input gradients through a ResNet are off by 1.9e-1 (rn_tiny; 7.8e-3 for the
// ViT): too far for feature visualization, which therefore stays fp32.
constexpr double kBf16GradientTolerance = 0.3;

struct Case {
  std::string model;
  std::string format;  // "jit_archive" or "state_dict"
  Precision precision = Precision::Exact;
};

// Asserts parity and prints the measured error, so test logs document the numbers.
void expect_parity(const torch::Tensor& actual, const torch::Tensor& reference, const std::string& what,
                   Precision precision, double bf16_tolerance = kBf16Tolerance) {
  const double err = relative_error(actual, reference);
  std::printf("    %-5s %-50s relative error %.2e\n", std::string(precision_name(precision)).c_str(), what.c_str(),
              err);
  EXPECT_LT(err, precision == Precision::BF16 ? bf16_tolerance : kTolerance) << what;
  EXPECT_EQ(actual.scalar_type(), torch::kFloat) << what;
}

class Parity : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override {
    auto shared_opt = clipscope::testing::shared_dir();
    if (!shared_opt) GTEST_SKIP() << "../shared not found (set CLIPSCOPE_SHARED): reference fixtures absent";
    shared = *shared_opt;
    manifest = clipscope::testing::read_manifest(shared);
    const auto& entry = manifest["models"][GetParam().model];
    std::filesystem::path file;
    if (!entry[GetParam().format].is_null()) {
      file = shared / "fixtures" / entry[GetParam().format].get<std::string>();
    } else {
      // No state-dict fixture for this model: write one from the archive's tensors.
      file = clipscope::testing::temp_dir() / (GetParam().model + "_state_dict.pt");
      save_state_dict(file, read_checkpoint(shared / "fixtures" / entry["jit_archive"].get<std::string>()).state_dict);
    }
    model = load_clip_file(file, {.precision = GetParam().precision});
    images = clipscope::testing::fixture_images(shared, manifest, GetParam().model);
    tokens = read_npy_tensor(shared / "fixtures" / "tokens.npy");
  }

  void expect_parity(const torch::Tensor& actual, const torch::Tensor& reference, const std::string& what,
                     double bf16_tolerance = kBf16Tolerance) {
    ::expect_parity(actual, reference, what, GetParam().precision, bf16_tolerance);
  }
  torch::Tensor expected(const std::string& key) {
    return read_npy_tensor(shared / "fixtures" / outputs()[key]["file"].get<std::string>());
  }
  const nlohmann::json& outputs() { return manifest["models"][GetParam().model]["outputs"]; }

  std::filesystem::path shared;
  nlohmann::json manifest;
  CLIP model{nullptr};
  torch::Tensor images, tokens;
};

TEST_P(Parity, FeaturesAndLogits) {
  torch::NoGradGuard no_grad;
  expect_parity(model->encode_image(images), expected("image_features"), "image_features");
  expect_parity(model->encode_text(tokens), expected("text_features"), "text_features");
  auto [logits_per_image, logits_per_text] = model->forward(images, tokens);
  expect_parity(logits_per_image, expected("logits_per_image"), "logits_per_image");
  expect_parity(logits_per_text, expected("logits_per_image").t(), "logits_per_text");
}

TEST_P(Parity, EveryListedActivation) {
  torch::NoGradGuard no_grad;
  int checked = 0;
  for (const auto& [key, value] : outputs().items()) {
    if (key.rfind("act:", 0) != 0) continue;
    const std::string canonical = model->resolve_point(key.substr(4));
    ActivationCache cache({canonical});
    if (canonical.rfind("visual", 0) == 0)
      model->run_image(images, cache);
    else
      model->run_text(tokens, cache);
    expect_parity(cache[canonical], expected(key), key);
    ++checked;
  }
  EXPECT_GE(checked, 4);
}

// "grad:<point>[<index>].mean": d mean(act[index]) / d pixels of the first image.
TEST_P(Parity, InputGradient) {
  int checked = 0;
  for (const auto& [key, value] : outputs().items()) {
    std::smatch m;
    static const std::regex spec(R"(grad:(.+)\[(.+)\]\.mean)");
    if (!std::regex_match(key, m, spec)) continue;
    std::vector<torch::indexing::TensorIndex> index;
    const std::string parts = m[2].str();
    for (size_t start = 0; start <= parts.size();) {
      size_t end = parts.find(',', start);
      if (end == std::string::npos) end = parts.size();
      const std::string part = parts.substr(start, end - start);
      if (part == ":")
        index.emplace_back(torch::indexing::Slice());
      else
        index.emplace_back(static_cast<int64_t>(std::stoll(part)));
      start = end + 1;
    }
    const std::string canonical = model->resolve_point(m[1].str());
    auto input = images.slice(0, 0, 1).clone().requires_grad_(true);
    ActivationCache cache({canonical});
    model->run_image(input, cache);
    cache[canonical].index(index).mean().backward();
    expect_parity(input.grad(), expected(key), key, kBf16GradientTolerance);
    ++checked;
  }
  EXPECT_EQ(checked, 1);
}

std::string case_name(const ::testing::TestParamInfo<Case>& info) {
  return info.param.model + "_" + info.param.format + "_" + std::string(precision_name(info.param.precision));
}

INSTANTIATE_TEST_SUITE_P(Fixtures, Parity,
                         ::testing::Values(Case{"rn_tiny", "jit_archive"}, Case{"rn_tiny", "state_dict"},
                                           Case{"vit_tiny", "jit_archive"}, Case{"vit_tiny", "state_dict"},
                                           Case{"rn_tiny", "jit_archive", Precision::FP32},
                                           Case{"vit_tiny", "jit_archive", Precision::FP32},
                                           Case{"rn_tiny", "jit_archive", Precision::BF16},
                                           Case{"vit_tiny", "jit_archive", Precision::BF16}),
                         case_name);

}  // namespace
