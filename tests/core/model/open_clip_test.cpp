// Checkpoints in the forms people hold them (../shared/fixtures/open_clip): state_dict()
// OrderedDicts, open_clip training checkpoints, hub folders with safetensors or
// .bin, a GELU (LAION-style) tower. Features within 1e-4 of OpenAI's clip/model.py,
// at exact and fp32; damaged variants of each format fail with one line.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "core/model/checkpoint.h"
#include "core/model/fixtures.h"
#include "core/model/loader.h"
#include "core/model/safetensors.h"
#include "core/model/tensor_io.h"
#include "support/shared_data.h"

using namespace clipscope;
using clipscope::testing::error_message;
using clipscope::testing::relative_error;
namespace fs = std::filesystem;

namespace {

constexpr double kTolerance = 1e-4;

struct Fixture {
  fs::path dir;
  nlohmann::json manifest;
};

std::optional<Fixture> open_clip_fixtures() {
  auto shared = clipscope::testing::shared_dir();
  if (!shared || !fs::exists(*shared / "fixtures" / "open_clip" / "manifest.json")) return std::nullopt;
  Fixture f{*shared / "fixtures" / "open_clip", {}};
  std::ifstream in(f.dir / "manifest.json");
  f.manifest = nlohmann::json::parse(in);
  return f;
}

#define REQUIRE_OPEN_CLIP(f)                                                                                      \
  auto f##_opt = open_clip_fixtures();                                                                            \
  if (!f##_opt) GTEST_SKIP() << "../shared/fixtures/open_clip not found (set CLIPSCOPE_SHARED): fixtures absent"; \
  const Fixture& f = *f##_opt

// Image and text features of `model` on the manifest's inputs, against `reference`'s outputs.
std::pair<double, double> feature_errors(const Fixture& f, CLIP& model, const std::string& reference) {
  torch::NoGradGuard no_grad;
  const int n_px = f.manifest["models"][reference]["n_px"].get<int>();
  std::vector<fs::path> images;
  for (const auto& name : f.manifest["images"]) images.push_back(f.dir / ("img_" + name.get<std::string>()));
  const torch::Tensor batch = load_image_batch(images, n_px, model->config().normalization);
  const Tokenizer tokenizer(clipscope::testing::shared_dir().value() / "clip" / "bpe_simple_vocab_16e6.txt.gz",
                            static_cast<int>(model->config().vocab_size));
  const torch::Tensor tokens = tokenize_batch(tokenizer, f.manifest["texts"].get<std::vector<std::string>>(), 77);
  const double image =
      relative_error(model->encode_image(batch), read_npy_tensor(f.dir / (reference + "__image_features.npy")));
  const double text =
      relative_error(model->encode_text(tokens), read_npy_tensor(f.dir / (reference + "__text_features.npy")));
  return {image, text};
}

struct Case {
  std::string path;       // relative to fixtures/open_clip
  std::string reference;  // whose outputs it must give
  Precision precision;
};

class OpenClipParity : public ::testing::TestWithParam<Case> {};

TEST_P(OpenClipParity, FeaturesMatchTheReference) {
  REQUIRE_OPEN_CLIP(f);
  std::vector<std::string> notes;
  LoadOptions options;
  options.precision = GetParam().precision;
  options.note = [&](std::string_view n) { notes.emplace_back(n); };
  CLIP model = load_clip_file(f.dir / GetParam().path, options);
  const auto [image, text] = feature_errors(f, model, GetParam().reference);
  std::printf("    %-5s %-45s image %.2e text %.2e\n", std::string(precision_name(GetParam().precision)).c_str(),
              GetParam().path.c_str(), image, text);
  EXPECT_LT(image, kTolerance);
  EXPECT_LT(text, kTolerance);
  // The LAION tower's activation comes from its config; the bare state dicts assume
  // OpenAI's, and say so (once per file and process: the tests may share one).
  const bool laion = GetParam().reference == "laion_vit_gelu";
  EXPECT_EQ(model->config().activation, laion ? Activation::GELU : Activation::QuickGELU);
  EXPECT_LE(notes.size(), laion ? 0u : 1u);
  if (!laion && !notes.empty()) {
    EXPECT_NE(notes[0].find("assuming QuickGELU"), std::string::npos) << notes[0];
  }
}

std::vector<Case> cases() {
  std::vector<Case> out;
  for (Precision p : {Precision::Exact, Precision::FP32})
    for (const auto& [path, ref] : std::vector<std::pair<std::string, std::string>>{
             {"rn_ordered_fp32_state_dict.pt", "rn_ordered"},
             {"rn_openclip_epoch_7.pt", "rn_ordered"},
             {"laion_vit_gelu", "laion_vit_gelu"},
             {"laion_vit_gelu/open_clip_model.safetensors", "laion_vit_gelu"},
             {"laion_vit_gelu/open_clip_pytorch_model.bin", "laion_vit_gelu"}})
      out.push_back({path, ref, p});
  return out;
}

INSTANTIATE_TEST_SUITE_P(Formats, OpenClipParity, ::testing::ValuesIn(cases()), [](const auto& info) {
  std::string name = info.param.path + "_" + std::string(precision_name(info.param.precision));
  for (char& c : name)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return name;
});

TEST(OpenClip, TrainingCheckpointListsItsOtherEntriesWithoutLoadingThem) {
  REQUIRE_OPEN_CLIP(f);
  const Checkpoint c = read_checkpoint(f.dir / "rn_openclip_epoch_7.pt");
  EXPECT_EQ(c.format, CheckpointFormat::TorchSave);
  EXPECT_EQ(c.weights_entry, "state_dict");
  std::map<std::string, std::string> extras(c.extras.begin(), c.extras.end());
  EXPECT_EQ(extras["epoch"], "7");
  EXPECT_EQ(extras["name"], "'tiny-rn'");
  EXPECT_EQ(extras["optimizer"], "dict(2 entries)");
  EXPECT_TRUE(c.state_dict.count("visual.conv1.weight"));  // "module." removed
  EXPECT_FALSE(c.open_clip_config.has_value());
  // The OrderedDict file holds the same tensors.
  const Checkpoint plain = read_checkpoint(f.dir / "rn_ordered_fp32_state_dict.pt");
  ASSERT_EQ(plain.state_dict.size(), c.state_dict.size());
  for (const auto& [k, v] : plain.state_dict) EXPECT_TRUE(torch::equal(v, c.state_dict.at(k))) << k;
}

TEST(OpenClip, HubFolderPrefersSafetensorsAndBothHoldTheSameTensors) {
  REQUIRE_OPEN_CLIP(f);
  const fs::path dir = f.dir / "laion_vit_gelu";
  EXPECT_EQ(checkpoint_file(dir), dir / "open_clip_model.safetensors");
  const Checkpoint st = read_checkpoint(dir);
  const Checkpoint bin = read_checkpoint(dir / "open_clip_pytorch_model.bin");
  EXPECT_EQ(st.format, CheckpointFormat::Safetensors);
  EXPECT_EQ(bin.format, CheckpointFormat::TorchSave);
  ASSERT_TRUE(st.open_clip_config && bin.open_clip_config);
  ASSERT_EQ(st.state_dict.size(), bin.state_dict.size());
  for (const auto& [k, v] : st.state_dict) EXPECT_TRUE(torch::equal(v, bin.state_dict.at(k))) << k;
  const Architecture arch = checkpoint_architecture(st);
  EXPECT_EQ(arch.config.transformer_heads, 1);  // from the config: weights cannot say
  EXPECT_EQ(arch.config.vision_heads(), 2);
  EXPECT_EQ(arch.activation_source, "open_clip_config.json (quick_gelu: absent)");
}

TEST(OpenClip, TheActivationMattersAndCanBeChosen) {
  REQUIRE_OPEN_CLIP(f);
  // The LAION tower computed with QuickGELU is a different function...
  LoadOptions quick;
  quick.activation = Activation::QuickGELU;
  CLIP wrong = load_clip_file(f.dir / "laion_vit_gelu", quick);
  auto [image, text] = feature_errors(f, wrong, "laion_vit_gelu");
  EXPECT_GT(image, 1e-3);
  EXPECT_GT(text, 1e-3);
  // ...and its weights alone (no config beside them) are taken for OpenAI's, with a
  // note, unless the activation is named.
  const fs::path lone = clipscope::testing::temp_dir() / "laion.bin";
  fs::copy_file(f.dir / "laion_vit_gelu" / "open_clip_pytorch_model.bin", lone);
  std::vector<std::string> notes;
  LoadOptions assumed;
  assumed.note = [&](std::string_view n) { notes.emplace_back(n); };
  CLIP guessed = load_clip_file(lone, assumed);
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_NE(notes[0].find("laion.bin: no open_clip_config.json beside it; assuming QuickGELU"), std::string::npos);
  EXPECT_GT(feature_errors(f, guessed, "laion_vit_gelu").first, 1e-3);
  load_clip_file(lone, assumed);
  EXPECT_EQ(notes.size(), 1u) << "said once per file";
  LoadOptions gelu;
  gelu.activation = Activation::GELU;
  gelu.note = assumed.note;
  CLIP named = load_clip_file(lone, gelu);
  const auto [image_err, text_err] = feature_errors(f, named, "laion_vit_gelu");
  EXPECT_LT(image_err, kTolerance);
  EXPECT_LT(text_err, kTolerance);
  EXPECT_EQ(notes.size(), 1u);
}

// Writes `text` in place of the first occurrence of `from` (same length) in a copy of `source`.
fs::path patched_copy(const fs::path& source, const std::string& name, const std::string& from, const std::string& to) {
  std::string bytes = clipscope::testing::read_file(source);
  const auto at = bytes.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  bytes.replace(at, from.size(), to);
  const fs::path out = clipscope::testing::temp_dir() / name;
  clipscope::testing::write_file(out, bytes);
  return out;
}

TEST(OpenClipErrors, DamagedSafetensors) {
  REQUIRE_OPEN_CLIP(f);
  const fs::path st = f.dir / "laion_vit_gelu" / "open_clip_model.safetensors";
  auto read = [](const fs::path& p) { return error_message([&] { read_checkpoint(p); }); };
  const std::string header = clipscope::testing::read_file(st);
  // Truncated: the data ranges run past the end.
  const fs::path cut = clipscope::testing::temp_dir() / "cut.safetensors";
  clipscope::testing::write_file(cut, header.substr(0, header.size() / 2));
  std::string msg = read(cut);
  EXPECT_NE(msg.find("cut.safetensors: tensor '"), std::string::npos) << msg;
  EXPECT_NE(msg.find("lie outside the"), std::string::npos) << msg;
  // The header lies about a shape.
  msg = read(patched_copy(st, "shape.safetensors", "\"shape\":[77,32]", "\"shape\":[77,33]"));
  EXPECT_NE(
      msg.find("tensor 'positional_embedding': data_offsets [0, 9856] hold 9856 bytes but F32 [77, 33] needs 10164"),
      std::string::npos)
      << msg;
  // Wrong dtype: float32 bytes called float16, and a dtype nobody knows.
  msg = read(patched_copy(st, "dtype.safetensors", "\"F32\"", "\"F16\""));
  EXPECT_NE(msg.find("hold 9856 bytes but F16 [77, 32] needs 4928"), std::string::npos) << msg;
  msg = read(patched_copy(st, "odd.safetensors", "\"F32\"", "\"Q32\""));
  EXPECT_NE(msg.find("unsupported dtype Q32"), std::string::npos) << msg;
  // Overlapping ranges.
  msg = read(patched_copy(st, "overlap.safetensors", "[9856,16000]", "[9855,15999]"));
  EXPECT_NE(msg.find("overlap"), std::string::npos) << msg;
  // The length prefix says more than the file holds.
  std::string big = header;
  big[7] = '\x7f';
  const fs::path lying = clipscope::testing::temp_dir() / "length.safetensors";
  clipscope::testing::write_file(lying, big);
  msg = read(lying);
  EXPECT_NE(msg.find("length.safetensors: not a PyTorch checkpoint"), std::string::npos) << msg;
  msg = error_message([&] { read_safetensors(lying); });
  EXPECT_NE(msg.find("safetensors header says"), std::string::npos) << msg;
  // Broken JSON.
  msg = read(patched_copy(st, "json.safetensors", "{\"positional_embedding\"", "[\"positional_embedding\""));
  EXPECT_NE(msg.find("json.safetensors"), std::string::npos) << msg;
  for (const auto& m : {msg}) EXPECT_EQ(m.find('\n'), std::string::npos);
}

TEST(OpenClipErrors, DamagedTorchSaveFiles) {
  REQUIRE_OPEN_CLIP(f);
  for (const std::string name : {"rn_ordered_fp32_state_dict.pt", "rn_openclip_epoch_7.pt"}) {
    const fs::path cut = clipscope::testing::temp_dir() / ("cut_" + name);
    const std::string bytes = clipscope::testing::read_file(f.dir / name);
    clipscope::testing::write_file(cut, bytes.substr(0, bytes.size() / 2));
    const std::string msg = error_message([&] { load_clip_file(cut); });
    EXPECT_NE(msg.find("cut_" + name + ": truncated or corrupt"), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos);
  }
  // Wrong dtype: the storages renamed half (same length of pickle text is not needed).
  const std::string msg = error_message([&] {
    load_clip_file(patched_copy(f.dir / "rn_ordered_fp32_state_dict.pt", "half.pt", "FloatStorage", "HalfStorage\n"));
  });
  EXPECT_NE(msg, "");
  EXPECT_EQ(msg.find('\n'), std::string::npos);
}

TEST(OpenClipErrors, ConfigsThatDisagreeWithTheWeightsOrAskForTheUnbuilt) {
  REQUIRE_OPEN_CLIP(f);
  const fs::path src = f.dir / "laion_vit_gelu";
  std::ifstream in(src / "open_clip_config.json");
  const nlohmann::json config = nlohmann::json::parse(in);
  auto load_with = [&](const std::string& name, const nlohmann::json& c) {
    const fs::path dir = clipscope::testing::temp_dir() / name;
    fs::create_directories(dir);
    fs::copy_file(src / "open_clip_model.safetensors", dir / "open_clip_model.safetensors");
    std::ofstream(dir / "open_clip_config.json") << c.dump();
    return error_message([&] { load_clip_file(dir); });
  };
  nlohmann::json c = config;
  c["model_cfg"]["vision_cfg"]["width"] = 256;
  std::string msg = load_with("width", c);
  EXPECT_NE(msg.find("unsupported architecture"), std::string::npos) << msg;
  EXPECT_NE(msg.find("vision_cfg.width is 256 but the weights have 128"), std::string::npos) << msg;
  c = config;
  c["model_cfg"]["vision_cfg"]["timm_model_name"] = "convnext_base";
  msg = load_with("timm", c);
  EXPECT_NE(msg.find("vision_cfg.timm_model_name names a timm tower: not supported"), std::string::npos) << msg;
  c = config;
  c["model_cfg"]["text_cfg"]["ls_init_value"] = 1e-5;
  msg = load_with("ls", c);
  EXPECT_NE(msg.find("text_cfg.ls_init_value"), std::string::npos) << msg;
  c = config;
  c["model_cfg"]["text_cfg"]["heads"] = 3;
  msg = load_with("heads", c);
  EXPECT_NE(msg.find("text_cfg.heads is 3: does not divide the width 32"), std::string::npos) << msg;
  c = config;
  c["preprocess_cfg"]["std"] = {0.5, 0, 0.5};
  msg = load_with("std", c);
  EXPECT_NE(msg.find("preprocess_cfg.std must be positive"), std::string::npos) << msg;
  msg = load_with("notjson", nlohmann::json("x"));
  EXPECT_NE(msg.find("not a JSON object"), std::string::npos) << msg;
  // A folder without weights.
  const fs::path empty = clipscope::testing::temp_dir() / "empty";
  fs::create_directories(empty);
  msg = error_message([&] { load_clip_file(empty); });
  EXPECT_NE(msg.find("not an open_clip hub folder"), std::string::npos) << msg;
}

TEST(OpenClip, ConfigMeanAndStdReachThePreprocessing) {
  REQUIRE_OPEN_CLIP(f);
  const fs::path dir = clipscope::testing::temp_dir() / "norm";
  fs::create_directories(dir);
  fs::copy_file(f.dir / "laion_vit_gelu" / "open_clip_model.safetensors", dir / "open_clip_model.safetensors");
  std::ifstream in(f.dir / "laion_vit_gelu" / "open_clip_config.json");
  nlohmann::json c = nlohmann::json::parse(in);
  c["preprocess_cfg"]["mean"] = {0.5, 0.5, 0.5};
  c["preprocess_cfg"]["std"] = {0.25, 0.25, 0.25};
  std::ofstream(dir / "open_clip_config.json") << c.dump();
  CLIP model = load_clip_file(dir);
  EXPECT_EQ(model->config().normalization.mean, (std::array<float, 3>{0.5f, 0.5f, 0.5f}));
  EXPECT_EQ(model->config().normalization.std, (std::array<float, 3>{0.25f, 0.25f, 0.25f}));
  const auto plain = load_image_batch({f.dir / "img_a.png"}, 32);
  const auto custom = load_image_batch({f.dir / "img_a.png"}, 32, model->config().normalization);
  // x' = (x - 0.5) / 0.25 where x = plain * std + mean (OpenAI's).
  const auto x = plain * torch::tensor({kClipStd[0], kClipStd[1], kClipStd[2]}).view({1, 3, 1, 1}) +
                 torch::tensor({kClipMean[0], kClipMean[1], kClipMean[2]}).view({1, 3, 1, 1});
  EXPECT_LT(relative_error(custom, (x - 0.5) / 0.25), 1e-5);
}

TEST(OpenClip, CustomTextTowerKeysAreLifted) {
  REQUIRE_OPEN_CLIP(f);
  StateDict sd = read_checkpoint(f.dir / "rn_ordered_fp32_state_dict.pt").state_dict;
  StateDict custom;
  for (const auto& [k, v] : sd) custom[k.starts_with("visual.") || k == "logit_scale" ? k : "text." + k] = v;
  const fs::path path = clipscope::testing::temp_dir() / "custom_text.pt";
  save_state_dict(path, custom);
  const Checkpoint c = read_checkpoint(path);
  ASSERT_EQ(c.state_dict.size(), sd.size());
  for (const auto& [k, v] : sd) EXPECT_TRUE(torch::equal(v, c.state_dict.at(k))) << k;
}

}  // namespace
