// clipscope label on the demo model: the colour units of an atlas of the first-edition
// world are labelled with their colours; labels survive a kill and resume; bad input is
// refused.
#include "labels/label_atlas.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>
#include <iostream>

#include "atlas/atlas.h"
#include "atlas/queries.h"
#include "core/hub/zoo.h"
#include "core/model/loader.h"
#include "core/model/tensor_io.h"
#include "core/util/crash.h"
#include "support/cli_runner.h"
#include "support/shared_data.h"
#include "world/concepts.h"

namespace clipscope::labels {
namespace {

namespace fs = std::filesystem;
using torch::Tensor;

class DemoLabels : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!fs::exists(demo_model_path())) return;
    dir_ = new fs::path(testing::temp_dir("labels-test"));
    for (const auto& args : std::vector<std::vector<std::string>>{
             {"world", "--edition", "1", "--n", "400", "--seed", "5", "--out", (*dir_ / "world").string()},
             {"index", "--layers", "visual.layer4", "--images", (*dir_ / "world/images").string(), "--out",
              (*dir_ / "atlas").string(), "--k", "8", "--matrix", "mean"}}) {
      const auto r = testing::run_clipscope(args);
      ASSERT_EQ(r.code, 0) << r.err;
    }
  }
  static void TearDownTestSuite() {
    if (dir_) fs::remove_all(*dir_);
    delete dir_;
    dir_ = nullptr;
  }
  void SetUp() override {
    if (!dir_) GTEST_SKIP() << "demo model not found";
  }
  static std::vector<std::string> concepts() {
    std::vector<std::string> out;
    for (const auto& c : world::colors()) out.push_back(c.name);
    for (const auto& s : world::shapes()) out.push_back(s);
    for (const char* w : {"cat", "dog", "tree", "house", "car", "happy", "sad", "flag", "word", "face"})
      out.push_back(w);
    return out;
  }
  static fs::path* dir_;
};
fs::path* DemoLabels::dir_ = nullptr;

TEST_F(DemoLabels, ColourAndShapeUnitsAreLabelledWithTheirConcept) {
  CLIP model = load_clip(std::string(kDemoModelName));
  const Tokenizer tokenizer(merges_beside(demo_model_path()), 0);
  LabelOptions o;
  o.chunk_images = 128;
  const auto report = label_atlas(model, tokenizer, {"demo", "demo-sha"}, *dir_ / "atlas", concepts(), o);
  EXPECT_EQ(report.layers, std::vector<std::string>{"visual.layer4"});
  EXPECT_EQ(report.images, 400);
  EXPECT_EQ(report.chunks_computed, 4);
  // Each colour's (shape's) unit: the largest z of the colour's images against the others'
  // (the world's labels over the atlas's mean matrix).
  const auto atlas = atlas::Atlas::open(*dir_ / "atlas");
  const auto& layer = atlas.layer("visual.layer4");
  const Tensor matrix = read_npy_tensor(*atlas.matrix(layer, atlas::Quantity::Mean)).to(torch::kDouble);  // (U, N)
  const auto count = [&](const std::string& key, const std::vector<std::string>& names) {
    const auto truth = atlas::read_labels(atlas, *dir_ / "world/labels.jsonl", key);
    int top1 = 0, top5 = 0;
    for (const auto& name : names) {
      std::vector<int64_t> in, out;
      for (int64_t i = 0; i < matrix.size(1); ++i) {
        const auto it = truth.by_image.find(i);
        (it != truth.by_image.end() && it->second == name ? in : out).push_back(i);
      }
      EXPECT_GE(in.size(), 5u) << name;
      if (in.size() < 5) continue;
      const Tensor a = matrix.index_select(1, torch::tensor(in)), b = matrix.index_select(1, torch::tensor(out));
      const int64_t unit = ((a.mean(1) - b.mean(1)) / b.std(1).clamp_min(1e-3)).argmax().item<int64_t>();
      const auto labels = stored_labels(*dir_ / "atlas", "visual.layer4", unit);
      EXPECT_EQ(labels.size(), 5u);
      std::string shown;
      for (const auto& l : labels) shown += " " + l.concept_name;
      std::cout << name << ": unit " << unit << " ->" << shown << "\n";
      top1 += !labels.empty() && labels[0].concept_name == name ? 1 : 0;
      for (const auto& l : labels) top5 += l.concept_name == name ? 1 : 0;
    }
    std::cout << key << " units labelled with their " << key << ": top-1 " << top1 << "/" << names.size() << ", top-5 "
              << top5 << "/" << names.size() << "\n";
    return std::make_pair(top1, top5);
  };
  std::vector<std::string> colours, shapes;
  for (const auto& c : world::colors()) colours.push_back(c.name);
  for (const auto& s : world::shapes()) shapes.push_back(s);
  const auto [colour1, colour5] = count("color", colours);
  const auto [shape1, shape5] = count("shape", shapes);
  EXPECT_GE(colour1, 4);  // measured: 5 of 8
  EXPECT_GE(colour5, 6);  // measured: 8 of 8
  EXPECT_GE(shape1, 1);   // measured: 2 of 8 (shapes are a harder vocabulary for this small model)
  EXPECT_GE(shape5, 4);   // measured: 6 of 8
}

TEST_F(DemoLabels, ALabellingKilledMidWayResumesToTheSameLabels) {
  CLIP model = load_clip(std::string(kDemoModelName));
  const Tokenizer tokenizer(merges_beside(demo_model_path()), 0);
  const fs::path copy = *dir_ / "atlas-copy";
  fs::remove_all(copy);
  fs::copy(*dir_ / "atlas", copy, fs::copy_options::recursive);
  fs::remove_all(copy / "labels");
  LabelOptions o;
  o.chunk_images = 100;
  o.method = Method::Wpmi;
  o.crash_after = 2;
  EXPECT_THROW(label_atlas(model, tokenizer, {"demo", "demo-sha"}, copy, concepts(), o), CrashForTesting);
  EXPECT_TRUE(stored_labels(copy, "visual.layer4", 0, Method::Wpmi).empty());
  o.crash_after = 0;
  const auto resumed = label_atlas(model, tokenizer, {"demo", "demo-sha"}, copy, concepts(), o);
  EXPECT_EQ(resumed.chunks_reused, 2);
  EXPECT_EQ(resumed.chunks_computed, 2);
  std::vector<std::vector<UnitLabel>> after_resume;
  for (int64_t u : {0, 17, 300}) after_resume.push_back(stored_labels(copy, "visual.layer4", u, Method::Wpmi));
  // An uninterrupted run from scratch stores the same labels.
  fs::remove_all(copy / "labels");
  const auto whole = label_atlas(model, tokenizer, {"demo", "demo-sha"}, copy, concepts(), o);
  EXPECT_EQ(whole.chunks_computed, 4);
  size_t i = 0;
  for (int64_t u : {0, 17, 300}) {
    const auto a = stored_labels(copy, "visual.layer4", u, Method::Wpmi);
    ASSERT_EQ(a.size(), 5u);
    ASSERT_EQ(after_resume[i].size(), 5u);
    for (size_t r = 0; r < 5; ++r) {
      EXPECT_EQ(a[r].concept_name, after_resume[i][r].concept_name) << u << " " << r;
      EXPECT_NEAR(a[r].score, after_resume[i][r].score, 1e-4) << u << " " << r;
    }
    ++i;
  }
}

TEST_F(DemoLabels, TheCommandPrintsEveryUnitAndRefusesBadInput) {
  testing::write_file(*dir_ / "concepts.txt", "red\ngreen\nblue\ncircle\nstar\n");
  auto r = testing::run_clipscope({"label", "--atlas", (*dir_ / "atlas").string(), "--concepts",
                                   (*dir_ / "concepts.txt").string(), "--top", "2", "--method", "cos"});
  ASSERT_EQ(r.code, 0) << r.err;
  int lines = 0;
  for (size_t at = 0; (at = r.out.find('\n', at)) != std::string::npos; ++at) ++lines;
  EXPECT_EQ(lines, 512);
  EXPECT_EQ(r.out.rfind("visual.layer4:0\t", 0), 0u) << r.out.substr(0, 200);
  testing::expect_one_line_error(testing::run_clipscope({"label", "--atlas", (*dir_ / "atlas").string(), "--concepts",
                                                         (*dir_ / "concepts.txt").string(), "--quantity", "max"}),
                                 "keeps no max matrix");
  testing::write_file(*dir_ / "empty.txt", "\n");
  testing::expect_one_line_error(testing::run_clipscope({"label", "--atlas", (*dir_ / "atlas").string(), "--concepts",
                                                         (*dir_ / "empty.txt").string()}),
                                 "concept");
  testing::expect_one_line_error(testing::run_clipscope({"label", "--atlas", (*dir_ / "atlas").string(), "--concepts",
                                                         (*dir_ / "concepts.txt").string(), "--method", "best"}),
                                 "--method best: expected soft-wpmi, wpmi, cos or cos3");
}

}  // namespace
}  // namespace clipscope::labels
