// The modality gap: its numbers against an independent computation, the projection,
// the caption tables it reads, the experiment on the demo model, and the command.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "core/hub/zoo.h"
#include "core/image/image.h"
#include "core/image/preprocess.h"
#include "core/model/loader.h"
#include "core/model/tensor_io.h"
#include "experiments/gap.h"
#include "support/cli_runner.h"
#include "support/shared_data.h"
#include "world/generator.h"

namespace clipscope::experiments {
namespace {

namespace fs = std::filesystem;
using testing::error_message;

// Four pairs in 3-D (not normalized: modality_gap normalizes them).
const torch::Tensor kImages =
    torch::tensor({{1.0, 0.0, 0.0}, {0.8, 0.6, 0.0}, {0.6, 0.0, 0.8}, {1.0, 1.0, 1.0}}, torch::kDouble);
const torch::Tensor kTexts =
    torch::tensor({{0.0, 1.0, 0.0}, {0.2, 1.0, 0.1}, {0.0, 0.5, 1.0}, {-1.0, 2.0, 0.5}}, torch::kDouble);

// The reference values were computed in plain Python (lists and math only, no torch),
// following Liang et al.'s definitions: normalize, centroid distance, pairwise cosines
// i != j, shift by -/+ λΔ/2 and normalize again, CLIP's loss at logit scale 10 over blocks.
TEST(ModalityGap, MatchesAnIndependentComputation) {
  GapOptions o;
  o.shifts = {0, 1, -0.5};
  o.loss_batch = 4;
  const GapResult r = modality_gap(kImages, kTexts, 10.0, o);
  EXPECT_EQ(r.pairs, 4);
  EXPECT_NEAR(r.centroid_distance, 0.9642343590642783, 1e-9);
  EXPECT_NEAR(r.image_cone.mean_cosine, 0.6789885038200963, 1e-9);
  EXPECT_NEAR(r.image_cone.min_cosine, 0.48, 1e-9);
  EXPECT_NEAR(r.text_cone.mean_cosine, 0.6988659955379813, 1e-9);
  EXPECT_NEAR(r.text_cone.min_cosine, 0.4472135954999579, 1e-9);
  EXPECT_NEAR(r.paired_cosine, 0.4587975703125113, 1e-9);
  ASSERT_EQ(r.sweep.size(), 3u);
  EXPECT_NEAR(r.sweep[0].centroid_distance, 0.9642343590642783, 1e-9);
  EXPECT_NEAR(r.sweep[0].loss, 1.9259541463563272, 1e-9);
  EXPECT_NEAR(r.sweep[1].centroid_distance, 0.10105560773396953, 1e-9);
  EXPECT_NEAR(r.sweep[1].loss, 0.7438959090638839, 1e-9);
  EXPECT_NEAR(r.sweep[2].centroid_distance, 1.2586570192271187, 1e-9);
  EXPECT_NEAR(r.sweep[2].loss, 2.0615359831135773, 1e-9);
  // Blocks of 2 pairs; blocks of 3 leave a lone pair, which joins the block before it.
  o.loss_batch = 2;
  EXPECT_NEAR(modality_gap(kImages, kTexts, 10.0, o).sweep[1].loss, 0.6215866049299323, 1e-9);
  o.loss_batch = 3;
  EXPECT_NEAR(modality_gap(kImages, kTexts, 10.0, o).sweep[1].loss, 0.7438959090638839, 1e-9);

  const auto j = r.to_json();
  EXPECT_DOUBLE_EQ(j["centroid_distance"].get<double>(), r.centroid_distance);
  EXPECT_DOUBLE_EQ(j["published"]["centroid_distance"].get<double>(), 0.82);
  EXPECT_DOUBLE_EQ(j["shift_sweep"][1]["loss_change"].get<double>(), r.sweep[1].loss - r.sweep[0].loss);
  EXPECT_NE(r.table().find("0.964"), std::string::npos) << r.table();
  EXPECT_NE(r.table().find("published: 0.82"), std::string::npos) << r.table();
}

// Embeddings in a plane of 6-D space: the two components span it, so the projection
// keeps every distance between the normalized embeddings.
TEST(ModalityGap, TheProjectionKeepsAPlanarSetsDistances) {
  torch::manual_seed(4);
  const auto basis = std::get<0>(torch::linalg_qr(torch::randn({6, 2}, torch::kDouble)));  // (6, 2) orthonormal
  const auto angles_i = torch::rand({10}, torch::kDouble) * 1.5, angles_t = torch::rand({10}, torch::kDouble) * 1.5 + 2;
  auto on_circle = [&](const torch::Tensor& a) {
    return torch::matmul(torch::stack({a.cos(), a.sin()}, 1), basis.t());
  };
  const auto images = on_circle(angles_i), texts = on_circle(angles_t);
  const GapResult r = modality_gap(images, texts, 100.0);
  const auto all = torch::cat({images, texts}), flat = torch::cat({r.image_2d, r.text_2d}).to(torch::kDouble);
  EXPECT_LT((torch::cdist(all, all) - torch::cdist(flat, flat)).abs().max().item<double>(), 1e-5);
  EXPECT_EQ(r.image_2d.sizes(), (std::vector<int64_t>{10, 2}));
  // The same data gives the same picture: the components' signs are fixed.
  EXPECT_TRUE(torch::equal(modality_gap(images, texts, 100.0).image_2d, r.image_2d));
}

TEST(ModalityGap, BadInputNamesTheParameter) {
  EXPECT_NE(error_message([] { modality_gap(kImages, kTexts.narrow(0, 0, 3), 10); }).find("texts [3, 3]"),
            std::string::npos);
  EXPECT_NE(error_message([] {
              modality_gap(kImages.narrow(0, 0, 1), kTexts.narrow(0, 0, 1), 10);
            }).find("images 1: need at least 2 pairs"),
            std::string::npos);
  GapOptions o;
  o.loss_batch = 1;
  EXPECT_NE(error_message([&] { modality_gap(kImages, kTexts, 10, o); }).find("loss_batch 1"), std::string::npos);
  EXPECT_NE(error_message([] { modality_gap(kImages, kTexts, 0); }).find("logit_scale 0"), std::string::npos);
}

void write(const fs::path& path, const std::string& text) { std::ofstream(path) << text; }

TEST(CaptionTable, TsvAndCsvWithBadLinesSkippedAndCounted) {
  const auto dir = testing::temp_dir();
  write(dir / "pairs.tsv",
        "title\tfilepath\na red star\timages/1.png\n\nonly one field\n\t/abs/2.png\nsun\t/abs/3.png\r\n");
  const auto tsv = read_caption_table(dir / "pairs.tsv");
  ASSERT_EQ(tsv.pairs.size(), 2u);
  EXPECT_EQ(tsv.pairs[0].image, dir / "images/1.png");  // relative to the table's folder
  EXPECT_EQ(tsv.pairs[0].caption, "a red star");
  EXPECT_EQ(tsv.pairs[1].image, fs::path("/abs/3.png"));
  EXPECT_EQ(tsv.pairs[1].caption, "sun");
  ASSERT_EQ(tsv.skipped.size(), 3u);
  EXPECT_EQ(tsv.skipped[0], "line 3: 1 fields, the header has 2");
  EXPECT_EQ(tsv.skipped[2], "line 5: empty title");

  write(dir / "pairs.csv", "id,image,text\n1,a.jpg,\"a dog, running\"\n2,b.jpg,\"say \"\"cheese\"\"\"\n");
  const auto csv = read_caption_table(dir / "pairs.csv", "image", "text");
  ASSERT_EQ(csv.pairs.size(), 2u);
  EXPECT_EQ(csv.pairs[0].caption, "a dog, running");
  EXPECT_EQ(csv.pairs[1].caption, "say \"cheese\"");

  EXPECT_NE(error_message([&] { read_caption_table(dir / "pairs.csv"); }).find("no column 'filepath'"),
            std::string::npos);
  write(dir / "empty.tsv", "");
  EXPECT_NE(error_message([&] { read_caption_table(dir / "empty.tsv"); }).find("empty"), std::string::npos);
  write(dir / "none.tsv", "filepath\ttitle\nx\n");
  EXPECT_NE(error_message([&] { read_caption_table(dir / "none.tsv"); }).find("no image-caption pairs (first problem"),
            std::string::npos);
  EXPECT_NE(error_message([&] { read_caption_table(dir / "missing.tsv"); }).find("cannot be read"), std::string::npos);
}

class DemoGap : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(demo_model_path())) GTEST_SKIP() << "demo model not found (train it with train-demo)";
  }
  // A small world with one unreadable image listed in its table.
  static fs::path world_with_a_bad_image() {
    const auto dir = testing::temp_dir();
    world::write_world(dir, 24, world::World(7), 1, false);
    std::ofstream(dir / "images" / "broken.png") << "not a png";
    std::ofstream(dir / "captions.tsv", std::ios::app) << "images/broken.png\ta broken image\n";
    return dir;
  }
};

TEST_F(DemoGap, MeasuresTheWorldsPairsAndSkipsAnUnreadableImage) {
  const auto dir = world_with_a_bad_image();
  CLIP model = load_clip(std::string(kDemoModelName));
  const Tokenizer tokenizer(merges_beside(demo_model_path()), static_cast<int>(model->config().vocab_size));
  GapRunOptions o;
  o.progress = false;
  o.batch_size = 10;
  const GapRun run = measure_gap(model, tokenizer, dir / "captions.tsv", o);
  EXPECT_EQ(run.result.pairs, 24);
  ASSERT_EQ(run.skipped_images.size(), 1u);
  EXPECT_EQ(run.skipped_images[0].path.filename(), "broken.png");

  // The same numbers from embeddings computed here, pair by pair.
  const auto table = read_caption_table(dir / "captions.tsv");
  std::vector<torch::Tensor> images;
  std::vector<std::string> captions;
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < 24; ++i) {
    const auto pixels = clip_preprocess(read_image(table.pairs[i].image), 64, model->config().normalization);
    images.push_back(model->encode_image(torch::tensor(pixels).reshape({1, 3, 64, 64})));
    captions.push_back(table.pairs[i].caption);
  }
  const auto texts =
      model->encode_text(tokenize_batch(tokenizer, captions, static_cast<int>(model->config().context_length)));
  const auto direct = modality_gap(torch::cat(images), texts, model->logit_scale.exp().item<double>());
  EXPECT_NEAR(run.result.centroid_distance, direct.centroid_distance, 1e-4);
  EXPECT_NEAR(run.result.sweep[2].loss, direct.sweep[2].loss, 1e-3);
  // A trained CLIP matches an image with its own caption better than with the others.
  EXPECT_GT(run.result.paired_cosine, 0.0);
  const auto x = torch::cat(images), y = texts;
  const double others = (torch::matmul(x / x.norm(2, 1, true), (y / y.norm(2, 1, true)).t()).sum().item<double>() -
                         24 * run.result.paired_cosine) /
                        (24 * 23);
  EXPECT_GT(run.result.paired_cosine, others);
}

TEST_F(DemoGap, TheCommandWritesJsonAndAPicture) {
  const auto dir = world_with_a_bad_image();
  const auto out = testing::temp_dir();
  const auto r = testing::run_clipscope({"gap", "--captions", (dir / "captions.tsv").string(), "--out", out.string()});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("centroid distance"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("skipped: 1 unreadable image(s), 0 line(s) of the table"), std::string::npos) << r.out;
  std::ifstream in(out / "gap.json");
  const auto j = nlohmann::json::parse(in);
  EXPECT_EQ(j["pairs"], 24);
  EXPECT_EQ(j["skipped_images"], 1);
  EXPECT_EQ(j["shift_sweep"].size(), 7u);
  const Image png = read_image(out / "gap.png");
  EXPECT_EQ(png.width, 800);

  testing::expect_one_line_error(
      testing::run_clipscope({"gap", "--captions", (dir / "captions.tsv").string(), "--caption-column", "text"}),
      "no column 'text'");
}

}  // namespace
}  // namespace clipscope::experiments
