// Classifiers over image embeddings: the linear probe's fit (optimality, held-out
// accuracy), its file round trip and errors, zero-shot's logits, class lookup and
// the labelled-folder reader.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/image/image.h"
#include "core/raster/text.h"
#include "support/shared_data.h"
#include "zeroshot/classifier.h"

namespace clipscope {
namespace {

namespace fs = std::filesystem;
using testing::error_message;

// Three Gaussian classes in 6-D with different means (and an uninformative, large-scale dimension).
std::pair<torch::Tensor, std::vector<int64_t>> blobs(int per_class, uint64_t seed) {
  torch::manual_seed(seed);
  std::vector<torch::Tensor> rows;
  std::vector<int64_t> labels;
  for (int c = 0; c < 3; ++c) {
    auto x = torch::randn({per_class, 6});
    x.select(1, c) += 3.0;
    x.select(1, 5) *= 100.0;
    rows.push_back(x);
    labels.insert(labels.end(), static_cast<size_t>(per_class), c);
  }
  return {torch::cat(rows), labels};
}

TEST(LinearProbe, FitsTheRegularizedOptimumAndClassifiesHeldOutData) {
  const auto [x, y] = blobs(80, 1);
  ProbeFitOptions o;
  o.l2 = 1e-2;
  o.validation = 0.25;
  const ProbeFit fit = fit_linear_probe(x, y, {"a", "b", "c"}, o);
  EXPECT_EQ(fit.train + fit.validation, 240);
  EXPECT_EQ(fit.validation, 60);  // 20 of each class
  EXPECT_GT(fit.train_top1, 0.9);
  EXPECT_GT(fit.validation_top1, 0.85);
  EXPECT_DOUBLE_EQ(fit.validation_top5, 1.0);  // 3 classes
  // At the optimum the objective's gradient vanishes (recomputed here from the weights
  // of a fit over every row, so that the objective is the one over all of x).
  o.validation = 0;
  const ProbeFit all = fit_linear_probe(x, y, {"a", "b", "c"}, o);
  auto w = all.probe.weight.clone().requires_grad_(true), b = all.probe.bias.clone().requires_grad_(true);
  const auto xs = (x - all.probe.mean) / all.probe.std;
  const auto loss =
      torch::cross_entropy_loss(torch::matmul(xs, w.t()) + b, torch::tensor(y)) + 0.5 * o.l2 * w.pow(2).sum();
  loss.backward();
  EXPECT_LT(w.grad().abs().max().item<double>(), 1e-4);
  EXPECT_LT(b.grad().abs().max().item<double>(), 1e-4);
  EXPECT_NEAR(loss.item<double>(), all.loss, 1e-5);
  // Standardization makes the large-scale dimension harmless: its weight is small.
  EXPECT_LT(all.probe.weight.select(1, 5).abs().max().item<double>(),
            all.probe.weight.select(1, 0).abs().max().item<double>());
  // A stronger penalty shrinks the weights.
  o.l2 = 1.0;
  EXPECT_LT(fit_linear_probe(x, y, {"a", "b", "c"}, o).probe.weight.norm().item<double>(),
            all.probe.weight.norm().item<double>());
}

TEST(LinearProbe, RoundTripsThroughItsFilesAndRefusesBadOnes) {
  const auto [x, y] = blobs(20, 2);
  const ProbeFit fit = fit_linear_probe(x, y, {"cat", "dog", "iPod"});
  const auto dir = testing::temp_dir();
  save_linear_probe(dir / "probe.json", fit.probe, fit.to_json());
  EXPECT_TRUE(fs::exists(dir / "probe.weight.npy"));
  const Classifier back = load_linear_probe(dir / "probe.json");
  EXPECT_EQ(back.classes, fit.probe.classes);
  EXPECT_EQ(back.kind, "linear probe");
  EXPECT_TRUE(torch::allclose(back.logits(x), fit.probe.logits(x)));
  EXPECT_EQ(back.class_index("ipod"), 2u);  // case ignored when only one class matches

  testing::write_file(dir / "bad.json", "{\"classes\": [\"a\"]");
  EXPECT_NE(error_message([&] { load_linear_probe(dir / "bad.json"); }).find("bad.json: not a probe"),
            std::string::npos);
  auto j = nlohmann::json::parse(testing::read_file(dir / "probe.json"));
  j["classes"].push_back("extra");
  testing::write_file(dir / "mismatch.json", j.dump());
  EXPECT_NE(error_message([&] { load_linear_probe(dir / "mismatch.json"); }).find("do not fit together"),
            std::string::npos);
  EXPECT_NE(error_message([&] { load_linear_probe(dir / "missing.json"); }).find("cannot open"), std::string::npos);
  EXPECT_NE(error_message([&] {
              fit_linear_probe(x, {0, 1}, {"a", "b"});
            }).find("labels 2: must be one per"),
            std::string::npos);
  ProbeFitOptions o;
  o.l2 = -1;
  EXPECT_NE(error_message([&] {
              fit_linear_probe(x, y, {"a", "b", "c"}, o);
            }).find("l2 -1: must be >= 0"),
            std::string::npos);
}

TEST(Classifier, ZeroShotLogitsAreScaledCosinesAndClassesAreFoundByName) {
  Classifier c;
  c.kind = "zero-shot";
  c.classes = {"Cat", "cat", "dog"};
  c.weight = torch::eye(3);
  c.normalize = true;
  c.scale = 10;
  const auto logits = c.logits(torch::tensor({{3.0f, 4.0f, 0.0f}}));
  EXPECT_NEAR(logits[0][0].item<double>(), 6.0, 1e-5);
  EXPECT_NEAR(logits[0][1].item<double>(), 8.0, 1e-5);
  EXPECT_EQ(c.class_index("cat"), 1u);
  EXPECT_EQ(c.class_index("DOG"), 2u);
  EXPECT_NE(error_message([&] { c.class_index("CAT", "target"); }).find("target 'CAT': matches several"),
            std::string::npos);
  EXPECT_NE(error_message([&] { c.class_index("emu", "target"); }).find("not one of the classifier's 3 classes"),
            std::string::npos);
}

TEST(LabelledFolder, ClassesAreSortedSubfoldersNamedByAList) {
  const auto dir = testing::temp_dir();
  for (const char* sub : {"n02", "n01"}) {
    fs::create_directories(dir / sub);
    write_png(dir / sub / "a.png", blank_image(4, 4, {1, 2, 3}));
  }
  write_png(dir / "n02" / "b.png", blank_image(4, 4, {1, 2, 3}));
  const auto plain = read_labelled_folder(dir);
  EXPECT_EQ(plain.classes, (std::vector<std::string>{"n01", "n02"}));
  EXPECT_EQ(plain.labels, (std::vector<int64_t>{0, 1, 1}));
  EXPECT_EQ(read_labelled_folder(dir, {"tench", "goldfish"}).classes[1], "goldfish");
  EXPECT_NE(error_message([&] { read_labelled_folder(dir, {"one"}); }).find("2 class subfolders, but 1 class names"),
            std::string::npos);
  EXPECT_NE(error_message([&] { read_labelled_folder(dir / "n01"); }).find("no class subfolders"), std::string::npos);
}

}  // namespace
}  // namespace clipscope
