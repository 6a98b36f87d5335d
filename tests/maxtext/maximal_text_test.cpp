// Maximal text: the text tower from token embeddings, targets, the batched scores,
// both searches on a tiny model (ranked, distinct, valid UTF-8, reproducible), and on
// the demo model the text an image or a concept's unit corresponds to.
#include "maxtext/maximal_text.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "abstractions/attribution.h"
#include "core/hub/zoo.h"
#include "core/model/loader.h"
#include "core/model/tensor_io.h"
#include "core/text/tokenizer.h"
#include "core/util/error.h"
#include "support/cli_runner.h"
#include "support/shared_data.h"
#include "support/tiny_models.h"
#include "world/catalog.h"
#include "world/scene.h"

namespace clipscope {
namespace {

namespace fs = std::filesystem;

// A tiny ResNet CLIP over the demo model's vocabulary (its merges ship in the repository).
class TinyMaxText : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(demo_model_path())) GTEST_SKIP() << "demo model not found (its vocabulary is needed)";
    const auto merges = merges_beside(demo_model_path());
    tokenizer_.emplace(merges, 0);
    CLIPConfig config = testing::tiny_resnet_config();
    config.vocab_size = tokenizer_->vocab_size();
    model_ = testing::tiny_model(config, 5);
  }
  CLIP model_{nullptr};
  std::optional<Tokenizer> tokenizer_;
};

TEST_F(TinyMaxText, TheTextTowerFromTokenEmbeddingsIsTheTextTower) {
  torch::NoGradGuard no_grad;
  const auto tokens = tokenize_batch(*tokenizer_, {"a red circle", "two happy faces on a flag"},
                                     static_cast<int>(model_->config().context_length));
  const auto direct = model_->encode_text(tokens);
  const auto through = model_->encode_token_embeddings(model_->token_embedding(tokens), tokens.argmax(-1));
  EXPECT_TRUE(torch::allclose(direct, through, 1e-5, 1e-6)) << (direct - through).abs().max().item<double>();
}

TEST_F(TinyMaxText, TargetsAreNormalizedSumsOfUnitImageAndTextDirections) {
  torch::NoGradGuard no_grad;
  const auto point = abstractions::attribution_points(*model_).at(0);
  const auto d = abstractions::unit_directions(*model_, point);
  const auto unit = maxtext::parse_target(model_, *tokenizer_, point + ":3");
  EXPECT_TRUE(torch::allclose(unit.direction, d[3] / d[3].norm(), 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(maxtext::parse_target(model_, *tokenizer_, fmt::format("unit({}, 3)", point)).direction,
                              unit.direction));
  const auto text = maxtext::parse_target(model_, *tokenizer_, "text(\"a red, round thing\")");
  auto e = model_
               ->encode_text(tokenize_batch(*tokenizer_, {"a red, round thing"},
                                            static_cast<int>(model_->config().context_length)))[0]
               .to(torch::kFloat);
  e = e / e.norm();
  EXPECT_TRUE(torch::allclose(text.direction, e, 1e-5, 1e-6));
  const auto sum = maxtext::parse_target(model_, *tokenizer_, point + ":3 - 2 * text(\"a red, round thing\")");
  const auto expected = (unit.direction - 2 * e) / (unit.direction - 2 * e).norm();
  EXPECT_TRUE(torch::allclose(sum.direction, expected, 1e-5, 1e-6));
  EXPECT_NEAR(sum.direction.norm().item<double>(), 1.0, 1e-5);
  const auto error = [&](const std::string& expression) {
    try {
      maxtext::parse_target(model_, *tokenizer_, expression);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_NE(error("banana(1)").find("unknown target 'banana'"), std::string::npos) << error("banana(1)");
  EXPECT_NE(error(point + ":99999").find("unit '99999'"), std::string::npos) << error(point + ":99999");
  EXPECT_NE(error("text(a) - text(a)").find("cancel out"), std::string::npos) << error("text(a) - text(a)");
  EXPECT_NE(error("visual.layer2:1").find("has no direction"), std::string::npos) << error("visual.layer2:1");
  EXPECT_NE(error("image(/no/such.png)").find("/no/such.png"), std::string::npos) << error("image(/no/such.png)");
}

TEST_F(TinyMaxText, BatchedScoresAreTheCosineOfTheTypedText) {
  const auto target = maxtext::parse_target(model_, *tokenizer_, "text(\"a blue star\")");
  const std::vector<std::string> texts{"a blue star", "green", "three sad faces", "a flag of peru"};
  std::vector<std::vector<int32_t>> sequences;
  for (const auto& t : texts) sequences.push_back(tokenizer_->encode(t));
  const auto scores = maxtext::score_sequences(model_, *tokenizer_, sequences, target.direction, 3);
  ASSERT_EQ(scores.size(), texts.size());
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < texts.size(); ++i) {
    auto e =
        model_
            ->encode_text(tokenize_batch(*tokenizer_, {texts[i]}, static_cast<int>(model_->config().context_length)))[0]
            .to(torch::kFloat);
    EXPECT_NEAR(scores[i], torch::dot(e / e.norm(), target.direction).item<double>(), 1e-4) << texts[i];
  }
  EXPECT_NEAR(scores[0], 1.0, 1e-4) << "the target's own text";
}

TEST_F(TinyMaxText, BothSearchesRankDistinctValidTextsReproducibly) {
  const auto target = maxtext::parse_target(model_, *tokenizer_, "text(\"two green hearts\")");
  for (auto method : {maxtext::Method::HillClimb, maxtext::Method::Embedding}) {
    maxtext::Options o;
    o.method = method;
    o.generations = 8;
    o.epochs = 4;
    o.iterations = 10;
    o.max_tokens = 5;
    o.top = 10;
    o.seed = 3;
    const auto r = maxtext::maximal_text(model_, *tokenizer_, target, o);
    const std::string name = maxtext::method_name(method);
    ASSERT_FALSE(r.texts.empty()) << name;
    EXPECT_LE(r.texts.size(), 10u);
    std::set<std::string> seen;
    for (size_t i = 0; i < r.texts.size(); ++i) {
      EXPECT_EQ(r.texts[i].text.find("\xEF\xBF\xBD"), std::string::npos)
          << name << ": " << r.texts[i].text << " holds a byte that is not a whole character";
      EXPECT_TRUE(seen.insert(r.texts[i].text).second) << name << ": " << r.texts[i].text << " twice";
      if (i > 0) {
        EXPECT_LE(r.texts[i].score, r.texts[i - 1].score) << name;
      }
      // The score is the typed text's.
      const auto typed =
          maxtext::score_sequences(model_, *tokenizer_, {tokenizer_->encode(r.texts[i].text)}, target.direction, 1)[0];
      EXPECT_NEAR(r.texts[i].score, typed, 1e-4) << name << ": " << r.texts[i].text;
    }
    const auto again = maxtext::maximal_text(model_, *tokenizer_, target, o);
    ASSERT_EQ(again.texts.size(), r.texts.size()) << name;
    for (size_t i = 0; i < r.texts.size(); ++i) EXPECT_EQ(again.texts[i].text, r.texts[i].text) << name;
    EXPECT_GT(r.evaluated, 0);
  }
  // Hill climbing beats the random sequences it starts from.
  maxtext::Options start;
  start.generations = 1;
  start.children = 1;
  maxtext::Options longer = start;
  longer.generations = 25;
  longer.children = 128;
  EXPECT_GT(maxtext::maximal_text(model_, *tokenizer_, target, longer).texts[0].score,
            maxtext::maximal_text(model_, *tokenizer_, target, start).texts[0].score);
  maxtext::Options bad;
  bad.max_tokens = 0;
  EXPECT_THROW(maxtext::maximal_text(model_, *tokenizer_, target, bad), ArgumentError);
  bad.max_tokens = 5;
  bad.pool = 0;
  EXPECT_THROW(maxtext::maximal_text(model_, *tokenizer_, target, bad), ArgumentError);
  EXPECT_THROW(maxtext::parse_method("beam"), Error);
}

// Whether `text` and `name` share a run of 4 letters (spaces ignored): the demo model's
// vocabulary (1,000 merges) spells most names in pieces, which maximal text recombines
// ("jibo" for djibouti, "dium" for stadium).
bool shares_four_letters(std::string text, std::string name) {
  std::erase(text, ' ');
  std::erase(name, ' ');
  for (size_t i = 0; i + 4 <= name.size(); ++i)
    if (text.find(name.substr(i, 4)) != std::string::npos) return true;
  return false;
}

// The demo model: the maximal text of a world picture spells what it shows, and a
// colour's unit's maximal text names the colour.
TEST(DemoMaxText, APicturesTextSpellsItsConceptAndAColourUnitsTextNamesTheColour) {
  if (!fs::exists(demo_model_path())) GTEST_SKIP() << "demo model not found";
  const fs::path dir = testing::temp_dir();
  auto r = testing::run_clipscope({"world",      "-n",
                                   "14",         "--seed",
                                   "9",          "-o",
                                   dir.string(), "--weight-objects",
                                   "0",          "--weight-face",
                                   "0",          "--weight-word",
                                   "0",          "--weight-object-with-word",
                                   "0",          "--weight-picture",
                                   "1",          "--weight-silhouette",
                                   "0",          "--weight-picture-with-word",
                                   "0"});
  ASSERT_EQ(r.code, 0) << r.err;
  CLIP model = load_clip(std::string(kDemoModelName));
  const Tokenizer tokenizer(merges_beside(demo_model_path()), static_cast<int>(model->config().vocab_size));
  maxtext::Options o;
  o.max_tokens = 6;
  o.top = 1;
  std::vector<std::string> concepts, best;
  std::ifstream labels(dir / "labels.jsonl");
  for (std::string line; std::getline(labels, line);) {
    const auto j = nlohmann::json::parse(line);
    if (!j.contains("concept")) continue;
    concepts.push_back(j["concept"].get<std::string>());
    const auto target = maxtext::parse_target(
        model, tokenizer, fmt::format("image(\"{}\")", (dir / j["image"].get<std::string>()).string()));
    best.push_back(maxtext::maximal_text(model, tokenizer, target, o).texts.at(0).text);
  }
  ASSERT_GE(concepts.size(), 10u);
  int own = 0, other = 0;
  for (size_t i = 0; i < concepts.size(); ++i) {
    own += shares_four_letters(best[i], concepts[i]) ? 1 : 0;
    other += shares_four_letters(best[i], concepts[(i + concepts.size() / 2) % concepts.size()]) ? 1 : 0;
    std::cout << concepts[i] << " -> " << best[i] << "\n";
  }
  std::cout << fmt::format("pictures: {} of {} maximal texts spell their concept (another picture's: {})\n", own,
                           concepts.size(), other);
  EXPECT_GE(own, static_cast<int>(concepts.size()) / 3) << "measured 6 of 12 with 60 generations";
  EXPECT_GT(own, 2 * other);
  // Colours: each colour's most attributed unit (centred over the eight), its maximal text.
  std::vector<std::string> colours;
  for (const auto& c : world::colors()) colours.push_back(c.name);
  abstractions::AttributionOptions a;
  a.templates = {"{}", "a {} circle", "a drawing of a {} square"};
  a.center = true;
  const auto attribution = abstractions::attribute_texts(model, tokenizer, colours, a);
  int named = 0, others = 0;
  for (size_t c = 0; c < colours.size(); ++c) {
    const auto unit = attribution.top(c, 1).at(0).first;
    const auto target = maxtext::parse_target(model, tokenizer, fmt::format("{}:{}", attribution.point, unit));
    const std::string text = " " + maxtext::maximal_text(model, tokenizer, target, o).texts.at(0).text + " ";
    for (size_t k = 0; k < colours.size(); ++k) {
      const bool has = text.find(" " + colours[k] + " ") != std::string::npos;
      (k == c ? named : others) += has ? 1 : 0;
    }
    std::cout << colours[c] << " unit " << unit << " -> " << text << "\n";
  }
  std::cout << fmt::format(
      "colour units: {} of 8 maximal texts name their colour; other colours named {} times in "
      "56 chances\n",
      named, others);
  EXPECT_GE(named, 3) << "measured 4 of 8";
  EXPECT_GT(named / 8.0, others / 56.0);
}

TEST(MaxTextCommand, PrintsRankedTextsAndRefusesBadInput) {
  if (!fs::exists(demo_model_path())) GTEST_SKIP() << "demo model not found";
  const fs::path dir = testing::temp_dir();
  auto r = testing::run_clipscope({"maximal-text", "--text", "a red circle", "--generations", "5", "--top", "4",
                                   "--seed", "2", "-o", (dir / "m.json").string()});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("maximal text for text(\"a red circle\")"), std::string::npos) << r.out;
  const auto j = nlohmann::json::parse(std::ifstream(dir / "m.json"));
  EXPECT_EQ(j["texts"].size(), 4u);
  EXPECT_EQ(j["method"], "hill-climb");
  r = testing::run_clipscope({"maximal-text", "--unit", "visual.layer4:3", "--method", "embedding", "--epochs", "2",
                              "--iterations", "5", "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["method"], "embedding");
  testing::expect_one_line_error(testing::run_clipscope({"maximal-text"}), "--target");
  testing::expect_one_line_error(testing::run_clipscope({"maximal-text", "--text", "a", "--method", "beam"}),
                                 "method 'beam'");
  testing::expect_one_line_error(testing::run_clipscope({"maximal-text", "--target", "unit(visual.layer4)"}),
                                 "unit() needs a layer and a unit");
  testing::expect_one_line_error(testing::run_clipscope({"maximal-text", "--text", "a", "--max-tokens", "0"}),
                                 "--max-tokens 0: must be in [1,");
  // --atlas stores units' texts: it needs --unit, takes lists, and names a missing atlas.
  testing::expect_one_line_error(
      testing::run_clipscope({"maximal-text", "--atlas", (dir / "none").string(), "--text", "a"}), "--atlas");
  testing::expect_one_line_error(
      testing::run_clipscope({"maximal-text", "--atlas", (dir / "none").string(), "--unit", "visual.layer4:0-3"}),
      "no such directory");
  testing::expect_one_line_error(
      testing::run_clipscope({"maximal-text", "--atlas", dir.string(), "--unit", "visual.layer4"}),
      "--unit visual.layer4: expected LAYER:UNITS");
  fs::remove_all(dir);
}

}  // namespace
}  // namespace clipscope
