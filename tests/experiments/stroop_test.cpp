// The Stroop test: the article's published numbers read back, the stimuli, the
// classification on the demo model against a direct computation, and the command.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/hub/zoo.h"
#include "core/image/image.h"
#include "core/image/preprocess.h"
#include "core/model/loader.h"
#include "core/model/tensor_io.h"
#include "experiments/stroop.h"
#include "plot/chart.h"
#include "support/cli_runner.h"
#include "support/shared_data.h"

namespace clipscope::experiments {
namespace {

namespace fs = std::filesystem;
using testing::error_message;

TEST(PublishedStroop, TheArticlesGridReadsBack) {
  CLIPSCOPE_REQUIRE_SHARED(shared);
  const auto path = shared / "data/typographic/paper_stroop_experiment.json";
  const StroopResult r = read_published_stroop(path);
  EXPECT_EQ(r.colours, article_stroop_colours());
  EXPECT_EQ(r.words, article_stroop_words());  // seven colour words (no "black") and "example"
  EXPECT_EQ(r.words.back(), "example");
  // Values straight from the file: output[ink][word].results.
  std::ifstream in(path);
  const auto j = nlohmann::json::parse(in);
  auto published = [&](const std::string& ink, const std::string& word, const std::string& colour) {
    for (const auto& pair : j["output"][ink][word]["results"])
      if (pair[1] == colour) return pair[0].get<double>();
    return -1.0;
  };
  EXPECT_DOUBLE_EQ(r.cell("red", "red")->p_ink, published("red", "red", "red"));
  EXPECT_DOUBLE_EQ(r.cell("green", "red")->p_ink, published("red", "green", "red"));
  EXPECT_DOUBLE_EQ(r.cell("green", "red")->p_word, published("red", "green", "green"));
  EXPECT_DOUBLE_EQ(r.cell("example", "black")->p_ink, published("black", "example", "black"));
  EXPECT_TRUE(std::isnan(r.cell("example", "black")->p_word));
  // The article's finding: CLIP mostly reads the word.
  EXPECT_GT(r.congruent_p_ink, 0.9);
  EXPECT_GT(r.incongruent_p_word, r.incongruent_p_ink);
  const auto table = r.table(&r);
  EXPECT_NE(table.find("P(ink), ours / the article's"), std::string::npos) << table;

  const auto dir = testing::temp_dir();
  std::ofstream(dir / "bad.json") << R"({"output": {"red": {"red": {"results": [[0.5, "mauve"]]}}}})";
  EXPECT_NE(error_message([&] { read_published_stroop(dir / "bad.json"); }).find("unknown colour 'mauve'"),
            std::string::npos);
  std::ofstream(dir / "other.json") << R"({"setup": {}})";
  EXPECT_NE(error_message([&] { read_published_stroop(dir / "other.json"); }).find("no \"output\" object"),
            std::string::npos);
}

TEST(StroopStimuli, EveryWordInEveryInkCentredOnWhite) {
  TextRasterizer raster;
  const std::vector<std::string> colours = {"red", "blue", "yellow"};
  const auto stimuli = render_stroop_stimuli(raster, 96, colours, {"red", "blue", "yellow", "example"});
  ASSERT_EQ(stimuli.size(), 12u);  // (3 colour words + 1 control) x 3 inks
  for (const auto& s : stimuli) {
    int x0 = 96, x1 = -1, exact = 0;
    const Rgb ink = parse_color(colours[s.ink]);
    for (int y = 0; y < 96; ++y)
      for (int x = 0; x < 96; ++x) {
        const uint8_t* p = s.image.pixel(x, y);
        if (p[0] != 255 || p[1] != 255 || p[2] != 255) x0 = std::min(x0, x), x1 = std::max(x1, x);
        exact += p[0] == ink[0] && p[1] == ink[1] && p[2] == ink[2] ? 1 : 0;
      }
    EXPECT_GT(exact, 20) << s.word << " in " << colours[s.ink];  // the glyphs' insides are the ink
    EXPECT_LE(x1 - x0 + 1, 80) << s.word;                        // within 80 % of the width (+ fringe)
    EXPECT_NEAR((x0 + x1) / 2.0, 47.5, 2.5) << s.word;           // centred
  }
  EXPECT_EQ(stimuli[4].word, "blue");
  EXPECT_EQ(stimuli[4].ink, 1u);
}

class DemoStroop : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(demo_model_path())) GTEST_SKIP() << "demo model not found (train it with train-demo)";
  }
};

TEST_F(DemoStroop, CellsAreTheMeanProbabilitiesOfTheirImages) {
  CLIP model = load_clip(std::string(kDemoModelName));
  const Tokenizer tokenizer(merges_beside(demo_model_path()), static_cast<int>(model->config().vocab_size));
  TextRasterizer raster;
  StroopOptions o;
  o.colours = {"red", "green", "blue", "yellow"};
  std::vector<std::string> words = o.colours;
  words.push_back("house");
  auto stimuli = render_stroop_stimuli(raster, 64, o.colours, words);
  const auto one = render_stroop_stimuli(raster, 64, o.colours, o.colours);
  stimuli.push_back(one[1]);  // a second "red in green", so one cell holds two images
  const StroopResult r = stroop(model, tokenizer, stimuli, o);
  ASSERT_EQ(r.words, (std::vector<std::string>{"red", "green", "blue", "yellow", "house"}));
  EXPECT_EQ(r.cell("red", "green")->images, 2);
  EXPECT_EQ(r.cell("house", "blue")->images, 1);

  // "green" written in red, computed here.
  torch::NoGradGuard no_grad;
  std::vector<std::string> prompts;
  for (const auto& c : o.colours) prompts.push_back("my favorite word, written in the color " + c);
  auto t = model->encode_text(tokenize_batch(tokenizer, prompts, static_cast<int>(model->config().context_length)));
  t = t / t.norm(2, -1, true);
  const auto& green_in_red = stimuli[4];
  ASSERT_EQ(green_in_red.word, "green");
  ASSERT_EQ(green_in_red.ink, 0u);
  auto x = model->encode_image(preprocess_batch({green_in_red.image}, 64, model->config().normalization));
  x = x / x.norm(2, -1, true);
  const auto p = torch::softmax(model->logit_scale.exp() * torch::matmul(x, t.t()), 1)[0];
  EXPECT_NEAR(r.cell("green", "red")->p_ink, p[0].item<double>(), 1e-4);
  EXPECT_NEAR(r.cell("green", "red")->p_word, p[1].item<double>(), 1e-4);
  EXPECT_TRUE(std::isnan(r.cell("house", "red")->p_word));
  for (const auto& row : r.cells)
    for (const auto& c : row) {
      EXPECT_LE(c.p_ink + (std::isnan(c.p_word) || c.word == c.ink ? 0 : c.p_word), 1 + 1e-6);
      EXPECT_TRUE(c.top1_ink == 0 || c.top1_ink == 1 || c.images > 1);
    }
  // Congruent cells: the demo CLIP names the colour it sees and reads.
  EXPECT_GT(r.congruent_top1_ink, 0.5) << r.table();

  EXPECT_NE(error_message([&] {
              StroopOptions bad = o;
              bad.prompt = "a colour";
              stroop(model, tokenizer, stimuli, bad);
            }).find("prompt \"a colour\": has no {}"),
            std::string::npos);
  EXPECT_NE(error_message([&] {
              auto wrong = stimuli;
              wrong[0].ink = 9;
              stroop(model, tokenizer, wrong, o);
            }).find("ink out of range"),
            std::string::npos);
}

TEST_F(DemoStroop, TheCommandPrintsTheArticlesNumbersBesideOurs) {
  CLIPSCOPE_REQUIRE_SHARED(shared);
  const auto out = testing::temp_dir();
  const auto r = testing::run_clipscope({"stroop", "--published",
                                         (shared / "data/typographic/paper_stroop_experiment.json").string(), "--out",
                                         out.string()});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("ours / the article's"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("(article 0.9"), std::string::npos) << r.out;
  std::ifstream in(out / "stroop.json");
  const auto j = nlohmann::json::parse(in);
  EXPECT_EQ(j["cells"].size(), 64u);  // 8 words x 8 inks
  EXPECT_EQ(j["published"]["cells"].size(), 64u);
  EXPECT_EQ(read_image(out / "stroop.png").width, 96 + 8 * plot::kGridCell + 12);
  testing::expect_one_line_error(testing::run_clipscope({"stroop", "--prompt", "no slot"}), "has no {}");
}

}  // namespace
}  // namespace clipscope::experiments
