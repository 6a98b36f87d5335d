// The formats people hold, through the binary: --model FILE and --model DIR with
// parity, --act, models --inspect, --truncate, and the vocabulary found offline.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include "core/hub/zoo.h"
#include "core/model/fixtures.h"
#include "core/model/tensor_io.h"
#include "support/cli_runner.h"
#include "support/shared_data.h"

namespace fs = std::filesystem;
using clipscope::testing::expect_one_line_error;
using clipscope::testing::relative_error;
using clipscope::testing::run_clipscope;

namespace {

class CheckpointCli : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = clipscope::testing::shared_dir();
    if (!s || !fs::exists(*s / "fixtures" / "open_clip"))
      GTEST_SKIP() << "../shared/fixtures/open_clip not found (set CLIPSCOPE_SHARED)";
    dir = *s / "fixtures" / "open_clip";
    vocab = "--vocab=" + (*s / "clip" / "bpe_simple_vocab_16e6.txt.gz").string();
    out = clipscope::testing::temp_dir("clipscope-ckpt-cli");
  }
  fs::path dir, out;
  std::string vocab;
};

TEST_F(CheckpointCli, EmbedsImagesAndTextFromAHubFolderWithParity) {
  const auto images = out / "img.npy";
  auto r = run_clipscope({"embed", "--model", (dir / "laion_vit_gelu").string(), "--precision", "fp32", "--image",
                          (dir / "img_a.png").string(), (dir / "img_b.jpg").string(), "--out", images.string()});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_LT(relative_error(clipscope::read_npy_tensor(images),
                           clipscope::read_npy_tensor(dir / "laion_vit_gelu__image_features.npy")),
            1e-4);
  const auto text = out / "txt.npy";
  r = run_clipscope({"embed", "--model", (dir / "laion_vit_gelu" / "open_clip_pytorch_model.bin").string(), vocab,
                     "--precision", "exact", "--text", "a photo of a dog", "a diagram", "LAION's cat", "an emoji 🍕", "",
                     "--out", text.string()});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_LT(relative_error(clipscope::read_npy_tensor(text),
                           clipscope::read_npy_tensor(dir / "laion_vit_gelu__text_features.npy")),
            1e-4);
  EXPECT_EQ(r.err.find("note"), std::string::npos) << r.err;  // the config said: nothing assumed
  // --act overrides the config, and the features move away from the reference.
  r = run_clipscope({"embed", "--act", "quickgelu", "--model", (dir / "laion_vit_gelu").string(), "--image",
                     (dir / "img_a.png").string(), (dir / "img_b.jpg").string(), "--out", images.string()});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_GT(relative_error(clipscope::read_npy_tensor(images),
                           clipscope::read_npy_tensor(dir / "laion_vit_gelu__image_features.npy")),
            1e-3);
  expect_one_line_error(run_clipscope({"embed", "--act", "relu", "--model", (dir / "laion_vit_gelu").string(),
                                       "--image", (dir / "img_a.png").string(), "--out", images.string()}),
                        "--act");
}

TEST_F(CheckpointCli, ABareStateDictSaysOnceWhichActivationItAssumed) {
  const auto images = out / "rn.npy";
  auto r = clipscope::testing::run_clipscope({"embed", "--model", (dir / "rn_openclip_epoch_7.pt").string(),
                                              "--precision", "exact", "--image", (dir / "img_a.png").string(),
                                              (dir / "img_b.jpg").string(), "--out", images.string()});
  ASSERT_EQ(r.code, 0) << r.err;
  size_t notes = 0;
  for (size_t at = r.err.find("clipscope: note:"); at != std::string::npos; at = r.err.find("clipscope: note:", at + 1))
    ++notes;
  EXPECT_EQ(notes, 1u) << r.err;
  EXPECT_NE(r.err.find("assuming QuickGELU"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--act gelu"), std::string::npos) << r.err;
  EXPECT_LT(relative_error(clipscope::read_npy_tensor(images),
                           clipscope::read_npy_tensor(dir / "rn_ordered__image_features.npy")),
            1e-4);
}

TEST_F(CheckpointCli, InspectShowsFormatArchitectureAndTheOtherEntries) {
  auto r = run_clipscope({"models", "--inspect", (dir / "rn_openclip_epoch_7.pt").string(), "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["format"], "torch.save archive");
  EXPECT_EQ(j["weights_entry"], "state_dict");
  EXPECT_EQ(j["vision"], "ModifiedResNet");
  EXPECT_EQ(j["activation"], "quickgelu");
  EXPECT_EQ(j["extras"]["epoch"], "7");
  EXPECT_EQ(j["extras"]["name"], "'tiny-rn'");
  EXPECT_EQ(j["extras"]["optimizer"], "dict(2 entries)");
  r = run_clipscope({"models", "--inspect", (dir / "laion_vit_gelu").string()});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("safetensors"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("open_clip_config.json (quick_gelu: absent)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("gelu"), std::string::npos) << r.out;
  expect_one_line_error(run_clipscope({"models", "--inspect", (out / "nothing.pt").string()}), "no such file");
}

TEST_F(CheckpointCli, TruncateCutsLongTextsAsClipTokenizeDoes) {
  std::string longer;
  for (int i = 0; i < 100; ++i) longer += "word ";
  const auto text = out / "long.npy";
  const std::string model = (dir / "laion_vit_gelu").string();
  expect_one_line_error(run_clipscope({"embed", "--model", model, vocab, "--text", longer, "--out", text.string()}),
                        "more than the context length 77");
  auto r = run_clipscope({"embed", "--model", model, vocab, "--truncate", "--text", longer, "--out", text.string()});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(clipscope::read_npy_tensor(text).size(0), 1);
  // classify: the same rule for labels and prompts.
  const std::vector<std::string> classify = {
      "classify", "--model", model,  vocab, "--no-cache", "--image", (dir / "img_a.png").string(),
      "--labels", longer,    "a cat"};
  expect_one_line_error(run_clipscope(classify), "more than the context length 77");
  auto with_truncate = classify;
  with_truncate.push_back("--truncate");
  r = run_clipscope(with_truncate);
  EXPECT_EQ(r.code, 0) << r.err;
}

// OpenAI's clip and open_clip packages carry the vocabulary: found without a download.
TEST_F(CheckpointCli, TheVocabularyOfAnInstalledPythonPackageIsUsedOffline) {
  auto shared = *clipscope::testing::shared_dir();
  const fs::path venv = out / "venv";
  const fs::path package = venv / "lib" / "python3.11" / "site-packages" / "open_clip";
  fs::create_directories(package);
  fs::copy_file(shared / "clip" / "bpe_simple_vocab_16e6.txt.gz", package / "bpe_simple_vocab_16e6.txt.gz");
  const fs::path cache = out / "empty-cache";
  // No network: a mirror that does not exist would fail any download.
  const std::string env = "VIRTUAL_ENV=" + venv.string() + " CLIPSCOPE_CACHE=" + cache.string() +
                          " CLIPSCOPE_VOCAB= HOME=" + (out / "home").string() + " CLIPSCOPE_MIRROR=file:///nonexistent";
  auto r = run_clipscope({"tokenize", "a photo of a dog"}, env);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("49406"), std::string::npos) << r.out;  // start of text
  // A damaged copy does not count: the download is tried (and fails, offline).
  clipscope::testing::write_file(package / "bpe_simple_vocab_16e6.txt.gz", "not the vocabulary");
  r = run_clipscope({"tokenize", "a photo of a dog"}, env);
  EXPECT_NE(r.code, 0);
}

}  // namespace
