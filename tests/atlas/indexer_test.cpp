// Indexing on the shipped demo model over a generated world: the atlas's examples
// are a brute-force sort of every activation, its best "red" unit's top images are
// red objects by ground truth, and resumed or sharded runs write the very same atlas.
#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "atlas/indexer.h"
#include "atlas/merge.h"
#include "atlas/queries.h"
#include "core/hub/zoo.h"
#include "core/image/stream.h"
#include "core/model/image_batches.h"
#include "core/model/loader.h"
#include "core/util/crash.h"
#include "support/shared_data.h"
#include "world/generator.h"

namespace clipscope::atlas {
namespace {

namespace fs = std::filesystem;

constexpr int kWorldImages = 600;

class AtlasIndexing : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!fs::exists(demo_model_path())) return;
    root_ = new fs::path(testing::temp_dir("clipscope-atlas"));
    world::write_world(*root_ / "world", kWorldImages, world::World(11, world::WorldOptions::first_edition()), 0,
                       false);
    model_ = new CLIP(load_clip(std::string(kDemoModelName)));
    paths_ = new std::vector<fs::path>(collect_image_paths({(*root_ / "world" / "images").string()}));
  }
  static void TearDownTestSuite() {
    delete model_;
    delete paths_;
    delete root_;
    model_ = nullptr;
  }
  void SetUp() override {
    if (!model_) GTEST_SKIP() << "demo model not found (train it with train-demo)";
  }

  static IndexOptions options() {
    IndexOptions o;
    o.layers = {"visual.layer4", "visual.layer3.0.relu2"};
    o.k = 12;
    o.matrix_layers = {"visual.layer4"};
    o.matrix_quantities = {Quantity::Max, Quantity::Mean};
    o.progress = false;
    return o;
  }
  static IndexResult index(const fs::path& dir, const IndexOptions& o, const std::vector<fs::path>* paths = nullptr) {
    return index_images(*model_, {"demo", "test-model"}, paths ? *paths : *paths_, dir, o);
  }
  static fs::path fresh(const std::string& name) { return testing::temp_dir("clipscope-atlas-" + name); }

  static fs::path* root_;
  static CLIP* model_;
  static std::vector<fs::path>* paths_;
};
fs::path* AtlasIndexing::root_ = nullptr;
CLIP* AtlasIndexing::model_ = nullptr;
std::vector<fs::path>* AtlasIndexing::paths_ = nullptr;

// Everything an atlas says, as text: every table but the run's own metadata, and the matrices' bytes.
std::string dump(const fs::path& dir) {
  SQLite::Database db((dir / kDatabaseName).string(), SQLite::OPEN_READONLY);
  std::string out;
  for (const char* sql :
       {"SELECT * FROM images ORDER BY id", "SELECT * FROM layers ORDER BY id",
        "SELECT * FROM examples ORDER BY layer, unit, list, rank",
        "SELECT * FROM unit_stats ORDER BY layer, unit, quantity", "SELECT * FROM matrices ORDER BY layer, quantity",
        "SELECT layer, hex(state) FROM accumulators ORDER BY layer",
        "SELECT * FROM meta WHERE key IN ('status', 'next_input', 'layers', 'k', 'inputs_sha256') ORDER BY key"}) {
    SQLite::Statement q(db, sql);
    out += std::string(sql) + "\n";
    while (q.executeStep()) {
      for (int c = 0; c < q.getColumnCount(); ++c) {
        const auto col = q.getColumn(c);
        out += col.isFloat() ? fmt::format("{:.17g}", col.getDouble()) : col.getString();
        out += '|';
      }
      out += '\n';
    }
  }
  if (fs::is_directory(dir / "matrix"))
    for (const auto& f : fs::directory_iterator(dir / "matrix"))
      out += f.path().filename().string() + testing::read_file(f.path());
  return out;
}

std::string meta(const fs::path& dir, const std::string& key) {
  SQLite::Database db((dir / kDatabaseName).string(), SQLite::OPEN_READONLY);
  SQLite::Statement q(db, "SELECT value FROM meta WHERE key = ?");
  q.bind(1, key);
  return q.executeStep() ? q.getColumn(0).getString() : "";
}

TEST_F(AtlasIndexing, ExamplesAreABruteForceSortOfEveryActivation) {
  const auto dir = fresh("brute");
  const auto o = options();
  const auto result = index(dir, o);
  EXPECT_EQ(result.images, kWorldImages);
  EXPECT_EQ(result.skipped, 0);
  const Atlas atlas = Atlas::open(dir);
  ASSERT_TRUE(atlas.complete());

  for (const auto& layer : atlas.layers()) {
    // Every activation, read independently of the indexer: same batches, the layer's pre-ReLU point.
    struct Value {
      float value;
      int64_t image;
      int32_t cell;
    };
    std::vector<std::vector<Value>> max(layer.units), min(layer.units), mean(layer.units), pre_mean(layer.units);
    ImageStreamOptions stream;
    stream.n_px = 64;
    ImageBatcher batches(*paths_, o.batch_size, stream);
    batches.batch_by_input_windows();
    torch::NoGradGuard no_grad;
    while (auto batch = batches.next()) {
      ActivationCache cache({layer.read_at});
      (*model_)->run_image(batch->images, cache);
      const auto t = cache[layer.read_at].flatten(2).contiguous();  // (n, units, cells)
      const auto a = t.accessor<float, 3>();
      for (int64_t i = 0; i < t.size(0); ++i) {
        const auto image = static_cast<int64_t>(batch->indices[static_cast<size_t>(i)]);
        for (int64_t u = 0; u < t.size(1); ++u) {
          int32_t hi = 0, lo = 0;
          double sum = 0, relu_sum = 0;
          for (int64_t c = 0; c < t.size(2); ++c) {
            if (a[i][u][c] > a[i][u][hi]) hi = static_cast<int32_t>(c);
            if (a[i][u][c] < a[i][u][lo]) lo = static_cast<int32_t>(c);
            sum += a[i][u][c];
            relu_sum += std::max(0.0f, a[i][u][c]);
          }
          const double cells = static_cast<double>(t.size(2));
          max[u].push_back({a[i][u][hi], image, hi});
          min[u].push_back({a[i][u][lo], image, lo});
          mean[u].push_back({static_cast<float>((layer.relu ? relu_sum : sum) / cells), image, 0});
          pre_mean[u].push_back({static_cast<float>(sum / cells), image, 0});
        }
      }
    }
    auto expect_list = [&](std::vector<Value> all, const std::string& list, bool top, int64_t unit) {
      std::sort(all.begin(), all.end(), [top](const Value& x, const Value& y) {
        if (x.value != y.value) return top ? x.value > y.value : x.value < y.value;
        return x.image < y.image;
      });
      const auto rows = atlas.examples(layer, unit, parse_example_list(list), 0);
      ASSERT_EQ(rows.size(), static_cast<size_t>(o.k)) << list;
      for (size_t r = 0; r < rows.size(); ++r) {
        ASSERT_EQ(rows[r].image, all[r].image) << layer.name << ":" << unit << " " << list << " rank " << r;
        ASSERT_EQ(rows[r].value, all[r].value);
        ASSERT_EQ(rows[r].cell, all[r].cell);
      }
    };
    for (int64_t u = 0; u < layer.units; ++u) {
      expect_list(max[u], "top_max", true, u);
      expect_list(mean[u], "top_mean", true, u);
      expect_list(min[u], "bottom_min", false, u);
      expect_list(pre_mean[u], "bottom_mean", false, u);
      double sum = 0, squares = 0;
      for (const auto& v : max[u]) sum += v.value, squares += static_cast<double>(v.value) * v.value;
      const Summary s = atlas.summary(layer, u, Quantity::Max);
      ASSERT_EQ(s.count, kWorldImages);
      ASSERT_NEAR(s.mean, sum / kWorldImages, 1e-9 * (1 + std::fabs(s.mean)));
      ASSERT_NEAR(s.rms, std::sqrt(squares / kWorldImages), 1e-9 * (1 + s.rms));
    }
  }
  // The layer's output is ReLU(values read): top by max is positive, bottom by min may be negative (inhibition).
  const auto& l4 = atlas.layer("visual.layer4");
  EXPECT_TRUE(l4.relu);
  EXPECT_EQ(l4.read_at, "visual.layer4.0.add");
  EXPECT_EQ(atlas.layer("visual.layer3.0.relu2").read_at, "visual.layer3.0.bn2");
}

TEST_F(AtlasIndexing, TheBestRedUnitsTopImagesAreRed) {
  const auto dir = fresh("red");
  index(dir, options());
  const Atlas atlas = Atlas::open(dir);
  const auto& layer = atlas.layer("visual.layer4");
  // Ground truth: which images show something red — red objects or words in red ink
  // (the demo model's colour units fire for the colour whatever carries it).
  std::vector<int> red(kWorldImages, 0);  // 1 red, 0 anything else (other colours, faces)
  std::ifstream labels(*root_ / "world" / "labels.jsonl");
  std::string line;
  for (int i = 0; std::getline(labels, line) && i < kWorldImages; ++i) {
    const auto j = nlohmann::json::parse(line);
    red[i] = j.value("color", "") == "red" || j.value("text_color", "") == "red" ? 1 : 0;
  }
  ASSERT_GT(std::count(red.begin(), red.end(), 1), 10);
  // The unit that best separates red images from all the others (d′ over the atlas's per-image values).
  int64_t best = -1;
  double best_d = -1e9;
  for (int64_t u = 0; u < layer.units; ++u) {
    const auto v = unit_values(atlas, layer, u, Quantity::Max).values;
    double s[2] = {0, 0}, q[2] = {0, 0}, n[2] = {0, 0};
    for (int i = 0; i < kWorldImages; ++i) s[red[i]] += v[i], q[red[i]] += v[i] * v[i], ++n[red[i]];
    const double m1 = s[1] / n[1], m0 = s[0] / n[0];
    const double var = 0.5 * (q[1] / n[1] - m1 * m1 + q[0] / n[0] - m0 * m0);
    const double d = (m1 - m0) / std::sqrt(var + 1e-12);
    if (d > best_d) best_d = d, best = u;
  }
  EXPECT_GT(best_d, 2.0);
  const auto top = atlas.examples(layer, best, ExampleList::TopMax, 10);
  int red_objects = 0;
  for (const auto& e : top) red_objects += red[static_cast<size_t>(e.image)];
  EXPECT_GE(red_objects, 8) << "unit " << best << " (d′ " << best_d << "): " << red_objects
                            << " of 10 top images show red";
}

TEST_F(AtlasIndexing, ShardsMergeIntoTheSingleRunsAtlas) {
  const auto single = fresh("single");
  index(single, options());
  std::vector<fs::path> shards;
  for (int i = 0; i < 3; ++i) {
    shards.push_back(fresh("shard" + std::to_string(i)));
    auto o = options();
    o.shard = {i, 3};
    index(shards.back(), o);
    EXPECT_EQ(meta(shards.back(), "shard"), fmt::format("{}/3", i));
  }
  const auto merged = fresh("merged") / "atlas";
  // Reverse order on purpose: merging sorts the shards by their input range.
  const auto r = merge_atlases({shards[2], shards[0], shards[1]}, merged);
  EXPECT_EQ(r.images, kWorldImages);
  testing::expect_same_text(dump(merged), dump(single), "merged and single-run atlases");

  EXPECT_NE(testing::error_message([&] {
              merge_atlases({shards[0], shards[2]}, fresh("gap") / "a");
            }).find("missing"),
            std::string::npos);
  EXPECT_NE(testing::error_message([&] {
              merge_atlases({shards[0], shards[0], shards[1], shards[2]}, fresh("dup") / "a");
            }).find("overlap"),
            std::string::npos);
  EXPECT_NE(testing::error_message([&] { merge_atlases(shards, merged); }).find("already holds an atlas"),
            std::string::npos);
}

TEST_F(AtlasIndexing, AKilledRunResumesToTheUninterruptedAtlas) {
  const auto whole = fresh("whole");
  index(whole, options());
  const auto killed = fresh("killed");
  auto o = options();
  o.checkpoint_batches = 2;
  o.crash_after = 5;
  EXPECT_THROW(index(killed, o), CrashForTesting);
  EXPECT_EQ(meta(killed, "status"), "indexing");
  EXPECT_EQ(meta(killed, "next_input"), std::to_string(4 * o.batch_size));  // the checkpoint after batch 4
  o.crash_after = 0;
  const auto resumed = index(killed, o);
  EXPECT_EQ(resumed.resumed_at, 4 * o.batch_size);
  testing::expect_same_text(dump(killed), dump(whole), "resumed and uninterrupted atlases");

  // Done is done; other settings are refused, naming the difference.
  EXPECT_TRUE(index(killed, o).already_complete);
  o.k = 5;
  EXPECT_NE(testing::error_message([&] { index(killed, o); }).find("other settings (k: 12 vs 5)"), std::string::npos);
  // The same checkpoint computed with another activation is another model.
  LoadOptions gelu;
  gelu.activation = Activation::GELU;
  CLIP other = load_clip(std::string(kDemoModelName), gelu);
  const std::string msg = testing::error_message([&] {
    index_images(other, {"demo", "test-model"}, *paths_, killed, options());
  });
  EXPECT_NE(msg.find("model architecture (activation, preprocessing)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("quickgelu vs"), std::string::npos) << msg;
}

TEST_F(AtlasIndexing, UnreadableImagesAreSkippedCountedAndListed) {
  const auto folder = fresh("messy");
  for (int i = 0; i < 20; ++i) fs::copy_file((*paths_)[static_cast<size_t>(i)], folder / fmt::format("ok{:02}.png", i));
  const std::string png = testing::read_file((*paths_)[0]);
  testing::write_file(folder / "truncated.png", png.substr(0, png.size() / 2));
  testing::write_file(folder / "corrupt.png", png.substr(0, 40) + std::string(200, '\x55'));
  testing::write_file(folder / "empty.jpg", "");
  testing::write_file(folder / "notes.jpg", "these are my notes, not a picture");
  testing::write_file(folder / "README.txt", "ignored: not an image extension");
  const auto inputs = collect_image_paths({folder.string()});
  ASSERT_EQ(inputs.size(), 24u);
  const auto dir = fresh("messy-atlas");
  auto o = options();
  o.batch_size = 4;
  const auto r = index(dir, o, &inputs);
  EXPECT_EQ(r.images, 20);
  EXPECT_EQ(r.skipped, 4);
  const Atlas atlas = Atlas::open(dir);
  const auto skipped = atlas.skipped_images();
  ASSERT_EQ(skipped.size(), 4u);
  std::vector<std::string> names;
  for (const auto& s : skipped) {
    names.push_back(fs::path(s.path).filename().string());
    EXPECT_FALSE(s.error.empty());
  }
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"corrupt.png", "empty.jpg", "notes.jpg", "truncated.png"}));
  // Unreadable images have no values in the matrix (NaN), and never appear as examples.
  const auto values = unit_values(atlas, atlas.layer("visual.layer4"), 0, Quantity::Max).values;
  for (const auto& s : skipped) EXPECT_TRUE(std::isnan(values[static_cast<size_t>(s.id)]));
  for (const auto& e : atlas.examples(atlas.layer("visual.layer4"), 0, ExampleList::TopMax, 0))
    for (const auto& s : skipped) EXPECT_NE(e.image, s.id);
}

TEST_F(AtlasIndexing, BadLayersAreRefusedBeforeAnyWork) {
  auto o = options();
  o.layers = {"visual.layer9"};
  EXPECT_NE(testing::error_message([&] { index(fresh("bad"), o); }).find("visual.layer9"), std::string::npos);
  o.layers = {"transformer.resblocks.0"};
  EXPECT_NE(testing::error_message([&] { index(fresh("text"), o); }).find("text-tower"), std::string::npos);
  o = options();
  o.matrix_layers = {"visual.layer2"};
  EXPECT_NE(testing::error_message([&] { index(fresh("mx"), o); }).find("not one of the indexed"), std::string::npos);
}

}  // namespace
}  // namespace clipscope::atlas
