// The tour on the shipped demo model: every step builds once, a second run reuses
// all of them, and the featured units are the concept report's most multimodal ones.
#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "atlas/atlas.h"
#include "core/hub/zoo.h"
#include "core/model/loader.h"
#include "core/util/error.h"
#include "demo/concepts.h"
#include "support/shared_data.h"
#include "tour/tour.h"
#include "words/database.h"
#include "world/catalog.h"

namespace clipscope::tour {
namespace {

namespace fs = std::filesystem;

class TourTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(demo_model_path())) GTEST_SKIP() << "demo model " << demo_model_path() << " not found";
    model_ = load_clip(std::string(kDemoModelName));
    tokenizer_.emplace(resolve_vocab_path(std::nullopt, {}, std::string(kDemoModelName)),
                       static_cast<int>(model_->config().vocab_size));
    identity_ = {"demo", "test"};
    options_.dir = clipscope::testing::temp_dir("tour-test") / "tour";
    options_.images = 40;
    options_.concepts = 24;
    options_.images_per_concept = 4;
    options_.featured = 3;
    options_.k = 8;
    options_.progress = false;
  }
  CLIP model_{nullptr};
  std::optional<Tokenizer> tokenizer_;
  atlas::ModelIdentity identity_;
  TourOptions options_;
};

TEST_F(TourTest, BuildsEveryStepOnceAndReusesThemAfterwards) {
  const TourResult first = build_tour(model_, identity_, *tokenizer_, options_);
  EXPECT_EQ(first.steps_done, (std::vector<std::string>{"world", "index", "words", "featured"}));
  EXPECT_TRUE(first.steps_reused.empty());

  // The world: 40 images with their ground truth; the atlas: complete, with a max matrix.
  std::ifstream labels(first.world / "labels.jsonl");
  int lines = 0;
  for (std::string line; std::getline(labels, line);) ++lines;
  EXPECT_EQ(lines, 40);
  ASSERT_TRUE(atlas::Atlas::exists(first.atlas));
  const atlas::Atlas atlas = atlas::Atlas::open(first.atlas);
  EXPECT_TRUE(atlas.complete());
  EXPECT_EQ(atlas.image_count(true), 40);
  ASSERT_EQ(atlas.layers().size(), 1u);
  EXPECT_TRUE(atlas.matrix(atlas.layers()[0], atlas::Quantity::Max).has_value());
  // The word database holds every concept name of the catalog.
  const auto words = words::WordDatabase::open(first.atlas);
  const auto set = words.set("visual.layer4");
  EXPECT_EQ(set.words_total, static_cast<int64_t>(world::catalog().concepts().size()));
  EXPECT_EQ(set.status, "complete");

  // Featured: distinct units, best first, each the best unit of its concept in the report.
  ASSERT_EQ(first.featured.size(), 3u);
  demo::ConceptOptions co;
  co.layers = {"visual.layer4"};
  co.concepts = 24;
  co.images = 4;
  co.multimodal_only = true;
  const auto report = demo::concept_report(model_, *tokenizer_, co);
  std::vector<demo::ConceptUnit> best = report.layers.at(0).concepts;
  std::sort(best.begin(), best.end(), [](const auto& a, const auto& b) { return a.score > b.score; });
  EXPECT_EQ(first.featured[0].concept_name, best[0].name);
  EXPECT_EQ(first.featured[0].unit, best[0].unit);
  EXPECT_DOUBLE_EQ(first.featured[0].picture_z, best[0].object_z);
  for (size_t i = 1; i < first.featured.size(); ++i) {
    EXPECT_NE(first.featured[i].unit, first.featured[i - 1].unit);
    EXPECT_GE(std::min(first.featured[i - 1].picture_z, first.featured[i - 1].word_z),
              std::min(first.featured[i].picture_z, first.featured[i].word_z));
  }
  const auto j = nlohmann::json::parse(clipscope::testing::read_file(featured_file(first.atlas)));
  ASSERT_EQ(j["units"].size(), 3u);
  EXPECT_EQ(j["units"][0]["layer"], "visual.layer4");
  EXPECT_NE(j["units"][0]["note"].get<std::string>().find(first.featured[0].concept_name), std::string::npos);

  // Again: nothing is rebuilt, and the same units are featured.
  const TourResult second = build_tour(model_, identity_, *tokenizer_, options_);
  EXPECT_TRUE(second.steps_done.empty());
  EXPECT_EQ(second.steps_reused, (std::vector<std::string>{"world", "index", "words", "featured"}));
  ASSERT_EQ(second.featured.size(), first.featured.size());
  for (size_t i = 0; i < first.featured.size(); ++i) EXPECT_EQ(second.featured[i].unit, first.featured[i].unit);
}

TEST_F(TourTest, AnUnfinishedWorldIsDrawnAgainAndBadOptionsAreNamed) {
  // A world.part left by a killed run does not count as a world.
  clipscope::testing::write_file(options_.dir / "world.part" / "images" / "junk.png", "not a png");
  options_.images = 12;
  const TourResult r = build_tour(model_, identity_, *tokenizer_, options_);
  EXPECT_FALSE(fs::exists(options_.dir / "world.part"));
  EXPECT_EQ(atlas::Atlas::open(r.atlas).image_count(true), 12);

  options_.images = 0;
  EXPECT_NE(clipscope::testing::error_message([&] {
              build_tour(model_, identity_, *tokenizer_, options_);
            }).find("tour images = 0"),
            std::string::npos);
}

}  // namespace
}  // namespace clipscope::tour
