// Checkpoint formats and every bad-input case: each gets one clear Error line.
#include "core/model/checkpoint.h"

#include <gtest/gtest.h>

#include <fstream>

#include "core/model/fixtures.h"
#include "core/model/loader.h"
#include "core/util/error.h"
#include "support/shared_data.h"

using namespace clipscope;
namespace fs = std::filesystem;

namespace {

// Runs fn, expects an Error whose message is one line containing every fragment.
template <typename Fn>
void expect_error(Fn&& fn, std::initializer_list<std::string> fragments) {
  try {
    fn();
    ADD_FAILURE() << "expected an Error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    for (const auto& f : fragments) EXPECT_NE(msg.find(f), std::string::npos) << "'" << f << "' not in: " << msg;
  }
}

StateDict vit_state_dict(const fs::path& shared) {
  return read_checkpoint(shared / "fixtures" / "vit_tiny_state_dict.pt").state_dict;
}

TEST(Checkpoint, ReadsBothFormatsWithTheSameTensors) {
  CLIPSCOPE_REQUIRE_SHARED(shared);
  auto jit = read_checkpoint(shared / "fixtures" / "vit_tiny.pt");
  auto plain = read_checkpoint(shared / "fixtures" / "vit_tiny_state_dict.pt");
  EXPECT_EQ(jit.format, CheckpointFormat::TorchScript);
  EXPECT_EQ(plain.format, CheckpointFormat::TorchSave);
  for (const auto& [key, tensor] : plain.state_dict) {
    ASSERT_TRUE(jit.state_dict.count(key)) << key;
    EXPECT_TRUE(torch::equal(jit.state_dict.at(key), tensor)) << key;
  }
  // fp16 weights are kept as stored until load.
  EXPECT_EQ(plain.state_dict.at("visual.conv1.weight").scalar_type(), torch::kHalf);
}

TEST(Checkpoint, InfersConfigLikeBuildModel) {
  CLIPSCOPE_REQUIRE_SHARED(shared);
  auto manifest = clipscope::testing::read_manifest(shared);
  for (const std::string name : {"rn_tiny", "vit_tiny"}) {
    const auto& expected = manifest["models"][name]["config"];
    auto c = CLIPConfig::from_state_dict(
        read_checkpoint(shared / "fixtures" / manifest["models"][name]["jit_archive"].get<std::string>()).state_dict);
    EXPECT_EQ(c.embed_dim, expected["embed_dim"].get<int64_t>());
    EXPECT_EQ(c.image_resolution, expected["image_resolution"].get<int64_t>());
    EXPECT_EQ(c.vision_width, expected["vision_width"].get<int64_t>());
    EXPECT_EQ(c.transformer_width, expected["transformer_width"].get<int64_t>());
    EXPECT_EQ(c.transformer_heads, expected["transformer_heads"].get<int64_t>());
    EXPECT_EQ(c.transformer_layers, expected["transformer_layers"].get<int64_t>());
    EXPECT_EQ(c.vocab_size, expected["vocab_size"].get<int64_t>());
    if (expected["vision_patch_size"].is_null()) {
      EXPECT_EQ(c.resnet_layers, expected["vision_layers"].get<std::vector<int64_t>>());
    } else {
      EXPECT_EQ(c.vision_patch_size, expected["vision_patch_size"].get<int64_t>());
      EXPECT_EQ(c.vit_layers, expected["vision_layers"].get<int64_t>());
    }
  }
}

// open_clip checkpoints: {"state_dict": {"module.visual...": ...}, "epoch": ...}.
TEST(Checkpoint, UnwrapsOpenClipTrainingCheckpoints) {
  CLIPSCOPE_REQUIRE_SHARED(shared);
  auto sd = vit_state_dict(shared);
  c10::Dict<std::string, torch::Tensor> inner;
  for (const auto& [k, v] : sd) inner.insert("module." + k, v);
  c10::impl::GenericDict outer(c10::StringType::get(), c10::AnyType::get());
  outer.insert("epoch", c10::IValue(static_cast<int64_t>(32)));
  outer.insert("name", c10::IValue(std::string("ViT-tiny")));
  outer.insert("state_dict", c10::IValue(inner));
  auto bytes = torch::pickle_save(c10::IValue(outer));
  auto path = clipscope::testing::temp_dir() / "open_clip_epoch_32.pt";
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));

  auto loaded = read_checkpoint(path);
  ASSERT_EQ(loaded.state_dict.size(), sd.size());
  EXPECT_TRUE(torch::equal(loaded.state_dict.at("visual.proj"), sd.at("visual.proj")));
  EXPECT_NO_THROW(load_clip_file(path));
}

TEST(Checkpoint, SaveStateDictRoundTrips) {
  CLIPSCOPE_REQUIRE_SHARED(shared);
  auto sd = vit_state_dict(shared);
  auto path = clipscope::testing::temp_dir() / "copy.pt";
  save_state_dict(path, sd);
  EXPECT_FALSE(fs::exists(path.string() + ".part"));
  auto back = read_checkpoint(path).state_dict;
  ASSERT_EQ(back.size(), sd.size());
  for (const auto& [k, v] : sd) EXPECT_TRUE(torch::equal(back.at(k), v)) << k;
}

TEST(CheckpointErrors, MissingFile) {
  expect_error([] { read_checkpoint("/nonexistent/RN50.pt"); }, {"/nonexistent/RN50.pt", "no such file"});
  expect_error([] { load_clip("/nonexistent/RN50.pt"); }, {"/nonexistent/RN50.pt", "no such file"});
}

TEST(CheckpointErrors, UnknownModelName) {
  expect_error([] { load_clip("RN51"); }, {"RN51", "unknown model"});
}

TEST(CheckpointErrors, NotACheckpoint) {
  auto dir = clipscope::testing::temp_dir();
  std::ofstream(dir / "notes.pt") << "these are not weights\n";
  expect_error([&] { read_checkpoint(dir / "notes.pt"); }, {"notes.pt", "not a PyTorch checkpoint"});
  expect_error([&] { read_checkpoint(dir); }, {"a folder", "not an open_clip hub folder"});
  // A legacy (pre-zip) pickle starts with the pickle protocol opcode.
  std::ofstream(dir / "legacy.pt", std::ios::binary) << "\x80\x02"
                                                     << "rest";
  expect_error([&] { read_checkpoint(dir / "legacy.pt"); }, {"legacy.pt", "legacy"});
}

TEST(CheckpointErrors, TruncatedFile) {
  CLIPSCOPE_REQUIRE_SHARED(shared);
  auto dir = clipscope::testing::temp_dir();
  for (const std::string name : {"rn_tiny.pt", "vit_tiny_state_dict.pt"}) {
    fs::copy_file(shared / "fixtures" / name, dir / name);
    fs::resize_file(dir / name, fs::file_size(dir / name) / 2);
    expect_error([&] { load_clip_file(dir / name); }, {name, "truncated or corrupt"});
  }
}

TEST(CheckpointErrors, UnknownArchitecture) {
  CLIPSCOPE_REQUIRE_SHARED(shared);
  StateDict text_only;
  for (const auto& [k, v] : vit_state_dict(shared))
    if (k.rfind("visual.", 0) != 0) text_only[k] = v;
  auto path = clipscope::testing::temp_dir() / "text_only.pt";
  save_state_dict(path, text_only);
  expect_error([&] { load_clip_file(path); }, {"text_only.pt", "unsupported architecture"});
}

TEST(CheckpointErrors, MissingKeys) {
  CLIPSCOPE_REQUIRE_SHARED(shared);
  auto sd = vit_state_dict(shared);
  sd.erase("visual.ln_post.bias");
  auto path = clipscope::testing::temp_dir() / "missing.pt";
  save_state_dict(path, sd);
  expect_error([&] { load_clip_file(path); }, {"missing.pt", "missing 1 key", "visual.ln_post.bias"});
}

TEST(CheckpointErrors, ShapeMismatch) {
  CLIPSCOPE_REQUIRE_SHARED(shared);
  auto sd = vit_state_dict(shared);
  sd["visual.ln_pre.weight"] = torch::ones({7});
  auto path = clipscope::testing::temp_dir() / "mismatch.pt";
  save_state_dict(path, sd);
  expect_error([&] { load_clip_file(path); }, {"mismatch.pt", "shape mismatch", "visual.ln_pre.weight", "[7]"});
}

}  // namespace
