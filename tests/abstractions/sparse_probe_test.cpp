// The sparse probe: its gradient against finite differences, the lasso's optimality
// conditions, a monotone path that finds planted units, the class hierarchy from
// WordNet's file format and from a table, the command on a folder and an atlas, and
// what the probe finds in the demo model.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>
#include <iostream>

#include "abstractions/class_hierarchy.h"
#include "abstractions/probe_report.h"
#include "abstractions/sparse_probe.h"
#include "core/hub/zoo.h"
#include "core/image/image.h"
#include "core/model/loader.h"
#include "core/model/tensor_io.h"
#include "core/raster/text.h"
#include "core/util/error.h"
#include "support/cli_runner.h"
#include "support/shared_data.h"
#include "world/catalog.h"
#include "world/scene.h"

namespace clipscope {
namespace {

namespace fs = std::filesystem;
using abstractions::SparseProbeOptions;

TEST(SparseProbe, SmoothGradientMatchesFiniteDifferences) {
  torch::manual_seed(1);
  const auto opts = torch::TensorOptions().dtype(torch::kDouble);
  const auto x = torch::randn({30, 6}, opts), w = torch::randn({4, 6}, opts) * 0.3, b = torch::randn({4}, opts);
  const auto y = torch::randint(0, 4, {30}, torch::kLong);
  const double l2 = 0.2, h = 1e-6;
  const auto g = abstractions::smooth_objective(x, y, w, b, l2);
  for (auto [c, d] : {std::pair{0, 0}, {1, 3}, {3, 5}, {2, 2}}) {
    auto wp = w.clone(), wm = w.clone();
    wp[c][d] += h;
    wm[c][d] -= h;
    const double fd = (abstractions::smooth_objective(x, y, wp, b, l2).value -
                       abstractions::smooth_objective(x, y, wm, b, l2).value) /
                      (2 * h);
    EXPECT_NEAR(g.grad_weight[c][d].item<double>(), fd, 1e-6) << c << "," << d;
  }
  for (int c = 0; c < 4; ++c) {
    auto bp = b.clone(), bm = b.clone();
    bp[c] += h;
    bm[c] -= h;
    const double fd = (abstractions::smooth_objective(x, y, w, bp, l2).value -
                       abstractions::smooth_objective(x, y, w, bm, l2).value) /
                      (2 * h);
    EXPECT_NEAR(g.grad_bias[c].item<double>(), fd, 1e-6) << c;
  }
}

// Class c's rows have unit c raised; every other unit is noise.
struct Planted {
  torch::Tensor features;
  std::vector<int64_t> labels;
  std::vector<std::string> classes{"a", "b", "c", "d"};
};
Planted planted(int64_t rows = 800, int64_t units = 40, double shift = 3.0) {
  torch::manual_seed(7);
  Planted p;
  p.features = torch::randn({rows, units}) * 1.5 + 3;
  for (int64_t i = 0; i < rows; ++i) {
    const int64_t c = i % 4;
    p.labels.push_back(c);
    p.features[i][c * 3] += shift;  // units 0, 3, 6, 9
  }
  return p;
}

TEST(SparseProbe, ThePathGrowsMonotonicallyAndFindsThePlantedUnits) {
  const auto p = planted();
  SparseProbeOptions o;
  o.neurons_per_class = 1;
  o.full_path = true;
  o.path = 12;
  o.lambda_min_ratio = 0.01;
  const auto probe = abstractions::fit_sparse_probe(p.features, p.labels, p.classes, o);
  ASSERT_EQ(probe.path.size(), 12u);
  EXPECT_EQ(probe.path[0].nonzeros_per_class, 0) << "no unit enters at λ_max";
  for (size_t i = 1; i < probe.path.size(); ++i) {
    EXPECT_GE(probe.path[i].nonzeros_per_class, probe.path[i - 1].nonzeros_per_class) << "point " << i;
    EXPECT_LT(probe.path[i].lambda, probe.path[i - 1].lambda);
    EXPECT_TRUE(probe.path[i].converged) << "point " << i;
  }
  EXPECT_GT(probe.path.back().nonzeros_per_class, 3) << "the end of the path is dense";
  EXPECT_NEAR(probe.path[probe.chosen].nonzeros_per_class, 1, 0.76);
  EXPECT_GT(probe.path[probe.chosen].validation_top1, 0.7);
  EXPECT_EQ(probe.path[probe.chosen].validation_top5, 1.0) << "4 classes: top-5 is everything";
  for (size_t c = 0; c < 4; ++c) {
    const auto units = probe.class_units(c);
    ASSERT_FALSE(units.empty()) << p.classes[c];
    EXPECT_EQ(units[0].first, static_cast<int64_t>(c * 3)) << "class " << p.classes[c] << "'s strongest unit";
    EXPECT_GT(units[0].second, 0);
  }
  // Stopping at the target: the path ends at the first point past it.
  o.full_path = false;
  const auto short_path = abstractions::fit_sparse_probe(p.features, p.labels, p.classes, o);
  EXPECT_LT(short_path.path.size(), probe.path.size());
  EXPECT_GE(short_path.path.back().nonzeros_per_class, 1);
  EXPECT_TRUE(torch::equal(short_path.weight, probe.weight)) << "the same point is kept";
  // The probe predicts raw features: logits agree with the held-out accuracy it reports.
  const auto logits = probe.logits(p.features);
  EXPECT_EQ(logits.size(1), 4);
}

TEST(SparseProbe, TheLassoSolutionMeetsItsOptimalityConditions) {
  const auto p = planted(400, 12, 1.5);
  SparseProbeOptions o;
  o.validation = 0;
  o.path = 4;
  o.lambda_min_ratio = 0.1;
  o.full_path = true;
  o.tolerance = 1e-7;
  o.max_iterations = 20000;
  for (double ratio : {1.0, 0.5}) {
    o.l1_ratio = ratio;
    const auto probe = abstractions::fit_sparse_probe(p.features, p.labels, p.classes, o);
    // The kept point (the one closest to 3 units per class) is optimal for its λ.
    const double lambda = probe.path[probe.chosen].lambda;
    const auto x = (p.features - probe.mean) / probe.std;
    const auto g =
        abstractions::smooth_objective(x, torch::tensor(p.labels), probe.weight, probe.bias, lambda * (1 - ratio));
    const double l1 = lambda * ratio;
    EXPECT_LT(g.grad_bias.abs().max().item<double>(), 1e-4) << "the intercept is not penalized";
    const auto zero = probe.weight.eq(0), active = zero.logical_not();
    EXPECT_LE(g.grad_weight.masked_select(zero).abs().max().item<double>(), l1 * 1.001) << "ratio " << ratio;
    if (active.any().item<bool>()) {
      const auto residual = g.grad_weight + l1 * probe.weight.sign();
      EXPECT_LT(residual.masked_select(active).abs().max().item<double>(), 1e-3 * std::max(1.0, l1))
          << "ratio " << ratio;
    }
  }
}

TEST(SparseProbe, BadInputIsNamed) {
  const auto p = planted(40, 12);
  auto message = [&](const SparseProbeOptions& o, std::vector<int64_t> labels, std::vector<std::string> classes) {
    return testing::error_message([&] { abstractions::fit_sparse_probe(p.features, labels, classes, o); });
  };
  SparseProbeOptions o;
  EXPECT_NE(message(o, {1, 2}, p.classes).find("labels"), std::string::npos);
  auto labels = p.labels;
  labels[3] = 9;
  EXPECT_NE(message(o, labels, p.classes).find("not in [0, 4)"), std::string::npos);
  EXPECT_NE(message(o, p.labels, {"one"}).find("at least 2"), std::string::npos);
  o.l1_ratio = 0;
  EXPECT_NE(message(o, p.labels, p.classes).find("l1_ratio"), std::string::npos);
  o = {};
  o.lambda_min_ratio = 1;
  EXPECT_NE(message(o, p.labels, p.classes).find("lambda_min_ratio"), std::string::npos);
}

// A WordNet data.noun in its real format: each line starts with its own byte offset.
fs::path write_wordnet(const fs::path& dir, std::map<std::string, std::string>& ids) {
  struct S {
    std::string word;
    std::vector<std::string> parents;
  };
  const std::vector<S> synsets = {{"entity", {}},      {"animal", {"entity"}}, {"dog", {"animal"}},
                                  {"cat", {"animal"}}, {"beagle", {"dog"}},    {"poodle", {"dog"}},
                                  {"tabby", {"cat"}},  {"car", {"entity"}}};
  // Lines have fixed widths here, so offsets are known before writing.
  std::string header = "  1 This software and database is being provided to you, the LICENSEE...\n";
  std::vector<std::string> lines(synsets.size());
  std::map<std::string, int64_t> offset;
  for (int pass = 0; pass < 2; ++pass) {
    int64_t at = static_cast<int64_t>(header.size());
    for (size_t i = 0; i < synsets.size(); ++i) {
      offset[synsets[i].word] = at;
      std::string pointers;
      for (const auto& parent : synsets[i].parents)
        pointers += fmt::format(" @ {:08d} n 0000", pass ? offset[parent] : 0);
      lines[i] = fmt::format("{:08d} 05 n 01 {} 0 {:03d}{} | a {}\n", at, synsets[i].word, synsets[i].parents.size(),
                             pointers, synsets[i].word);
      at += static_cast<int64_t>(lines[i].size());
    }
  }
  const fs::path file = dir / "data.noun";
  std::ofstream out(file);
  out << header;
  for (const auto& l : lines) out << l;
  for (const auto& [word, o] : offset) ids[word] = fmt::format("n{:08d}", o);
  return file;
}

TEST(ClassHierarchy, WordNetHypernymsGroupTheClassesAndSharedUnitsMatchThem) {
  const fs::path dir = testing::temp_dir();
  std::map<std::string, std::string> id;
  const fs::path data = write_wordnet(dir, id);
  const std::vector<std::string> keys = {id["beagle"], id["poodle"], id["tabby"], id["car"], "not-a-wnid"};
  const auto h = abstractions::wordnet_hierarchy(data, keys);
  std::map<std::string, std::vector<size_t>> groups;
  for (size_t g = 0; g < h.groups.size(); ++g) groups[h.groups[g]] = h.members[g];
  EXPECT_EQ(groups[fmt::format("dog ({})", id["dog"])], (std::vector<size_t>{0, 1}));
  EXPECT_EQ(groups[fmt::format("animal ({})", id["animal"])], (std::vector<size_t>{0, 1, 2}));
  EXPECT_EQ(groups[fmt::format("entity ({})", id["entity"])], (std::vector<size_t>{0, 1, 2, 3}));
  EXPECT_EQ(groups.count(fmt::format("cat ({})", id["cat"])), 0u) << "a group of one class is dropped";
  EXPECT_THROW(abstractions::wordnet_hierarchy(dir / "missing", keys), Error);
  EXPECT_THROW(abstractions::wordnet_hierarchy(data, {"n99999999"}), Error);

  // Unit 0 fires for both dogs, unit 1 for the three animals, unit 2 for one class only.
  abstractions::SparseProbe probe;
  probe.classes = {"beagle", "poodle", "tabby", "car", "other"};
  probe.units = {"u0", "u1", "u2"};
  probe.weight = torch::zeros({5, 3});
  probe.weight[0][0] = probe.weight[1][0] = 1;
  probe.weight[0][1] = probe.weight[1][1] = probe.weight[2][1] = 0.5;
  probe.weight[3][2] = 2;
  probe.weight[4][1] = -1;  // negative weights do not join a group
  const auto shared = abstractions::shared_units(probe, h);
  ASSERT_EQ(shared.units.size(), 2u);
  EXPECT_EQ(shared.units[0].unit, 1);
  EXPECT_EQ(shared.units[0].group, fmt::format("animal ({})", id["animal"]));
  EXPECT_DOUBLE_EQ(shared.units[0].jaccard, 1.0);
  EXPECT_EQ(shared.units[1].group, fmt::format("dog ({})", id["dog"]));
  EXPECT_DOUBLE_EQ(shared.mean_jaccard, 1.0);
  EXPECT_LT(shared.shuffled_jaccard, 0.9);
  EXPECT_NE(shared.csv(probe).find("u1,3,"), std::string::npos);
}

TEST(ClassHierarchy, WordNetGroupsTheImageNetSamplesDogsAndAnimals) {
  const fs::path data = "/usr/share/wordnet/data.noun";
  if (!fs::exists(data)) GTEST_SKIP() << data << " not found (Debian's wordnet-base)";
  const auto shared = testing::shared_dir();
  if (!shared) GTEST_SKIP() << "../shared not found (set CLIPSCOPE_SHARED): the ImageNet sample's wnids absent";
  std::vector<std::string> wnids;
  for (const auto& e : fs::directory_iterator(*shared / "data" / "images" / "imagenet-sample"))
    wnids.push_back(e.path().filename().string().substr(0, 9));
  std::sort(wnids.begin(), wnids.end());
  ASSERT_EQ(wnids.size(), 100u);
  const auto h = abstractions::wordnet_hierarchy(data, wnids);
  auto members = [&](const std::string& group) {
    for (size_t g = 0; g < h.groups.size(); ++g)
      if (h.groups[g] == group) return h.members[g];
    return std::vector<size_t>{};
  };
  // ImageNet's dogs are the wnids n02085620 (Chihuahua) to n02113978 (Mexican hairless).
  size_t dogs = 0;
  for (const auto& w : wnids) dogs += w >= "n02085620" && w <= "n02113978" ? 1 : 0;
  const auto dog = members("dog (n02084071)");
  EXPECT_GE(dogs, 5u);
  EXPECT_EQ(dog.size(), dogs);
  for (size_t c : dog) EXPECT_TRUE(wnids[c] >= "n02085620" && wnids[c] <= "n02113978") << wnids[c];
  const auto animal = members("animal (n00015388)");
  EXPECT_NE(std::find(animal.begin(), animal.end(), 0u), animal.end()) << "the tench is an animal";
  EXPECT_GT(animal.size(), dog.size());
  EXPECT_LT(animal.size(), 100u) << "the sample has objects too";
}

TEST(ClassHierarchy, ATableNamesGroupsAndRefusesUnknownClasses) {
  const fs::path dir = testing::temp_dir();
  std::ofstream(dir / "h.tsv") << "# class\tgroups\nred\tcolours\twarm\nblue\tcolours\norange\twarm\tcolours\n";
  const auto h = abstractions::table_hierarchy(dir / "h.tsv", {"red", "blue", "orange", "square"});
  ASSERT_EQ(h.groups.size(), 2u);
  EXPECT_EQ(h.groups[0], "colours");
  EXPECT_EQ(h.members[0], (std::vector<size_t>{0, 1, 2}));
  EXPECT_EQ(h.members[1], (std::vector<size_t>{0, 2}));
  std::ofstream(dir / "bad.tsv") << "red\tcolours\npurple\tcolours\n";
  const std::string m = testing::error_message([&] {
    abstractions::table_hierarchy(dir / "bad.tsv", {"red", "blue", "orange", "square"});
  });
  EXPECT_NE(m.find("bad.tsv:2: 'purple' is not one of the probe's 4 classes"), std::string::npos) << m;
}

// Images of a few concepts per family, written as a labelled folder (one subfolder per concept).
std::vector<std::string> write_family_folder(const fs::path& dir, const std::vector<std::string>& families,
                                             int per_family, int images, const fs::path* table = nullptr) {
  const auto& catalog = world::catalog();
  std::vector<std::string> names;
  std::string lines;
  for (const auto& family : families) {
    int taken = 0;
    for (const auto& c : catalog.concepts()) {
      if (c.family != family || c.emoji.empty() || taken == per_family) continue;
      ++taken;
      names.push_back(c.name);
      lines += c.name + "\t" + family + "\n";
      fs::create_directories(dir / c.name);
      for (int i = 0; i < images; ++i) {
        world::Rng rng(500 + static_cast<uint64_t>(c.id) * 31 + static_cast<uint64_t>(i));
        world::Scene s = world::picture_scene(rng, 64, c.id);
        TextRasterizer raster;
        write_png(dir / c.name / fmt::format("{:03d}.png", i), world::render_scene(s, raster));
      }
    }
  }
  if (table) std::ofstream(*table) << lines;
  return names;
}

TEST(ProbeCommand, FitsAFolderAndAnAtlasAndRefusesBadInput) {
  if (!fs::exists(demo_model_path())) GTEST_SKIP() << "demo model not found";
  const fs::path dir = testing::temp_dir();
  const fs::path table = dir / "families.tsv";
  const auto names = write_family_folder(dir / "images", {"animals", "food"}, 3, 8, &table);
  auto r = testing::run_clipscope({"probe", "--images", (dir / "images").string(), "--neurons-per-class", "2", "--path",
                                   "10", "--hierarchy", table.string(), "-o", (dir / "out").string()});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("sparse probe: 6 classes"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("<- kept"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("top-5 56.4 %"), std::string::npos) << "the published number beside ours";
  for (const char* f : {"probe.json", "weights.npy", "path.csv", "path.png", "matrix.png", "shared-units.csv"})
    EXPECT_TRUE(fs::exists(dir / "out" / f)) << f;
  EXPECT_EQ(read_npy_tensor(dir / "out" / "weights.npy").size(0), 6);
  const Image matrix = read_image(dir / "out" / "matrix.png");
  EXPECT_GT(matrix.width, 100);

  // The same images through an atlas with a mean matrix and a label file.
  r = testing::run_clipscope({"index", "--images", (dir / "images").string(), "--layers", "visual.layer4", "--matrix",
                              "mean", "--out", (dir / "atlas").string()});
  ASSERT_EQ(r.code, 0) << r.err;
  std::string labels = "path,class\n";
  for (const auto& n : names)
    for (int i = 0; i < 8; ++i) labels += fmt::format("images/{}/{:03d}.png,{}\n", n, i, n);
  labels += "images/missing.png,nothing\n";
  std::ofstream(dir / "labels.csv") << labels;
  r = testing::run_clipscope({"probe", "--atlas", (dir / "atlas").string(), "--labels", (dir / "labels.csv").string(),
                              "--neurons-per-class", "2", "--path", "10", "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["classes"].size(), 6u);
  EXPECT_EQ(j["units"][0], "visual.layer4:0");

  // And through `activations`' matrix and its paths file.
  r = testing::run_clipscope({"activations", "--layer", "visual.layer4", "--reduce", "mean", "--image",
                              (dir / "images").string(), "-o", (dir / "features.npy").string()});
  ASSERT_EQ(r.code, 0) << r.err;
  r = testing::run_clipscope({"probe", "--features", (dir / "features.npy").string(), "--labels",
                              (dir / "labels.csv").string(), "--neurons-per-class", "2", "--path", "10", "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto f = nlohmann::json::parse(r.out);
  EXPECT_EQ(f["classes"], j["classes"]);
  EXPECT_EQ(f["train_rows"], j["train_rows"]);

  testing::expect_one_line_error(testing::run_clipscope({"probe"}), "--images DIR, --atlas DIR or --features NPY");
  testing::expect_one_line_error(testing::run_clipscope({"probe", "--atlas", (dir / "atlas").string()}),
                                 "--atlas and --features need --labels");
  testing::expect_one_line_error(testing::run_clipscope({"probe", "--atlas", (dir / "atlas").string(), "--labels",
                                                         (dir / "labels.csv").string(), "--reduce", "max"}),
                                 "keeps no max matrix for visual.layer4");
  testing::expect_one_line_error(
      testing::run_clipscope({"probe", "--images", (dir / "images").string(), "--l1-ratio", "0"}), "must be in (0, 1]");
  testing::expect_one_line_error(
      testing::run_clipscope({"probe", "--images", (dir / "images").string(), "--show", "unicorn"}),
      "'unicorn': not one of the 6 classes");
}

// The demo model: colour classes are read off colour units, and the units classes
// share follow the world's families more than chance.
class DemoProbe : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(demo_model_path())) GTEST_SKIP() << "demo model not found (train it with train-demo)";
    model_ = load_clip(std::string(kDemoModelName));
  }
  CLIP model_{nullptr};
};

TEST_F(DemoProbe, ColourClassesUseUnitsThatRespondToThatColourInFreshImages) {
  const auto& colors = world::colors();
  const fs::path dir = testing::temp_dir();
  TextRasterizer raster;
  for (size_t c = 0; c < colors.size(); ++c) {
    fs::create_directories(dir / colors[c].name);
    for (int i = 0; i < 24; ++i) {
      world::Rng rng(7000 + c * 100 + static_cast<uint64_t>(i));
      world::Scene s = world::objects_scene(rng, 64, colors[c].name, rng.pick(world::shapes()), 1 + i % 3);
      write_png(dir / colors[c].name / fmt::format("{:03d}.png", i), world::render_scene(s, raster));
    }
  }
  SparseProbeOptions o;
  o.neurons_per_class = 3;
  const auto data = abstractions::probe_data_from_folder(model_, dir, "visual.layer4", Reduce::Mean);
  const auto probe = abstractions::fit_sparse_probe(data.features, data.labels, data.classes, o, data.units);
  // Fresh images (other seeds): the mean of each unit per colour.
  std::vector<Image> images;
  for (size_t c = 0; c < colors.size(); ++c)
    for (int i = 0; i < 12; ++i) {
      world::Rng rng(90000 + c * 100 + static_cast<uint64_t>(i));
      world::Scene s = world::objects_scene(rng, 64, colors[c].name, rng.pick(world::shapes()), 1 + i % 3);
      images.push_back(world::render_scene(s, raster));
    }
  ActivationCache cache({"visual.layer4"});
  {
    torch::NoGradGuard no_grad;
    model_->eval();
    model_->run_image(preprocess_batch(images, 64, model_->config().normalization), cache);
  }
  const auto means = cache["visual.layer4"].mean({2, 3}).view({static_cast<int64_t>(colors.size()), 12, -1}).mean(1);
  // Chance: a unit ranks a given colour first among 8 one time in 8.
  int selective = 0;
  for (size_t c = 0; c < colors.size(); ++c) {
    const auto units = probe.class_units(static_cast<size_t>(
        std::find(probe.classes.begin(), probe.classes.end(), colors[c].name) - probe.classes.begin()));
    const auto strongest = std::find_if(units.begin(), units.end(), [](const auto& u) { return u.second > 0; });
    if (strongest == units.end()) continue;
    const auto column = means.select(1, strongest->first);
    selective += column.argmax().item<int64_t>() == static_cast<int64_t>(c) ? 1 : 0;
  }
  const auto& kept = probe.path[probe.chosen];
  std::cout << "colour probe: " << kept.nonzeros_per_class << " units per class, held-out top-1 "
            << kept.validation_top1 << "; colours whose strongest positive unit responds most to that colour in "
            << "fresh images: " << selective << " of 8\n";
  EXPECT_GT(kept.validation_top1, 0.8);
  EXPECT_GE(selective, 5) << "of 8 colours (chance: 1)";
}

TEST_F(DemoProbe, UnitsSharedByClassesFollowTheWorldsFamilies) {
  const fs::path dir = testing::temp_dir();
  const fs::path table = dir / "families.tsv";
  write_family_folder(dir / "images", {"animals", "food", "vehicles", "weather", "emotions", "time"}, 8, 12, &table);
  abstractions::ProbeReportOptions o;
  o.fit.neurons_per_class = 3;
  o.hierarchy_table = table;
  const auto report = abstractions::probe_classes(
      abstractions::probe_data_from_folder(model_, dir / "images", "visual.layer4", Reduce::Mean), o);
  ASSERT_TRUE(report.shared);
  std::cout << report.table(0);
  // Measured: 13 shared units, mean Jaccard 0.207 against 0.139 with the families shuffled.
  EXPECT_GE(report.shared->units.size(), 8u);
  EXPECT_GT(report.shared->mean_jaccard, 1.2 * report.shared->shuffled_jaccard)
      << "shared units group classes of one family more than a random grouping";
}

}  // namespace
}  // namespace clipscope
