// Parity with OpenAI's CLIP (clip/model.py, torch 1.13, fp32 on fp16-rounded
// weights): features, logits, activations and an input gradient within 1e-4
// relative, for both tiny models and both checkpoint formats.
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

// Asserts parity and prints the measured error, so test logs document the numbers.
void expect_parity(const torch::Tensor& actual, const torch::Tensor& reference, const std::string& what) {
  const double err = relative_error(actual, reference);
  std::printf("    %-50s relative error %.2e\n", what.c_str(), err);
  EXPECT_LT(err, kTolerance) << what;
}

struct Case {
  std::string model;
  std::string format;  // "jit_archive" or "state_dict"
};

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
    model = load_clip_file(file);
    images = clipscope::testing::fixture_images(shared, manifest, GetParam().model);
    tokens = read_npy_tensor(shared / "fixtures" / "tokens.npy");
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
    if (canonical.rfind("visual", 0) == 0) model->run_image(images, cache);
    else model->run_text(tokens, cache);
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
      if (part == ":") index.emplace_back(torch::indexing::Slice());
      else index.emplace_back(static_cast<int64_t>(std::stoll(part)));
      start = end + 1;
    }
    const std::string canonical = model->resolve_point(m[1].str());
    auto input = images.slice(0, 0, 1).clone().requires_grad_(true);
    ActivationCache cache({canonical});
    model->run_image(input, cache);
    cache[canonical].index(index).mean().backward();
    expect_parity(input.grad(), expected(key), key);
    ++checked;
  }
  EXPECT_EQ(checked, 1);
}

std::string case_name(const ::testing::TestParamInfo<Case>& info) { return info.param.model + "_" + info.param.format; }

INSTANTIATE_TEST_SUITE_P(Fixtures, Parity,
                         ::testing::Values(Case{"rn_tiny", "jit_archive"}, Case{"rn_tiny", "state_dict"},
                                           Case{"vit_tiny", "jit_archive"}, Case{"vit_tiny", "state_dict"}),
                         case_name);

}  // namespace
