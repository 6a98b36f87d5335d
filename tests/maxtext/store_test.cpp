// Maximal texts kept in an atlas: stored and read back as computed, one result per
// unit and method, filled resumably (a killed run keeps the units it finished), and
// refused for another model, a layer without text directions or a unit out of range.
#include "maxtext/store.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <optional>

#include "abstractions/attribution.h"
#include "atlas/atlas.h"
#include "core/hub/zoo.h"
#include "core/image/image.h"
#include "core/model/loader.h"
#include "core/util/error.h"
#include "support/shared_data.h"
#include "support/tiny_models.h"

namespace clipscope {
namespace {

namespace fs = std::filesystem;

// A tiny ResNet CLIP over the demo model's vocabulary and an atlas of it over 6 noise images.
class MaxTextStore : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(demo_model_path())) GTEST_SKIP() << "demo model not found (its vocabulary is needed)";
    tokenizer_.emplace(merges_beside(demo_model_path()), 0);
    CLIPConfig config = testing::tiny_resnet_config();
    config.vocab_size = tokenizer_->vocab_size();
    model_ = testing::tiny_model(config, 3);
    dir_ = testing::temp_dir("maxtext-store");
    std::vector<fs::path> images;
    torch::manual_seed(1);
    for (int i = 0; i < 6; ++i) {
      Image image{32, 32, {}};
      const auto pixels = torch::randint(0, 256, {32 * 32 * 3}, torch::kUInt8);
      image.rgb.assign(pixels.data_ptr<uint8_t>(), pixels.data_ptr<uint8_t>() + pixels.numel());
      images.push_back(dir_ / fmt::format("{}.png", i));
      write_png(images.back(), image);
    }
    point_ = abstractions::attribution_points(*model_).at(0);
    atlas::IndexOptions o;
    o.layers = {point_, "visual.layer3"};
    o.k = 3;
    o.progress = false;
    atlas::index_images(model_, identity_, images, dir_ / "atlas", o);
    options_.generations = 3;
    options_.children = 16;
    options_.pool = 6;
    options_.top = 5;
    options_.max_tokens = 4;
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  std::vector<maxtext::StoredResult> stored(int64_t unit) {
    auto a = atlas::Atlas::open(dir_ / "atlas");
    return maxtext::stored_results(a.database(), point_, unit);
  }
  maxtext::FillReport fill(const std::vector<int64_t>& units, bool replace = false) {
    return maxtext::fill_atlas(model_, *tokenizer_, identity_, dir_ / "atlas", point_, units, options_, replace);
  }

  CLIP model_{nullptr};
  std::optional<Tokenizer> tokenizer_;
  fs::path dir_;
  std::string point_;
  atlas::ModelIdentity identity_{"tiny", "tiny-model-sha"};
  maxtext::Options options_;
};

TEST_F(MaxTextStore, AFilledUnitReadsBackAsTheSearchComputedIt) {
  EXPECT_TRUE(stored(2).empty());  // no tables yet
  const auto report = fill({2});
  EXPECT_EQ(report.computed, 1);
  EXPECT_EQ(report.skipped, 0);
  const auto direct =
      maxtext::maximal_text(model_, *tokenizer_, maxtext::parse_target(model_, *tokenizer_, point_ + ":2"), options_);
  const auto results = stored(2);
  ASSERT_EQ(results.size(), 1u);
  const auto& r = results[0];
  EXPECT_EQ(r.method, "hill-climb");
  EXPECT_EQ(r.model_sha256, "tiny-model-sha");
  EXPECT_EQ(r.options["generations"], 3);
  EXPECT_EQ(r.options["max_tokens"], 4);
  EXPECT_EQ(r.evaluated, direct.evaluated);
  EXPECT_EQ(r.created.size(), 20u) << r.created;  // 2026-12-07T16:53:44Z
  ASSERT_EQ(r.texts.size(), direct.texts.size());
  for (size_t i = 0; i < r.texts.size(); ++i) {
    EXPECT_EQ(r.texts[i].text, direct.texts[i].text) << i;
    EXPECT_DOUBLE_EQ(r.texts[i].score, direct.texts[i].score) << i;
    EXPECT_EQ(r.texts[i].found_at, direct.texts[i].found_at) << i;
  }
  EXPECT_EQ(r.to_json()["texts"][0]["text"], direct.texts[0].text);
  EXPECT_TRUE(stored(3).empty());
}

TEST_F(MaxTextStore, OneResultPerUnitAndMethodHillClimbingListedFirst) {
  options_.method = maxtext::Method::Embedding;
  options_.epochs = 2;
  options_.iterations = 3;
  fill({1});
  options_.method = maxtext::Method::HillClimb;
  fill({1});
  options_.seed = 9;
  EXPECT_EQ(fill({1}, /*replace=*/true).computed, 1);
  const auto results = stored(1);
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0].method, "hill-climb");
  EXPECT_EQ(results[0].options["seed"], 9);  // the replacement, not the first search
  EXPECT_EQ(results[1].method, "embedding");
  EXPECT_EQ(results[1].options["epochs"], 2);
}

TEST_F(MaxTextStore, AKilledFillKeepsItsFinishedUnitsAndARerunDoesTheRest) {
  int units_started = 0;
  options_.on_step = [&](int64_t done, int64_t) {
    if (done == 1) ++units_started;
    if (units_started == 3) throw Error("killed");  // during the third unit
  };
  EXPECT_THROW(fill({0, 1, 2, 3}), Error);
  EXPECT_EQ(stored(0).size(), 1u);
  EXPECT_EQ(stored(1).size(), 1u);
  EXPECT_TRUE(stored(2).empty());
  options_.on_step = nullptr;
  const auto rerun = fill({0, 1, 2, 3});
  EXPECT_EQ(rerun.skipped, 2);
  EXPECT_EQ(rerun.computed, 2);
  for (int64_t u = 0; u < 4; ++u) EXPECT_EQ(stored(u).size(), 1u) << u;
  EXPECT_EQ(fill({0, 1, 2, 3}).computed, 0);
}

TEST_F(MaxTextStore, RefusesAnotherModelALayerWithoutDirectionsAndAUnitOutOfRange) {
  const auto message = [&](auto&& f) { return testing::error_message(f); };
  std::string m = message([&] {
    maxtext::fill_atlas(model_, *tokenizer_, {"other", "other-sha"}, dir_ / "atlas", point_, {0}, options_);
  });
  EXPECT_NE(m.find("not the model the atlas was built with"), std::string::npos) << m;
  m = message(
      [&] { maxtext::fill_atlas(model_, *tokenizer_, identity_, dir_ / "atlas", "visual.layer3", {0}, options_); });
  EXPECT_NE(m.find("no direction in the embedding space"), std::string::npos) << m;
  m = message([&] { fill({0, 100000}); });
  EXPECT_NE(m.find("100000"), std::string::npos) << m;
  EXPECT_TRUE(stored(0).empty());  // checked before any search
}

}  // namespace
}  // namespace clipscope
