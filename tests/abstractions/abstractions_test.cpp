// How neurons are used: the bilinear attribution against a direct computation,
// interventions, NMF, the feeling wheel, and the emotion atlas on the demo model.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>
#include <iostream>

#include "abstractions/attribution.h"
#include "abstractions/emotion_atlas.h"
#include "abstractions/intervene.h"
#include "abstractions/nmf.h"
#include "atlas/atlas.h"
#include "atlas/indexer.h"
#include "core/hub/zoo.h"
#include "core/image/image.h"
#include "core/model/loader.h"
#include "core/model/tensor_io.h"
#include "core/raster/text.h"
#include "core/text/feeling_wheel.h"
#include "core/util/error.h"
#include "support/cli_runner.h"
#include "support/shared_data.h"
#include "support/tiny_models.h"
#include "world/catalog.h"
#include "world/scene.h"
#include "zeroshot/zeroshot.h"

namespace clipscope {
namespace {

namespace fs = std::filesystem;

// A tiny random ResNet CLIP with CLIP's vocabulary size, and OpenAI's tokenizer.
class TinyWithVocab : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto shared = testing::shared_dir();
    if (!shared) GTEST_SKIP() << "../shared not found (set CLIPSCOPE_SHARED): OpenAI's vocabulary absent";
    tokenizer_.emplace(*shared / "clip" / "bpe_simple_vocab_16e6.txt.gz");
    CLIPConfig config = testing::tiny_resnet_config();
    config.vocab_size = 49408;
    model_ = testing::tiny_model(config, 3);
  }
  CLIP model_{nullptr};
  std::optional<Tokenizer> tokenizer_;
};

TEST_F(TinyWithVocab, AttributionEqualsTheLogitsChangeWhenThePoolIsAffine) {
  CLIP& model = model_;
  const Tokenizer& tokenizer = *tokenizer_;
  auto* resnet = dynamic_cast<ModifiedResNet*>(model->visual.get());
  ASSERT_NE(resnet, nullptr);
  {
    // Queries and keys of zero make every attention weight equal: the pool is then
    // exactly affine, and one more unit everywhere moves the embedding by its direction.
    torch::NoGradGuard no_grad;
    resnet->attnpool->q_proj->weight.zero_();
    resnet->attnpool->k_proj->weight.zero_();
  }
  abstractions::AttributionOptions o;
  o.templates = {};
  const auto a = abstractions::attribute_texts(model, tokenizer, {"cat", "dog"}, o);
  EXPECT_EQ(a.point, "visual.layer4");
  ASSERT_EQ(a.scores.sizes(), (std::vector<int64_t>{2, 256}));
  const auto text = zero_shot_weights(model, tokenizer, {"cat", "dog"}).to(torch::kFloat32);
  const auto images = torch::randn({1, 3, 64, 64});
  torch::NoGradGuard no_grad;
  for (int64_t u : {0, 17, 255}) {
    const double delta = 0.5;
    const auto before = model->encode_image(images);
    const auto after =
        abstractions::edited_image_features(model, images, {{"visual.layer4", {UnitEdit::Op::Add, {u}, delta}}});
    const auto change = (after - before).matmul(text.t())[0];  // per text
    for (int64_t t = 0; t < 2; ++t)
      EXPECT_NEAR(change[t].item<double>(), delta * a.scores[t][u].item<double>(), 1e-4) << "unit " << u;
  }
  // The last block names the same point; other layers have no direction.
  EXPECT_TRUE(torch::equal(abstractions::unit_directions(*model, "visual.layer4.0"),
                           abstractions::unit_directions(*model, "visual.layer4")));
  try {
    abstractions::unit_directions(*model, "visual.layer3");
    ADD_FAILURE() << "no error for visual.layer3";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'visual.layer3' has no direction"), std::string::npos) << e.what();
  }
}

TEST(Attribution, ViTDirectionsAreLnPostsGainTimesTheProjection) {
  CLIP model = testing::tiny_model(testing::tiny_vit_config(), 1);
  auto* vit = dynamic_cast<VisionTransformer*>(model->visual.get());
  ASSERT_NE(vit, nullptr);
  const auto d = abstractions::unit_directions(*model, "visual.transformer.resblocks.1");
  ASSERT_EQ(d.sizes(), (std::vector<int64_t>{64, 32}));
  EXPECT_TRUE(torch::allclose(d[5], vit->ln_post->weight[5] * vit->proj[5]));
}

TEST_F(TinyWithVocab, InterventionComparesLogitsAndRefusesBadEdits) {
  CLIP& model = model_;
  const Tokenizer& tokenizer = *tokenizer_;
  const auto images = torch::randn({2, 3, 64, 64});
  const auto none = abstractions::intervene(model, tokenizer, images,
                                            {{"visual.layer4", {UnitEdit::Op::Scale, {}, 1.0}}}, {"cat", "dog", "car"});
  ASSERT_EQ(none.before.sizes(), (std::vector<int64_t>{2, 3}));
  EXPECT_TRUE(torch::allclose(none.before, none.after, 1e-5, 1e-5));  // scaling by 1 changes nothing
  const auto big = abstractions::intervene(model, tokenizer, images,
                                           {{"visual.layer4", {UnitEdit::Op::Add, {7}, 50.0}}}, {"cat", "dog", "car"});
  EXPECT_GT((big.after - big.before).abs().max().item<double>(), 1e-3);
  EXPECT_THROW(abstractions::intervene(model, tokenizer, images, {{"visual.layer9", {}}}, {"cat"}), Error);
  EXPECT_THROW(abstractions::intervene(model, tokenizer, images, {{"transformer.resblocks.0", {}}}, {"cat"}), Error);
  EXPECT_THROW(abstractions::intervene(model, tokenizer, images, {}, {}), Error);
}

TEST(Nmf, ErrorFallsFactorsStayNonNegativeAndALowRankMatrixIsRecovered) {
  torch::manual_seed(42);  // not NMF's seed 0, whose first draws would be w and h themselves
  const auto w = torch::rand({30, 3}, torch::kDouble), h = torch::rand({3, 20}, torch::kDouble);
  const auto f = abstractions::nmf(w.matmul(h), {.factors = 3, .iterations = 3000, .tolerance = 0});
  ASSERT_GT(f.errors.size(), 100u) << fmt::format("{}", fmt::join(f.errors, " "));
  for (size_t i = 1; i < f.errors.size(); ++i) ASSERT_LE(f.errors[i], f.errors[i - 1] + 1e-12) << "iteration " << i;
  EXPECT_LT(f.errors.back(), 0.02);
  EXPECT_GE(f.w.min().item<double>(), 0);
  EXPECT_GE(f.h.min().item<double>(), 0);
  EXPECT_EQ(f.w.sizes(), (std::vector<int64_t>{30, 3}));
  // The same seed gives the same factors.
  const auto g = abstractions::nmf(w.matmul(h), {.factors = 3, .iterations = 50, .seed = 9});
  const auto g2 = abstractions::nmf(w.matmul(h), {.factors = 3, .iterations = 50, .seed = 9});
  EXPECT_TRUE(torch::equal(g.w, g2.w));

  EXPECT_THROW(abstractions::nmf(torch::tensor({{1.0, -1.0}, {2.0, 3.0}})), Error);
  EXPECT_THROW(abstractions::nmf(torch::ones({2, 2}), {.factors = 3}), Error);
  EXPECT_THROW(abstractions::nmf(torch::ones({4})), Error);
  const auto split = abstractions::split_signs(torch::tensor({{1.0, -2.0}}));
  EXPECT_TRUE(torch::equal(split, torch::tensor({{1.0, 0.0, 0.0, 2.0}})));
}

TEST(FeelingWheel, ReadsLevelsAndParentsAndRefusesOrphans) {
  const fs::path dir = testing::temp_dir();
  {
    std::ofstream f(dir / "wheel.tsv");
    f << "# comment\nHappy\n\tPlayful\n\t\tCheeky\n\t\tAroused\n\tContent\nSad\n\tLonely\n";
  }
  const auto words = read_feeling_wheel(dir / "wheel.tsv");
  ASSERT_EQ(words.size(), 7u);
  EXPECT_EQ(words[0].word, "happy");
  EXPECT_EQ(words[0].level, 0);
  EXPECT_EQ(words[2].word, "cheeky");
  EXPECT_EQ(words[2].core, "happy");
  EXPECT_EQ(words[2].secondary, "playful");
  EXPECT_EQ(words[4].secondary, "content");
  EXPECT_EQ(words[6].core, "sad");
  {
    std::ofstream f(dir / "bad.tsv");
    f << "\t\tOrphan\n";
  }
  try {
    read_feeling_wheel(dir / "bad.tsv");
    ADD_FAILURE() << "no error for an orphan";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("line 1 ('orphan')"), std::string::npos) << e.what();
  }
  EXPECT_THROW(read_feeling_wheel(dir / "missing.tsv"), Error);
  const fs::path shared = world::shared_data_file("data/words/feeling_wheel.tsv");
  if (shared.empty()) GTEST_SKIP() << "../shared/data/words/feeling_wheel.tsv not found";
  int cores = 0;
  for (const auto& w : read_feeling_wheel(shared)) cores += w.level == 0 ? 1 : 0;
  EXPECT_EQ(cores, 7);
}

// The demo model: attribution names a concept's units, raising them raises its
// logit, and the emotion atlas runs end to end.
class DemoAbstractions : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(demo_model_path())) GTEST_SKIP() << "demo model not found (train it with train-demo)";
    model_ = load_clip(std::string(kDemoModelName));
    tokenizer_.emplace(merges_beside(demo_model_path()), static_cast<int>(model_->config().vocab_size));
  }
  CLIP model_{nullptr};
  std::optional<Tokenizer> tokenizer_;
};

TEST_F(DemoAbstractions, AColoursTopUnitsRespondToThatColourAndRaisingThemRaisesItsLogit) {
  const auto& colors = world::colors();
  std::vector<std::string> names;
  for (const auto& c : colors) names.push_back(c.name);
  abstractions::AttributionOptions o;
  o.templates = {"{}", "a {} circle", "a drawing of a {} square"};
  o.center = true;
  const auto a = abstractions::attribute_texts(model_, *tokenizer_, names, o);
  // Each colour's objects, 12 images each, and the mean of each unit over them.
  std::vector<world::Scene> scenes;
  std::vector<Image> images;
  TextRasterizer raster;
  for (size_t c = 0; c < names.size(); ++c)
    for (int i = 0; i < 12; ++i) {
      world::Rng rng(1000 + c * 100 + static_cast<uint64_t>(i));
      world::Scene s = world::objects_scene(rng, 64, names[c], rng.pick(world::shapes()), 1 + i % 3);
      images.push_back(world::render_scene(s, raster));
    }
  const auto batch = preprocess_batch(images, 64, model_->config().normalization);
  ActivationCache cache({a.point});
  {
    torch::NoGradGuard no_grad;
    model_->run_image(batch, cache);
  }
  const auto means = cache[a.point].mean({2, 3}).view({static_cast<int64_t>(names.size()), 12, -1}).mean(1);
  // Chance: the colour's objects rank in the unit's top 2 of 8 colours 2 times in 8, and
  // its logit rises above the median change 4 times in 8.
  int selective = 0, raised = 0;
  for (size_t c = 0; c < names.size(); ++c) {
    const int64_t u = a.top(c, 1)[0].first;
    const auto column = means.select(1, u);
    selective += column.gt(column[static_cast<int64_t>(c)]).sum().item<int64_t>() < 2 ? 1 : 0;
    // Raise that unit on a blank image: the colour's logit rises more than the others'.
    Image blank = blank_image(64, 64, {128, 128, 128});
    const auto r =
        abstractions::intervene(model_, *tokenizer_, preprocess_batch({blank}, 64, model_->config().normalization),
                                {{a.point, {UnitEdit::Op::Add, {u}, 3.0}}}, names, o.templates);
    const auto change = (r.after - r.before)[0];
    raised += change.gt(change[static_cast<int64_t>(c)]).sum().item<int64_t>() < 2 ? 1 : 0;
  }
  std::cout << "colours whose top unit ranks them in its top 2: " << selective << " of 8; raising it puts them in "
            << "the top 2 logit changes: " << raised << " of 8\n";
  EXPECT_GE(selective, 5) << "of 8 colours, the top attributed unit is among the 2 most active for that colour";
  EXPECT_GE(raised, 5) << "of 8 colours, raising the top unit raises that colour's logit among the 2 most";
}

TEST_F(DemoAbstractions, EmotionAtlasFactorizesTheWheelAndWritesItsPictures) {
  const fs::path wheel = world::shared_data_file("data/words/feeling_wheel.tsv");
  if (wheel.empty()) GTEST_SKIP() << "../shared/data/words/feeling_wheel.tsv not found";
  abstractions::EmotionAtlasOptions o;
  o.wheel = wheel;
  o.nmf.iterations = 300;
  const auto atlas = abstractions::emotion_atlas(model_, *tokenizer_, o);
  ASSERT_EQ(atlas.cores.size(), 7u);
  ASSERT_EQ(atlas.factorizations.size(), 2u);
  EXPECT_EQ(atlas.attributions.size(0), static_cast<int64_t>(atlas.words.size()));
  for (const auto& f : atlas.factorizations) {
    EXPECT_EQ(f.loadings.size(1), f.factors);
    EXPECT_GE(f.loadings.min().item<double>(), 0);
    EXPECT_NEAR(f.loadings.amax(0).min().item<double>(), 1.0, 1e-5);
    EXPECT_LT(f.errors.back(), f.errors.front());
    EXPECT_GE(f.agreement, 0);
    EXPECT_LE(f.agreement, 1);
  }
  EXPECT_LT(atlas.factorizations[1].errors.back(), atlas.factorizations[0].errors.back());  // 7 factors fit better
  const fs::path dir = testing::temp_dir();
  abstractions::write_emotion_wheel(dir / "wheel.png", atlas, atlas.factorizations[1]);
  abstractions::write_emotion_scatter(dir / "scatter.png", atlas, atlas.factorizations[0]);
  EXPECT_GT(fs::file_size(dir / "wheel.png"), 10000u);
  EXPECT_GT(fs::file_size(dir / "scatter.png"), 5000u);
  const auto j = atlas.to_json();
  EXPECT_EQ(j["factorizations"][1]["per_factor"].size(), 7u);
}

TEST(AbstractionCommands, AttributeInterveneAndTheEmotionAtlasRunAndRefuseBadInput) {
  if (!fs::exists(demo_model_path())) GTEST_SKIP() << "demo model not found";
  const fs::path dir = testing::temp_dir();
  auto r = testing::run_clipscope({"attribute", "--text", "red", "--text", "happy", "--templates", "none", "--top", "3",
                                   "--out", (dir / "attr").string()});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("visual.layer4:"), std::string::npos) << r.out;
  EXPECT_EQ(read_npy_tensor(dir / "attr" / "attribution.npy").size(0), 2);
  r = testing::run_clipscope(
      {"intervene", "--unit", "visual.layer4:3", "--add", "4", "--blank", "--labels", "red", "blue"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("blank"), std::string::npos) << r.out;
  testing::expect_one_line_error(
      testing::run_clipscope({"intervene", "--unit", "visual.layer4", "--add", "4", "--blank", "--labels", "red"}),
      "visual.layer4: expected LAYER:UNIT");
  testing::expect_one_line_error(testing::run_clipscope({"intervene", "--unit", "visual.layer4:99999", "--add", "4",
                                                         "--blank", "--labels", "red"}),
                                 "unit 99999 is out of range");
  testing::expect_one_line_error(
      testing::run_clipscope({"intervene", "--unit", "visual.layer4:1", "--blank", "--labels", "red"}),
      "--set, --add or --scale");
  testing::expect_one_line_error(testing::run_clipscope({"attribute", "--text", "red", "--layer", "visual.layer2"}),
                                 "has no direction");
  if (world::shared_data_file("data/words/feeling_wheel.tsv").empty()) return;
  r = testing::run_clipscope({"emotion-atlas", "--iterations", "100", "--out", (dir / "emo").string()});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("7 factors"), std::string::npos) << r.out;
  for (const char* f : {"emotion-atlas.json", "attributions.npy", "wheel-2.png", "wheel-7.png", "scatter-2.png"})
    EXPECT_TRUE(fs::exists(dir / "emo" / f)) << f;
}

// With an atlas, attribute draws each text's top units with their top images; the
// atlas must hold the layer and come from the same checkpoint.
TEST(AbstractionCommands, AttributeDrawsTheTopUnitsExamplesFromAnAtlasOfTheSameModel) {
  if (!fs::exists(demo_model_path())) GTEST_SKIP() << "demo model not found";
  const fs::path dir = testing::temp_dir();
  auto r = testing::run_clipscope({"world", "-n", "120", "--seed", "4", "-o", (dir / "world").string()});
  ASSERT_EQ(r.code, 0) << r.err;
  for (const char* layer : {"visual.layer4", "visual.layer3"}) {
    r = testing::run_clipscope(
        {"index", "-l", layer, "-k", "10", "-i", (dir / "world" / "images").string(), "-o", (dir / layer).string()});
    ASSERT_EQ(r.code, 0) << r.err;
  }
  r = testing::run_clipscope({"attribute", "--text", "red", "--text", "green", "--templates", "none", "--center",
                              "--atlas", (dir / "visual.layer4").string(), "--sheet-units", "3", "--examples", "4",
                              "-o", (dir / "attr").string()});
  ASSERT_EQ(r.code, 0) << r.err;
  for (const char* f : {"units-0.png", "units-1.png"}) {
    ASSERT_TRUE(fs::exists(dir / "attr" / f)) << f;
    // 4 tiles across, 3 units down, each with two caption lines (plot/sheet.h's geometry).
    const Image sheet = read_image(dir / "attr" / f);
    EXPECT_EQ(sheet.width, 8 + 4 * (160 + 8));
    EXPECT_EQ(sheet.height, 28 + 8 + 3 * (160 + 2 * 15 + 8));
  }
  testing::expect_one_line_error(
      testing::run_clipscope({"attribute", "--text", "red", "--atlas", (dir / "visual.layer4").string()}), "--out");
  // The library: an atlas without the layer, and an atlas of another checkpoint.
  const auto other_layer = atlas::Atlas::open(dir / "visual.layer3");
  CLIP model = load_clip(std::string(kDemoModelName));
  const Tokenizer tokenizer(merges_beside(demo_model_path()), static_cast<int>(model->config().vocab_size));
  const auto a = abstractions::attribute_texts(model, tokenizer, {"red"}, {.templates = {}});
  try {
    abstractions::write_attribution_sheet(dir / "x.png", a, 0, other_layer);
    ADD_FAILURE() << "no error for an atlas without the layer";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("layer visual.layer4: not in atlas"), std::string::npos) << e.what();
  }
  EXPECT_NO_THROW(atlas::require_atlas_model(other_layer, {"demo", other_layer.settings().model_sha256}));
  try {
    atlas::require_atlas_model(other_layer, {"other.pt", std::string(64, 'a')});
    ADD_FAILURE() << "no error for another checkpoint";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("model other.pt: not the model the atlas was built with"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace clipscope
