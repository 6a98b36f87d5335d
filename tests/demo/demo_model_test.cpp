// The shipped demo model: it loads through the normal loader with its own merges
// file and meets the demo report's targets (computed here, not stored).
#include <gtest/gtest.h>

#include <filesystem>

#include "core/hub/zoo.h"
#include "core/model/loader.h"
#include "demo/report.h"
#include "demo/train.h"

namespace clipscope::demo {
namespace {

#define REQUIRE_DEMO_MODEL()                                                                      \
  if (!std::filesystem::exists(demo_model_path())) {                                              \
    GTEST_SKIP() << "demo model " << demo_model_path() << " not found (train it with train-demo)"; \
  }

TEST(DemoModel, LoadsThroughTheNormalLoaderWithItsOwnVocabulary) {
  REQUIRE_DEMO_MODEL();
  CLIP model = load_clip(std::string(kDemoModelName));
  const auto merges = resolve_vocab_path(std::nullopt, {}, std::string(kDemoModelName));
  EXPECT_EQ(merges, merges_beside(demo_model_path()));
  const Tokenizer tokenizer(merges, static_cast<int>(model->config().vocab_size));
  const CLIPConfig expected = demo_config(model->config().vocab_size, 64, 24);
  EXPECT_EQ(model->config().describe(), expected.describe());
  // Concept words are single tokens of the learned vocabulary.
  for (const char* word : {"red", "star", "surprised", "hexagon"}) EXPECT_EQ(tokenizer.encode(word).size(), 1u) << word;
}

TEST(DemoModel, MeetsTheReportTargets) {
  REQUIRE_DEMO_MODEL();
  CLIP model = load_clip(std::string(kDemoModelName));
  const Tokenizer tokenizer(resolve_vocab_path(std::nullopt, {}, std::string(kDemoModelName)),
                            static_cast<int>(model->config().vocab_size));
  Report report = demo_report(model, tokenizer, ReportOptions{});
  report.model = "demo";
  std::cout << report.to_text();
  // Every target of the shipped model's world edition (the concept targets of issue 19
  // join once a second-edition model ships: kShippedWorldEdition).
  for (const auto& target : report.targets())
    EXPECT_TRUE(target.met()) << target.name << " = " << target.value << " < " << target.goal;
  // Findings, not targets, but they must be measured: fractions in [0, 1].
  EXPECT_GE(report.attack_color_flip, 0.0);
  EXPECT_LE(report.attack_color_flip, 1.0);
  EXPECT_EQ(report.stroop_ink.size(), 8u);

  // The concept measures run on any model; on the first-edition model (which never saw
  // an emoji or a flag) they sit at their chance baselines, which is what the
  // baselines are for.
  ASSERT_TRUE(report.has_concepts);
  const ConceptReport& c = report.concepts;
  ASSERT_EQ(c.layers.size(), 2u);
  EXPECT_EQ(c.layers[0].layer, "visual.layer4");
  EXPECT_EQ(c.layers[0].units, 768);
  EXPECT_EQ(c.layers[0].concepts.size(), 256u);
  EXPECT_EQ(c.zero_shot.size(), 21u);  // every family but the drawn colours and shapes
  for (const auto& [family, top1] : c.zero_shot) EXPECT_LT(top1, 0.3) << family;  // it never saw them
  EXPECT_LT(c.attack.flip, 0.1);
  EXPECT_GT(c.attack.pixel_cover, 0.02);
  EXPECT_LT(c.attack.pixel_cover, 0.5);
  const double chance = static_cast<double>(c.layers[0].multimodal_shuffled) / 256;
  EXPECT_LT(c.layers[0].fraction(), chance + 0.1) << "multimodal above chance in a model that never saw emoji?";
  EXPECT_LT(c.reading, 0.5);  // it reads its 68 words, not the catalog's names
}

}  // namespace
}  // namespace clipscope::demo
