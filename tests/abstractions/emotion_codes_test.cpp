// Sparse emotion codes: the probe's soft targets (gradient, one-hot equivalence,
// refusals), a planted code recovered, the dense classifier's logits against a direct
// cosine, and on the demo model: codes of the wheel's words that read the words'
// own written images, never use an excluded unit, and the command's files and errors.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "abstractions/emotion_codes.h"
#include "abstractions/sparse_probe.h"
#include "core/hub/zoo.h"
#include "core/image/image.h"
#include "core/model/loader.h"
#include "core/model/modules.h"
#include "core/model/tensor_io.h"
#include "core/raster/text.h"
#include "core/util/error.h"
#include "support/cli_runner.h"
#include "support/shared_data.h"
#include "support/tiny_models.h"
#include "world/catalog.h"

namespace clipscope {
namespace {

namespace fs = std::filesystem;
using abstractions::SparseProbeOptions;

TEST(SoftTargets, GradientMatchesFiniteDifferences) {
  torch::manual_seed(3);
  const auto opts = torch::TensorOptions().dtype(torch::kDouble);
  const auto x = torch::randn({25, 5}, opts), w = torch::randn({3, 5}, opts) * 0.3, b = torch::randn({3}, opts);
  const auto q = torch::softmax(torch::randn({25, 3}, opts) * 2, 1);
  const double h = 1e-6;
  const auto g = abstractions::smooth_objective(x, q, w, b, 0.1);
  for (auto [c, d] : {std::pair{0, 0}, {1, 4}, {2, 2}}) {
    auto wp = w.clone(), wm = w.clone();
    wp[c][d] += h;
    wm[c][d] -= h;
    const double fd = (abstractions::smooth_objective(x, q, wp, b, 0.1).value -
                       abstractions::smooth_objective(x, q, wm, b, 0.1).value) /
                      (2 * h);
    EXPECT_NEAR(g.grad_weight[c][d].item<double>(), fd, 1e-6) << c << "," << d;
  }
  // One-hot targets are the labels.
  const auto y = torch::randint(0, 3, {25}, torch::kLong);
  const auto one_hot = torch::one_hot(y, 3).to(torch::kDouble);
  EXPECT_NEAR(abstractions::smooth_objective(x, one_hot, w, b, 0).value,
              abstractions::smooth_objective(x, y, w, b, 0).value, 1e-12);
}

TEST(SoftTargets, OneHotTargetsFitAsLabelsAndBadTargetsAreRefused) {
  torch::manual_seed(5);
  const auto x = torch::randn({200, 8});
  std::vector<int64_t> labels;
  for (int64_t i = 0; i < 200; ++i) {
    labels.push_back(i % 3);
    x[i][i % 3] += 2;
  }
  SparseProbeOptions o;
  o.path = 6;
  o.neurons_per_class = 2;
  const std::vector<std::string> classes{"a", "b", "c"};
  const auto by_labels = abstractions::fit_sparse_probe(x, labels, classes, o);
  const auto by_targets =
      abstractions::fit_sparse_probe(x, torch::one_hot(torch::tensor(labels), 3).to(torch::kFloat), classes, o);
  EXPECT_EQ(by_labels.chosen, by_targets.chosen);
  EXPECT_LT((by_labels.weight - by_targets.weight).abs().max().item<double>(), 1e-3)
      << "the same fit to the solver's tolerance";
  EXPECT_EQ(by_labels.path.back().validation_top1, by_targets.path.back().validation_top1);
  const auto refuse = [&](const torch::Tensor& targets, const std::string& fragment) {
    try {
      abstractions::fit_sparse_probe(x, targets, classes, o);
      ADD_FAILURE() << "no error for " << fragment;
    } catch (const ArgumentError& e) {
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
  };
  refuse(torch::full({200, 3}, 0.5), "sum to 1");
  refuse(torch::full({200, 2}, 0.5), "probabilities (N, 3)");
  refuse(torch::full({100, 3}, 1.0 / 3), "one per feature row (200)");
  auto negative = torch::full({200, 3}, 0.5);
  negative.select(1, 2).fill_(0);
  negative[0][0] = -0.5;
  negative[0][1] = 1.5;
  refuse(negative, "non-negative");
}

// A word whose logit (relative to the average word) is a sparse function of the units:
// the binary fit with soft targets σ(z) finds those units with their signs.
TEST(SoftTargets, APlantedSparseCodeIsRecovered) {
  torch::manual_seed(11);
  const int64_t n = 1500, units = 60;
  const auto x = torch::rand({n, units}) * 2;
  auto code = torch::zeros({units});
  code[7] = 2.5;
  code[23] = 1.8;
  code[41] = -2.0;
  const auto z = torch::matmul(x - x.mean(0), code);
  const auto p = torch::sigmoid(z);
  SparseProbeOptions o;
  o.path = 40;
  o.neurons_per_class = 3;
  const auto fit = abstractions::fit_sparse_probe(x, torch::stack({p, 1 - p}, 1), {"word", "average"}, o);
  EXPECT_TRUE(torch::allclose(fit.weight[0], -fit.weight[1], 1e-5, 1e-6)) << "the two rows stay opposite";
  const auto units_found = fit.class_units(0);
  std::map<int64_t, double> found(units_found.begin(), units_found.end());
  for (int64_t u : {7, 23, 41}) {
    ASSERT_TRUE(found.count(u)) << "unit " << u << " is in the code";
    EXPECT_EQ(found[u] > 0, code[u].item<double>() > 0) << "unit " << u << "'s sign";
  }
  EXPECT_LE(found.size(), 4u);
}

TEST(EmotionCodes, BilinearLogitsAreTheScaledCosineOfTheAffineEmbedding) {
  torch::manual_seed(2);
  const auto features = torch::rand({6, 10}), directions = torch::randn({10, 4});
  const auto texts =
      torch::nn::functional::normalize(torch::randn({3, 4}), torch::nn::functional::NormalizeFuncOptions().dim(1));
  const auto attributions = torch::matmul(texts, directions.t());  // what attribute_texts computes
  const auto logits = abstractions::bilinear_logits(features, attributions, directions, 50.0);
  const auto embedding = torch::nn::functional::normalize(torch::matmul(features, directions),
                                                          torch::nn::functional::NormalizeFuncOptions().dim(1));
  EXPECT_TRUE(torch::allclose(logits, 50.0 * torch::matmul(embedding, texts.t()), 1e-4, 1e-5));
}

// A ViT's code features are its class token as ln_post normalizes it: through the units'
// directions (ln_post's gain times the projection) plus ln_post's bias projected, they
// give the image embedding exactly.
TEST(EmotionCodes, ViTFeaturesAreTheNormalizedClassTokenOfTheEmbedding) {
  CLIP model = testing::tiny_model(testing::tiny_vit_config(), 4);
  const fs::path dir = testing::temp_dir();
  std::vector<fs::path> paths;
  for (int i = 0; i < 3; ++i) {
    Image image = blank_image(64, 64, {static_cast<uint8_t>(40 * i), 120, static_cast<uint8_t>(200 - 50 * i)});
    for (int p = 0; p < 64 * 10; ++p) image.rgb[static_cast<size_t>(p * 3 + i)] = 255;
    paths.push_back(dir / fmt::format("{}.png", i));
    write_png(paths.back(), image);
  }
  const std::string point = abstractions::attribution_points(*model).at(0);
  const auto rows = abstractions::code_features(model, paths, point, 2, false);
  ASSERT_EQ(rows.indices.size(), 3u);
  auto* vit = dynamic_cast<VisionTransformer*>(model->visual.get());
  ASSERT_NE(vit, nullptr);
  torch::NoGradGuard no_grad;
  const auto embeddings = model->encode_image(load_image_batch(paths, 64, model->config().normalization));
  const auto rebuilt = torch::matmul(rows.embeddings, abstractions::unit_directions(*model, point)) +
                       torch::matmul(vit->ln_post->bias, vit->proj);
  EXPECT_TRUE(torch::allclose(rebuilt, embeddings.to(torch::kFloat), 1e-3, 1e-4))
      << (rebuilt - embeddings).abs().max().item<double>();
}

// The demo model on the demo world's emotions: emoji faces and the wheel's words written.
class DemoEmotionCodes : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!fs::exists(demo_model_path()) || world::shared_data_file("data/words/feeling_wheel.tsv").empty()) return;
    dir_ = testing::temp_dir();
    const auto r = testing::run_clipscope({"world",
                                           "-n",
                                           "900",
                                           "--seed",
                                           "5",
                                           "-o",
                                           (dir_ / "world").string(),
                                           "--weight-objects",
                                           "0",
                                           "--weight-face",
                                           "0",
                                           "--weight-word",
                                           "0.5",
                                           "--p-concept-word",
                                           "0",
                                           "--p-emotion-word",
                                           "1",
                                           "--weight-object-with-word",
                                           "0",
                                           "--weight-picture",
                                           "0.5",
                                           "--family-weight",
                                           "emotions=1000",
                                           "--weight-silhouette",
                                           "0",
                                           "--weight-picture-with-word",
                                           "0"});
    ASSERT_EQ(r.code, 0) << r.err;
  }
  void SetUp() override {
    if (!fs::exists(demo_model_path())) GTEST_SKIP() << "demo model not found (train it with train-demo)";
    wheel_ = world::shared_data_file("data/words/feeling_wheel.tsv");
    if (wheel_.empty()) GTEST_SKIP() << "../shared/data/words/feeling_wheel.tsv not found";
    model_ = load_clip(std::string(kDemoModelName));
    tokenizer_.emplace(merges_beside(demo_model_path()), static_cast<int>(model_->config().vocab_size));
    std::ifstream labels(dir_ / "world" / "labels.jsonl");
    for (std::string line; std::getline(labels, line);) {
      const auto j = nlohmann::json::parse(line);
      images_.push_back(dir_ / "world" / j["image"].get<std::string>());
      texts_.push_back(j.value("text", ""));
    }
  }
  static fs::path dir_;
  fs::path wheel_;
  CLIP model_{nullptr};
  std::optional<Tokenizer> tokenizer_;
  std::vector<fs::path> images_;
  std::vector<std::string> texts_;  // the written word, "" for an emoji
};
fs::path DemoEmotionCodes::dir_;

// The area under the ROC curve of `scores` for rows where `positive` holds.
double auc(const torch::Tensor& scores, const std::vector<bool>& positive) {
  double pos = 0, neg = 0, above = 0;
  const auto order = scores.argsort();
  for (int64_t i = 0; i < order.size(0); ++i) {
    if (positive[static_cast<size_t>(order[i].item<int64_t>())]) {
      above += neg;  // negatives ranked below this positive
      ++pos;
    } else {
      ++neg;
    }
  }
  return pos == 0 || neg == 0 ? 0.5 : above / (pos * neg);
}

TEST_F(DemoEmotionCodes, CodesAreShortFaithfulReadTheirWrittenWordsAndSkipExcludedUnits) {
  abstractions::EmotionCodesOptions o;
  o.wheel = wheel_;
  o.attribution.templates = {};  // the demo world captions emotions by the bare word (docs/abstractions.md)
  for (int64_t u = 0; u < 40; ++u) o.exclude.push_back(u);
  const auto codes = abstractions::emotion_codes(model_, *tokenizer_, images_, o);
  ASSERT_EQ(codes.words.size(), 126u);
  EXPECT_EQ(codes.images, 900);
  EXPECT_EQ(codes.units.size(), 512u - 40);
  double units = 0;
  size_t empty = 0;
  for (size_t w = 0; w < codes.words.size(); ++w) {
    const auto c = codes.code(w);
    units += static_cast<double>(c.size()) / static_cast<double>(codes.words.size());
    empty += c.empty() ? 1 : 0;
    for (const auto& [unit, weight] : c) EXPECT_GE(unit, 40) << codes.words[w].word << " uses an excluded unit";
  }
  std::cout << fmt::format(
      "demo codes: {:.2f} units per word ({} empty), agreement {:.3f} (majority {:.3f}), r = "
      "{:.3f}, signs {:.3f}\n",
      units, empty, codes.agreement, codes.chance, codes.correlation, codes.sign_agreement);
  EXPECT_GT(units, 2.0);
  EXPECT_LT(units, 4.0);
  EXPECT_LE(empty, 6u);
  EXPECT_GT(codes.correlation, 0.4) << "a 3-unit code follows its word's dense logit";
  EXPECT_GT(codes.agreement, codes.chance);
  EXPECT_GT(codes.sign_agreement, 0.8);
  // Meaning: a word's code ranks the images of that word written above the other written
  // words (chance 0.5; measured 0.90 on 3,000 images).
  const auto rows = abstractions::code_features(model_, images_, codes.point, 64, false);
  const auto kept = torch::tensor(codes.units, torch::kLong);
  const auto logits =
      torch::addmm(codes.bias, (rows.embeddings.index_select(1, kept) - codes.mean) / codes.std, codes.weight.t());
  std::vector<int64_t> written;
  for (size_t i = 0; i < texts_.size(); ++i)
    if (!texts_[i].empty()) written.push_back(static_cast<int64_t>(i));
  const auto written_logits = logits.index_select(0, torch::tensor(written));
  double total = 0;
  int words = 0;
  for (size_t w = 0; w < codes.words.size(); ++w) {
    std::vector<bool> positive;
    for (int64_t i : written) positive.push_back(texts_[static_cast<size_t>(i)] == codes.words[w].word);
    if (std::count(positive.begin(), positive.end(), true) == 0 || codes.code(w).empty()) continue;
    total += auc(written_logits.select(1, static_cast<int64_t>(w)), positive);
    ++words;
  }
  std::cout << fmt::format("a code's AUC for its word written: {:.3f} over {} words\n", total / words, words);
  ASSERT_GT(words, 60);
  EXPECT_GT(total / words, 0.75);
  // The formula names units and their wheel words.
  const auto hurt =
      std::find_if(codes.words.begin(), codes.words.end(), [](const auto& w) { return w.word == "hurt"; });
  ASSERT_NE(hurt, codes.words.end());
  EXPECT_EQ(codes.formula(static_cast<size_t>(hurt - codes.words.begin())).rfind("hurt = ", 0), 0u);
}

TEST_F(DemoEmotionCodes, TheCommandWritesItsFilesAndRefusesBadInput) {
  const fs::path out = dir_ / "codes";
  {
    std::ofstream list(dir_ / "exclude.txt");
    list << "# lexical units\n3, 5\n";
  }
  auto r = testing::run_clipscope({"emotion-codes", "-i", (dir_ / "world" / "images").string(), "--templates", "none",
                                   "--exclude", (dir_ / "exclude.txt").string(), "-o", out.string()});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("2 excluded"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("jealous = "), std::string::npos) << r.out;
  for (const char* f : {"codes.json", "codes.csv", "weights.npy", "codes.png"}) EXPECT_TRUE(fs::exists(out / f)) << f;
  const auto j = nlohmann::json::parse(std::ifstream(out / "codes.json"));
  EXPECT_EQ(j["codes"].size(), 126u);
  EXPECT_EQ(j["excluded_units"], nlohmann::json({3, 5}));
  EXPECT_EQ(read_npy_tensor(out / "weights.npy").sizes(), (std::vector<int64_t>{126, 510}));
  {
    std::ofstream list(dir_ / "bad.txt");
    list << "3, 9999\n";
  }
  testing::expect_one_line_error(testing::run_clipscope({"emotion-codes", "-i", (dir_ / "world" / "images").string(),
                                                         "--exclude", (dir_ / "bad.txt").string()}),
                                 "9999");
  // Lexical units from a word database: left out, and no code uses them.
  {
    std::ofstream list(dir_ / "words.txt");
    for (const char* w :
         {"running", "jumping", "singing", "walking", "talking", "eating", "reading", "sleeping", "swimming", "drawing",
          "happy",   "sad",     "angry",   "red",     "blue",    "green",  "dog",     "cat",      "peru",     "flag",
          "circle",  "star",    "pizza",   "tree",    "house",   "boat",   "car",     "moon"})
      list << w << "\n";
  }
  r = testing::run_clipscope({"words", "-w", (dir_ / "words.txt").string(), "--into", (dir_ / "lex").string()});
  ASSERT_EQ(r.code, 0) << r.err;
  r = testing::run_clipscope({"emotion-codes", "-i", (dir_ / "world" / "images").string(), "--templates", "none",
                              "--lexical-from", (dir_ / "lex").string(), "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto lex = nlohmann::json::parse(r.out);
  EXPECT_EQ(lex["excluded_units"].size(), lex["lexical_units"].get<size_t>());
  const std::set<int64_t> excluded(lex["excluded_units"].begin(), lex["excluded_units"].end());
  for (const auto& code : lex["codes"])
    for (const auto& u : code["units"]) EXPECT_EQ(excluded.count(u["unit"].get<int64_t>()), 0u) << code["word"];
  std::cout << lex["lexical_units"] << " lexical units left out\n";
  fs::create_directories(dir_ / "empty");
  testing::expect_one_line_error(testing::run_clipscope({"emotion-codes", "-i", (dir_ / "empty").string()}),
                                 "holds no images");
}

}  // namespace
}  // namespace clipscope
