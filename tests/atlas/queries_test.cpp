// Unit tests of the atlas queries (src/atlas/queries.h): cell geometry, bucketing
// of a unit's values, labels files and conditional probabilities, each checked
// against an independent computation on synthetic data.
#include "atlas/queries.h"

#include <c10/util/Half.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <map>
#include <numeric>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "atlas/atlas.h"
#include "atlas/matrix.h"
#include "support/shared_data.h"

namespace clipscope::atlas {
namespace {

namespace fs = std::filesystem;
using clipscope::testing::error_message;
using clipscope::testing::temp_dir;
using clipscope::testing::write_file;

LayerInfo layer_of(const std::string& layout, int64_t gh, int64_t gw) {
  LayerInfo l;
  l.id = 1;
  l.name = l.requested = l.read_at = "layer";
  l.layout = parse_layout(layout, "test layer");
  l.units = 4;
  l.grid_height = gh;
  l.grid_width = gw;
  l.cells = layout == "LND" || layout == "NLD" ? 1 + gh * gw : gh * gw;
  return l;
}

bool inside(const PixelBox& b, int n_px) {
  return b.x >= 0 && b.y >= 0 && b.width > 0 && b.height > 0 && b.x + b.width <= n_px && b.y + b.height <= n_px;
}
bool contains(const PixelBox& outer, const PixelBox& inner) {
  return outer.x <= inner.x && outer.y <= inner.y && outer.x + outer.width >= inner.x + inner.width &&
         outer.y + outer.height >= inner.y + inner.height;
}
bool whole(const PixelBox& b, int n_px) { return b.x == 0 && b.y == 0 && b.width == n_px && b.height == n_px; }

// ---- cell_box / crop_around ----------------------------------------------------

struct Grid {
  int64_t gh, gw;
  int n_px;
};
const Grid kGrids[] = {{7, 7, 224}, {5, 3, 64}, {2, 4, 10}, {13, 13, 224}, {1, 3, 31}, {3, 1, 17}, {14, 14, 224}};

TEST(CellBox, NchwCellsTileTheImage) {
  for (const auto& g : kGrids) {
    SCOPED_TRACE(::testing::Message() << g.gh << "x" << g.gw << " grid, " << g.n_px << " px");
    const LayerInfo l = layer_of("NCHW", g.gh, g.gw);
    std::vector<int> covered(static_cast<size_t>(g.n_px * g.n_px), 0);
    for (int32_t cell = 0; cell < g.gh * g.gw; ++cell) {
      const PixelBox b = cell_box(l, cell, g.n_px);
      ASSERT_TRUE(inside(b, g.n_px)) << "cell " << cell;
      for (int y = b.y; y < b.y + b.height; ++y)
        for (int x = b.x; x < b.x + b.width; ++x) ++covered[static_cast<size_t>(y * g.n_px + x)];
      // Row-major cells: the pixel at the cell's centre (in grid coordinates) is in its box.
      const int64_t row = cell / g.gw, col = cell % g.gw;
      const auto cx = static_cast<int>((static_cast<double>(col) + 0.5) * g.n_px / static_cast<double>(g.gw));
      const auto cy = static_cast<int>((static_cast<double>(row) + 0.5) * g.n_px / static_cast<double>(g.gh));
      EXPECT_TRUE(cx >= b.x && cx < b.x + b.width && cy >= b.y && cy < b.y + b.height) << "cell " << cell;
      // Every cell about the same size: within one pixel of n_px / grid.
      EXPECT_LE(std::fabs(b.width - static_cast<double>(g.n_px) / static_cast<double>(g.gw)), 1.0);
      EXPECT_LE(std::fabs(b.height - static_cast<double>(g.n_px) / static_cast<double>(g.gh)), 1.0);
    }
    for (size_t i = 0; i < covered.size(); ++i) ASSERT_EQ(covered[i], 1) << "pixel " << i % g.n_px << "," << i / g.n_px;
  }
}

TEST(CellBox, TokensAndPooledLayers) {
  for (const char* layout : {"LND", "NLD"}) {
    for (const auto& g : kGrids) {
      const LayerInfo tokens = layer_of(layout, g.gh, g.gw), grid = layer_of("NCHW", g.gh, g.gw);
      EXPECT_TRUE(whole(cell_box(tokens, 0, g.n_px), g.n_px)) << layout << ": the class token covers the image";
      for (int32_t t = 1; t <= g.gh * g.gw; ++t) {
        const PixelBox a = cell_box(tokens, t, g.n_px), b = cell_box(grid, t - 1, g.n_px);
        EXPECT_EQ(std::tie(a.x, a.y, a.width, a.height), std::tie(b.x, b.y, b.width, b.height))
            << layout << " token " << t;
      }
    }
  }
  // Pooled (ND) layers and 1x1 grids: the whole image.
  EXPECT_TRUE(whole(cell_box(layer_of("ND", 1, 1), 0, 224), 224));
  EXPECT_TRUE(whole(cell_box(layer_of("NCHW", 1, 1), 0, 224), 224));
  EXPECT_TRUE(whole(cell_box(layer_of("LND", 1, 1), 0, 224), 224));
}

TEST(CropAround, InsideImageAndContainsCell) {
  const double fractions[] = {0.0, 0.1, 0.25, 0.5, 0.8, 1.0, 1.5};
  for (const auto& g : kGrids) {
    const LayerInfo l = layer_of("NCHW", g.gh, g.gw);
    for (int32_t cell = 0; cell < g.gh * g.gw; ++cell) {
      const PixelBox c = cell_box(l, cell, g.n_px);
      for (double f : fractions) {
        const PixelBox crop = crop_around(c, g.n_px, f);
        SCOPED_TRACE(::testing::Message() << "grid " << g.gh << "x" << g.gw << " cell " << cell << " fraction " << f);
        EXPECT_TRUE(inside(crop, g.n_px));
        EXPECT_TRUE(contains(crop, c));
        EXPECT_EQ(crop.width, crop.height);
        const int want =
            std::clamp(std::max({static_cast<int>(std::lround(f * g.n_px)), c.width, c.height}), 1, g.n_px);
        EXPECT_EQ(crop.width, want);
        // Centred on the cell unless that would leave the image.
        const double dx = (crop.x + crop.width / 2.0) - (c.x + c.width / 2.0);
        const bool at_edge_x = crop.x == 0 || crop.x + crop.width == g.n_px;
        if (!at_edge_x) {
          EXPECT_LE(std::fabs(dx), 1.0);
        }
        const double dy = (crop.y + crop.height / 2.0) - (c.y + c.height / 2.0);
        const bool at_edge_y = crop.y == 0 || crop.y + crop.height == g.n_px;
        if (!at_edge_y) {
          EXPECT_LE(std::fabs(dy), 1.0);
        }
      }
    }
  }
  // The whole image stays the whole image.
  EXPECT_TRUE(whole(crop_around({0, 0, 64, 64}, 64, 0.3), 64));
}

// ---- bucket_edges / bucket_images ----------------------------------------------

// Random values (some NaN), their ids starting at `first`, and the true RMS.
UnitValues synthetic_unit(uint64_t seed, int n, int64_t first = 100) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.8f, 1.5f);
  std::uniform_int_distribution<int> rare(0, 24);
  UnitValues u;
  u.first_image = first;
  double squares = 0;
  int64_t count = 0;
  for (int i = 0; i < n; ++i) {
    float v = normal(rng);
    if (rare(rng) == 0) v = std::numeric_limits<float>::quiet_NaN();
    u.values.push_back(v);
    if (std::isfinite(v)) squares += static_cast<double>(v) * v, ++count;
  }
  u.rms = std::sqrt(squares / static_cast<double>(count));
  return u;
}

// The bucket a value (RMS units) falls in: [lo, hi), the last one closed.
int brute_bucket(double x, const std::vector<double>& edges) {
  const int bins = static_cast<int>(edges.size()) - 1;
  for (int b = 0; b < bins; ++b)
    if (x < edges[static_cast<size_t>(b) + 1]) return b;
  return bins - 1;
}

double near_edge(double x, const std::vector<double>& edges) {
  double d = INFINITY;
  for (double e : edges) d = std::min(d, std::fabs(x - e));
  return d;
}

TEST(BucketEdges, SpanMinToMaxInRmsUnits) {
  const UnitValues u = synthetic_unit(1, 500);
  double lo = INFINITY, hi = -INFINITY;
  for (float v : u.values)
    if (std::isfinite(v)) lo = std::min(lo, static_cast<double>(v)), hi = std::max(hi, static_cast<double>(v));
  for (int bins : {1, 2, 7, 20}) {
    const auto edges = bucket_edges(u, bins);
    ASSERT_EQ(edges.size(), static_cast<size_t>(bins) + 1);
    EXPECT_NEAR(edges.front(), lo / u.rms, 1e-12);
    EXPECT_NEAR(edges.back(), hi / u.rms, 1e-12);
    for (int i = 0; i < bins; ++i)
      EXPECT_NEAR(edges[static_cast<size_t>(i) + 1] - edges[static_cast<size_t>(i)], (hi - lo) / u.rms / bins, 1e-12);
  }
  EXPECT_NE(error_message([&] { bucket_edges(u, 0); }), "");
  UnitValues all_nan = u;
  std::fill(all_nan.values.begin(), all_nan.values.end(), std::numeric_limits<float>::quiet_NaN());
  EXPECT_NE(error_message([&] { bucket_edges(all_nan, 5); }), "");
  UnitValues zero_rms = u;
  zero_rms.rms = 0;
  EXPECT_NE(error_message([&] { bucket_edges(zero_rms, 5); }), "");
}

TEST(BucketImages, EveryFiniteValueInExactlyOneBucket) {
  const UnitValues u = synthetic_unit(2, 3000, 100);
  const int bins = 12, per_bin = 5;
  const auto buckets = bucket_images(u, bins, per_bin, 42);
  const auto edges = bucket_edges(u, bins);
  ASSERT_EQ(buckets.size(), static_cast<size_t>(bins));
  std::vector<int64_t> population(bins, 0);
  int64_t finite = 0;
  for (float v : u.values)
    if (std::isfinite(v)) ++finite, ++population[static_cast<size_t>(brute_bucket(v / u.rms, edges))];
  int64_t total = 0;
  std::set<int64_t> sampled;
  for (int b = 0; b < bins; ++b) {
    const Bucket& bucket = buckets[static_cast<size_t>(b)];
    SCOPED_TRACE(::testing::Message() << "bucket " << b);
    EXPECT_DOUBLE_EQ(bucket.lo, edges[static_cast<size_t>(b)]);
    EXPECT_DOUBLE_EQ(bucket.hi, edges[static_cast<size_t>(b) + 1]);
    EXPECT_EQ(bucket.population, population[static_cast<size_t>(b)]);
    total += bucket.population;
    EXPECT_EQ(static_cast<int64_t>(bucket.sample.size()), std::min<int64_t>(per_bin, bucket.population));
    for (int64_t id : bucket.sample) {
      ASSERT_GE(id, u.first_image);
      ASSERT_LT(id, u.first_image + static_cast<int64_t>(u.values.size()));
      const float v = u.values[static_cast<size_t>(id - u.first_image)];
      ASSERT_TRUE(std::isfinite(v));
      const double x = v / u.rms;
      EXPECT_GE(x, bucket.lo - 1e-12);
      EXPECT_LE(x, bucket.hi + 1e-12);
      EXPECT_TRUE(sampled.insert(id).second) << "image " << id << " sampled twice";
    }
  }
  EXPECT_EQ(total, finite);
  // No value was so close to an edge that the two bucketings could disagree.
  for (float v : u.values)
    if (std::isfinite(v) && v / u.rms > edges.front() && v / u.rms < edges.back()) {
      ASSERT_GT(near_edge(v / u.rms, edges), 1e-9);
    }
}

TEST(BucketImages, DeterministicForASeed) {
  const UnitValues u = synthetic_unit(3, 2000);
  const auto a = bucket_images(u, 8, 4, 7), b = bucket_images(u, 8, 4, 7);
  bool any_differs = false;
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].sample, b[i].sample);
    EXPECT_EQ(a[i].population, b[i].population);
  }
  for (uint64_t seed = 8; seed < 12 && !any_differs; ++seed) {
    const auto c = bucket_images(u, 8, 4, seed);
    for (size_t i = 0; i < a.size(); ++i) any_differs = any_differs || c[i].sample != a[i].sample;
  }
  EXPECT_TRUE(any_differs) << "the seed does not change the samples";
  EXPECT_NE(error_message([&] { bucket_images(u, 8, 0, 1); }), "");
  EXPECT_NE(error_message([&] { bucket_images(u, 0, 3, 1); }), "");
}

TEST(BucketImages, SamplesUniformlyWithinABucket) {
  // One bucket of 10 images, 2 drawn per seed: each image drawn ~1/5 of the time.
  UnitValues u;
  u.first_image = 0;
  for (int i = 0; i < 10; ++i) u.values.push_back(1.0f + 0.01f * static_cast<float>(i));
  u.rms = 1.0;
  std::vector<int> drawn(10, 0);
  const int trials = 2000;
  for (int seed = 0; seed < trials; ++seed) {
    const auto buckets = bucket_images(u, 1, 2, static_cast<uint64_t>(seed));
    ASSERT_EQ(buckets[0].sample.size(), 2u);
    for (int64_t id : buckets[0].sample) ++drawn[static_cast<size_t>(id)];
  }
  for (int i = 0; i < 10; ++i) EXPECT_NEAR(drawn[static_cast<size_t>(i)], trials * 2 / 10, 80) << "image " << i;
}

// ---- conditional_probability ---------------------------------------------------

TEST(CondProb, AgainstBruteForce) {
  const UnitValues u = synthetic_unit(4, 2000, 50);
  const int bins = 10;
  const auto edges = bucket_edges(u, bins);
  // "high" for every image above 60% of the range, else "a"/"b" at random; some
  // images unlabelled; a few labels for images outside the unit's range.
  const double threshold = edges.front() + 0.6 * (edges.back() - edges.front());
  std::mt19937_64 rng(5);
  std::uniform_int_distribution<int> pick(0, 3);
  Labels labels;
  for (size_t j = 0; j < u.values.size(); ++j) {
    const int64_t id = u.first_image + static_cast<int64_t>(j);
    const int r = pick(rng);
    if (std::isfinite(u.values[j]) && u.values[j] / u.rms >= threshold)
      labels.by_image[id] = "high";
    else if (r == 0)
      continue;
    else
      labels.by_image[id] = r == 1 ? "a" : "b";
  }
  labels.by_image[u.first_image - 1] = "outside";
  labels.by_image[u.first_image + static_cast<int64_t>(u.values.size())] = "outside";

  const auto cp = conditional_probability(u, labels, bins);
  EXPECT_EQ(cp.labels, (std::vector<std::string>{"a", "b", "high", "outside"}));
  ASSERT_EQ(cp.p.size(), cp.labels.size());
  ASSERT_EQ(cp.lo.size(), static_cast<size_t>(bins));
  ASSERT_EQ(cp.hi.size(), static_cast<size_t>(bins));
  for (int b = 0; b < bins; ++b) {
    EXPECT_DOUBLE_EQ(cp.lo[static_cast<size_t>(b)], edges[static_cast<size_t>(b)]);
    EXPECT_DOUBLE_EQ(cp.hi[static_cast<size_t>(b)], edges[static_cast<size_t>(b) + 1]);
  }
  // Brute force: counts of each label per bucket.
  std::map<std::string, std::vector<int64_t>> counts;
  std::vector<int64_t> labelled(bins, 0);
  for (const auto& name : cp.labels) counts[name].assign(bins, 0);
  for (const auto& [id, label] : labels.by_image) {
    const int64_t j = id - u.first_image;
    if (j < 0 || j >= static_cast<int64_t>(u.values.size()) || !std::isfinite(u.values[static_cast<size_t>(j)]))
      continue;
    const int b = brute_bucket(u.values[static_cast<size_t>(j)] / u.rms, edges);
    ++counts[label][static_cast<size_t>(b)];
    ++labelled[static_cast<size_t>(b)];
  }
  EXPECT_EQ(cp.labelled, labelled);
  for (int b = 0; b < bins; ++b) {
    double sum = 0;
    for (size_t l = 0; l < cp.labels.size(); ++l) {
      const double p = cp.p[l][static_cast<size_t>(b)];
      sum += p;
      const double want = labelled[static_cast<size_t>(b)] > 0
                              ? static_cast<double>(counts[cp.labels[l]][static_cast<size_t>(b)]) /
                                    static_cast<double>(labelled[static_cast<size_t>(b)])
                              : 0.0;
      EXPECT_DOUBLE_EQ(p, want) << cp.labels[l] << " bucket " << b;
    }
    if (labelled[static_cast<size_t>(b)] > 0) {
      EXPECT_NEAR(sum, 1.0, 1e-12) << "bucket " << b;
    } else
      EXPECT_EQ(sum, 0.0);
  }
  // "high" owns the top buckets and is absent from the bottom ones.
  const size_t high = 2, outside = 3;
  EXPECT_DOUBLE_EQ(cp.p[high][bins - 1], 1.0);
  EXPECT_DOUBLE_EQ(cp.p[high][bins - 2], 1.0);
  EXPECT_DOUBLE_EQ(cp.p[high][0], 0.0);
  for (int b = 0; b < bins; ++b) EXPECT_EQ(cp.p[outside][static_cast<size_t>(b)], 0.0);
}

// ---- An atlas to test against --------------------------------------------------

struct TinyAtlas {
  fs::path root;                 // holds atlas/, imgs/ and labels files
  std::vector<fs::path> images;  // image i has id i (image 3 is unreadable: "skipped")
  Atlas atlas;
};

TinyAtlas tiny_atlas(int n = 6) {
  const fs::path root = temp_dir();
  std::vector<ImageRecord> records;
  std::vector<fs::path> images;
  for (int i = 0; i < n; ++i) {
    images.push_back(root / "imgs" / ("img" + std::to_string(i) + ".png"));
    records.push_back({i, images.back().string(), i == 3 ? "cannot decode" : ""});
  }
  Settings settings;
  settings.layers = {"layer"};
  Shard shard;
  shard.first = 0;
  shard.end = n;
  Atlas atlas = Atlas::create(root / "atlas", settings, shard, {layer_of("ND", 1, 1)}, "test");
  atlas.checkpoint(records, {}, n);
  return {root, images, std::move(atlas)};
}

TEST(Labels, CsvWithIdsPathsAndQuoting) {
  auto t = tiny_atlas();
  const fs::path file = t.root / "labels.csv";
  write_file(file,
             "image,label\r\n"
             "0,cat\r\n"
             "\"" +
                 t.images[1].string() +
                 "\",\"dog, black\"\r\n"
                 "imgs/img2.png,\"say \"\"hi\"\"\"\r\n"  // relative to the labels file
                 "imgs/../imgs/img4.png,bird\r\n"
                 "imgs/img5.png,\r\n"           // empty label
                 "imgs/elsewhere.png,fish\r\n"  // not in the atlas
                 "\r\n");
  const Labels labels = read_labels(t.atlas, file);
  const std::map<int64_t, std::string> want = {{0, "cat"}, {1, "dog, black"}, {2, "say \"hi\""}, {4, "bird"}};
  EXPECT_EQ(labels.by_image, want);
  EXPECT_EQ(labels.unlabelled, 1);
  EXPECT_EQ(labels.unmatched, 1);
}

TEST(Labels, CsvPathColumnAndOtherKey) {
  auto t = tiny_atlas();
  const fs::path file = t.root / "sub" / "labels.csv";
  write_file(file,
             "colour,path,species,note\n"
             "red,../imgs/img0.png,cat,x\n"
             "blue,../imgs/img1.png,,y\n"
             "green,../imgs/img3.png,owl,unreadable image\n"
             "pink,../imgs/img2.png,dog\n");
  const Labels species = read_labels(t.atlas, file, "species");
  EXPECT_EQ(species.by_image, (std::map<int64_t, std::string>{{0, "cat"}, {2, "dog"}}));
  EXPECT_EQ(species.unlabelled, 1);
  EXPECT_EQ(species.unmatched, 1);  // image 3 was skipped, so it is not among the atlas's images
  const Labels colour = read_labels(t.atlas, file, "colour");
  EXPECT_EQ(colour.by_image, (std::map<int64_t, std::string>{{0, "red"}, {1, "blue"}, {2, "pink"}}));
}

TEST(Labels, CsvErrors) {
  auto t = tiny_atlas();
  write_file(t.root / "nolabel.csv", "image,kind\n0,cat\n");
  write_file(t.root / "noimage.csv", "file,label\n0,cat\n");
  write_file(t.root / "empty.csv", "");
  EXPECT_NE(error_message([&] { read_labels(t.atlas, t.root / "nolabel.csv"); }), "");
  EXPECT_NE(error_message([&] { read_labels(t.atlas, t.root / "noimage.csv"); }), "");
  EXPECT_NE(error_message([&] { read_labels(t.atlas, t.root / "empty.csv"); }), "");
  EXPECT_NE(error_message([&] { read_labels(t.atlas, t.root / "absent.csv"); }), "");
  EXPECT_EQ(error_message([&] { read_labels(t.atlas, t.root / "nolabel.csv", "kind"); }), "");
}

// An image id that is not one of the atlas's (readable) images is "an image not in
// the atlas" (queries.h): it must be counted as unmatched, not given a label.
TEST(Labels, CsvUnknownImageIdIsUnmatched) {
  auto t = tiny_atlas();
  write_file(t.root / "ids.csv", "image,label\n0,cat\n99,dog\n3,owl\n");
  const Labels labels = read_labels(t.atlas, t.root / "ids.csv");
  EXPECT_EQ(labels.by_image, (std::map<int64_t, std::string>{{0, "cat"}}));
  EXPECT_EQ(labels.unmatched, 2);
}

TEST(Labels, JsonLines) {
  auto t = tiny_atlas();
  const fs::path file = t.root / "labels.jsonl";
  write_file(file,
             "{\"image\": \"imgs/img0.png\", \"label\": \"cat\", \"shape\": \"round\"}\n"
             "\n"
             "{\"image\": \"" +
                 t.images[1].string() +
                 "\", \"label\": \"dog\", \"shape\": 3}\n"
                 "  {\"image\": \"imgs/img2.png\", \"label\": null, \"shape\": \"square\"}\r\n"
                 "{\"image\": \"imgs/img4.png\"}\n"
                 "{\"image\": \"imgs/missing.png\", \"label\": \"cow\", \"shape\": \"flat\"}\n");
  const Labels labels = read_labels(t.atlas, file);
  EXPECT_EQ(labels.by_image, (std::map<int64_t, std::string>{{0, "cat"}, {1, "dog"}}));
  EXPECT_EQ(labels.unlabelled, 2);  // null, absent
  EXPECT_EQ(labels.unmatched, 1);
  const Labels shapes = read_labels(t.atlas, file, "shape");
  EXPECT_EQ(shapes.by_image, (std::map<int64_t, std::string>{{0, "round"}, {1, "3"}, {2, "square"}}));
  EXPECT_EQ(shapes.unlabelled, 1);
  EXPECT_EQ(shapes.unmatched, 1);
}

TEST(Labels, JsonLinesErrorsNameTheLine) {
  auto t = tiny_atlas();
  write_file(t.root / "bad.jsonl", "{\"image\": \"imgs/img0.png\", \"label\": \"cat\"}\n\nimage,label\n");
  const std::string bad = error_message([&] { read_labels(t.atlas, t.root / "bad.jsonl"); });
  EXPECT_NE(bad.find("line 3"), std::string::npos) << bad;
  write_file(t.root / "noimage.jsonl", "{\"label\": \"cat\"}\n");
  const std::string noimage = error_message([&] { read_labels(t.atlas, t.root / "noimage.jsonl"); });
  EXPECT_NE(noimage.find("line 1"), std::string::npos) << noimage;
}

// ---- unit_values, end to end through an atlas with a matrix ------------------------

TEST(MatrixUnitValues, ReadsTheAtlasMatrixAndRms) {
  const fs::path dir = temp_dir() / "atlas";
  const int64_t n = 9, units = 2;
  LayerInfo l = layer_of("ND", 1, 1);
  l.units = units;
  Settings settings;
  settings.layers = {"layer"};
  settings.matrix_layers = {"layer"};
  settings.matrix_quantities = {Quantity::Max};
  Shard shard;
  shard.end = n;
  Atlas atlas = Atlas::create(dir, settings, shard, {l}, "test");
  // Per-image values (images, units), cells = 1.
  std::vector<float> values(static_cast<size_t>(n * units));
  std::mt19937_64 rng(6);
  std::normal_distribution<float> normal(1.0f, 2.0f);
  for (auto& v : values) v = normal(rng);
  const LayerBatch batch = summarize(values.data(), n, units, 1, false);
  std::vector<ImageRecord> records;
  std::vector<int64_t> ids;
  for (int64_t i = 0; i < n; ++i)
    records.push_back({i, (dir / ("i" + std::to_string(i))).string(), ""}), ids.push_back(i);
  std::map<int, LayerAccumulator> accumulators;
  accumulators.emplace(l.id, LayerAccumulator(units, 3));
  accumulators.at(l.id).add(batch, ids);
  {
    MatrixWriter w(atlas.matrix_path(l.name, Quantity::Max), units, n, 0, 4);
    for (int64_t i = 0; i < n; ++i) w.set_column(i, batch.max.data() + i * units, 1);
    w.flush(n);
  }
  atlas.checkpoint(records, accumulators, n);
  atlas.finalize(accumulators);

  const LayerInfo& layer = atlas.layer("layer");
  for (int64_t u = 0; u < units; ++u) {
    const UnitValues v = unit_values(atlas, layer, u, Quantity::Max);
    EXPECT_EQ(v.first_image, 0);
    ASSERT_EQ(v.values.size(), static_cast<size_t>(n));
    double squares = 0;
    for (int64_t i = 0; i < n; ++i) {
      const float x = values[static_cast<size_t>(i * units + u)];
      squares += static_cast<double>(x) * x;
      EXPECT_EQ(v.values[static_cast<size_t>(i)], static_cast<float>(c10::Half(x)));
    }
    EXPECT_NEAR(v.rms, std::sqrt(squares / n), 1e-9);
  }
  const std::string no_matrix = error_message([&] { unit_values(atlas, layer, 0, Quantity::Mean); });
  EXPECT_NE(no_matrix.find("'mean'"), std::string::npos) << no_matrix;
  EXPECT_NE(no_matrix.find(layer.name), std::string::npos) << no_matrix;
  EXPECT_EQ(no_matrix.find("--"), std::string::npos) << "a library error names no flag: " << no_matrix;
  EXPECT_NE(error_message([&] { unit_values(atlas, layer, units, Quantity::Max); }), "");
}

// ---- correlation_rows: Pearson correlations as dot products ------------------------

TEST(CorrelationRows, DotProductsArePearsonCorrelationsOverTheSample) {
  const fs::path file = temp_dir() / "corr.npy";
  const int64_t units = 4, columns = 9;
  std::vector<float> x(columns);
  for (int64_t j = 0; j < columns; ++j) x[static_cast<size_t>(j)] = static_cast<float>((j * 7) % 5) - 1.5f;
  {
    MatrixWriter w(file, units, columns);
    for (int64_t j = 0; j < columns; ++j) {
      const float v = x[static_cast<size_t>(j)];
      // unit 0: x; 1: 2x + 1 (correlation 1); 2: -x (-1); 3: x with an unreadable image (NaN).
      const float column[] = {v, 2 * v + 1, -v, j == 4 ? std::numeric_limits<float>::quiet_NaN() : v};
      w.set_column(j, column, 1);
    }
    w.flush(columns);
  }
  const torch::Tensor rows = correlation_rows(file);
  ASSERT_EQ(rows.sizes(), (std::vector<int64_t>{units, columns}));
  const torch::Tensor c = rows.matmul(rows.t());
  EXPECT_NEAR(c[0][0].item<double>(), 1, 1e-5);
  EXPECT_NEAR(c[0][1].item<double>(), 1, 1e-3);  // float16 storage
  EXPECT_NEAR(c[0][2].item<double>(), -1, 1e-3);
  // The unreadable image counts as unit 3's mean: the correlation with unit 0 is what
  // numpy gives for x with x[4] replaced by the mean of the others.
  std::vector<double> y(x.begin(), x.end());
  double mean = 0;
  for (int64_t j = 0; j < columns; ++j)
    if (j != 4) mean += y[static_cast<size_t>(j)] / (columns - 1);
  y[4] = mean;
  double mx = 0, my = 0, sxy = 0, sxx = 0, syy = 0;
  for (int64_t j = 0; j < columns; ++j)
    mx += x[static_cast<size_t>(j)] / columns, my += y[static_cast<size_t>(j)] / columns;
  for (int64_t j = 0; j < columns; ++j) {
    const double a = x[static_cast<size_t>(j)] - mx, b = y[static_cast<size_t>(j)] - my;
    sxy += a * b, sxx += a * a, syy += b * b;
  }
  EXPECT_NEAR(c[0][3].item<double>(), sxy / std::sqrt(sxx * syy), 1e-3);
  // An evenly spaced sample: 9 columns, at most 4 samples -> every 3rd image.
  EXPECT_EQ(correlation_rows(file, 4).size(1), 3);
  EXPECT_NE(error_message([&] { correlation_rows(file, 1); }).find("max_samples 1"), std::string::npos);
}

}  // namespace
}  // namespace clipscope::atlas
