// visualize and facet-probe end to end on the demo model: real processes, real files.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <random>

#include "core/hub/zoo.h"
#include "core/image/image.h"
#include "support/cli_runner.h"
#include "support/shared_data.h"

namespace clipscope {
namespace {

namespace fs = std::filesystem;
using testing::expect_one_line_error;
using testing::run_clipscope;

class OptvisCommands : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(demo_model_path())) GTEST_SKIP() << "demo model not found (train it with train-demo)";
  }
};

nlohmann::json read_json(const fs::path& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

TEST_F(OptvisCommands, VisualizeWritesAnImagePerUnitAGridAndAReport) {
  const auto dir = testing::temp_dir();
  const auto out = dir / "vis";
  const auto r = run_clipscope(
      {"visualize", "--unit", "visual.layer4:356,105", "--steps", "24", "--thresholds", "8", "--out", out.string()});
  ASSERT_EQ(r.code, 0) << r.err;
  for (const char* f : {"visual.layer4_356.png", "visual.layer4_105.png", "visual.layer4_356_step8.png", "grid.png"})
    EXPECT_TRUE(fs::exists(out / f)) << f;
  const Image image = read_image(out / "visual.layer4_356.png");
  EXPECT_EQ(image.width, 64);  // the demo model's resolution
  const auto report = read_json(out / "visualize.json");
  ASSERT_EQ(report["renders"].size(), 1u);  // both units in one batch
  const auto& images = report["renders"][0]["images"];
  ASSERT_EQ(images.size(), 2u);
  EXPECT_EQ(images[0]["unit"], 356);
  EXPECT_GT(images[0]["activation"].get<double>(), 0.0);
  EXPECT_EQ(report["transforms"].get<std::string>().rfind("pad(12,0.5), jitter(8)", 0), 0u) << report["transforms"];

  // Same seed, same image, byte for byte; another seed, another image.
  const auto again =
      run_clipscope({"visualize", "--unit", "visual.layer4:356", "--steps", "24", "--out", (dir / "a").string()});
  const auto other = run_clipscope(
      {"visualize", "--unit", "visual.layer4:356", "--steps", "24", "--seed", "5", "--out", (dir / "b").string()});
  const auto twice =
      run_clipscope({"visualize", "--unit", "visual.layer4:356", "--steps", "24", "--out", (dir / "c").string()});
  ASSERT_EQ(again.code, 0) << again.err;
  ASSERT_EQ(other.code, 0) << other.err;
  ASSERT_EQ(twice.code, 0) << twice.err;
  EXPECT_EQ(testing::read_file(dir / "a/visual.layer4_356.png"), testing::read_file(dir / "c/visual.layer4_356.png"));
  EXPECT_NE(testing::read_file(dir / "a/visual.layer4_356.png"), testing::read_file(dir / "b/visual.layer4_356.png"));
}

TEST_F(OptvisCommands, AKilledRunResumesToTheImagesOfAnUninterruptedOne) {
  const auto dir = testing::temp_dir();
  auto args = [&](const fs::path& out, std::vector<std::string> extra) {
    std::vector<std::string> v = {"visualize", "--unit",    "visual.layer4:356,105", "--batch", "1", "--steps", "8",
                                  "--out",     out.string()};
    v.insert(v.end(), extra.begin(), extra.end());
    return v;
  };
  const auto killed = run_clipscope(args(dir / "resumed", {"--crash-after", "1"}));
  ASSERT_EQ(killed.code, 3) << killed.err;
  const auto partial = read_json(dir / "resumed/visualize.json");
  EXPECT_EQ(partial["renders"].size(), 1u);
  EXPECT_FALSE(partial["complete"].get<bool>());
  EXPECT_FALSE(fs::exists(dir / "resumed/visual.layer4_105.png"));

  const auto resumed = run_clipscope(args(dir / "resumed", {}));
  ASSERT_EQ(resumed.code, 0) << resumed.err;
  const auto whole = run_clipscope(args(dir / "whole", {}));
  ASSERT_EQ(whole.code, 0) << whole.err;
  EXPECT_TRUE(read_json(dir / "resumed/visualize.json")["complete"].get<bool>());
  for (const char* f : {"visual.layer4_356.png", "visual.layer4_105.png", "grid.png"})
    EXPECT_EQ(testing::read_file(dir / "resumed" / f), testing::read_file(dir / "whole" / f)) << f;
  // Other settings are refused, naming the first difference, and nothing is overwritten.
  expect_one_line_error(run_clipscope({"visualize", "--unit", "visual.layer4:356,105", "--batch", "1", "--steps", "9",
                                       "--out", (dir / "resumed").string()}),
                        "steps: 8 there, 9 now");
}

TEST_F(OptvisCommands, PreimageDeepDreamAndAFreeObjective) {
  const auto dir = testing::temp_dir();
  const auto pre = run_clipscope({"visualize", "--unit", "visual.layer3:5", "--method", "preimage", "--grayscale",
                                  "--steps", "16", "--out", (dir / "pre").string()});
  ASSERT_EQ(pre.code, 0) << pre.err;
  const Image grey = read_image(dir / "pre/visual.layer3_5.png");
  for (size_t i = 0; i < grey.rgb.size(); i += 3) {
    ASSERT_EQ(grey.rgb[i], grey.rgb[i + 1]);
    ASSERT_EQ(grey.rgb[i], grey.rgb[i + 2]);
  }
  const auto dream = run_clipscope({"visualize", "--unit", "visual.layer4:356", "--method", "deepdream", "--octaves",
                                    "2", "--steps", "4", "--out", (dir / "dream").string()});
  ASSERT_EQ(dream.code, 0) << dream.err;
  EXPECT_TRUE(fs::exists(dir / "dream/visual.layer4_356.png"));
  const auto free = run_clipscope(
      {"visualize", "--objective", "visual.layer4:3 - 0.01 * tv()", "--steps", "8", "--out", (dir / "free").string()});
  ASSERT_EQ(free.code, 0) << free.err;
  EXPECT_TRUE(fs::exists(dir / "free/objective_0.png"));
  EXPECT_EQ(read_json(dir / "free/visualize.json")["renders"][0]["objective"],
            "channel(visual.layer4, 3) - 0.01 * tv(input)");
}

TEST_F(OptvisCommands, BadArgumentsGetOneLineNamingThem) {
  const auto out = (testing::temp_dir() / "x").string();
  expect_one_line_error(run_clipscope({"visualize", "--unit", "visual.layer9:1", "--out", out}), "visual.layer9");
  expect_one_line_error(run_clipscope({"visualize", "--unit", "visual.layer4:768", "--out", out}), "out of range");
  expect_one_line_error(run_clipscope({"visualize", "--unit", "visual.layer4:x", "--out", out}), "'x'");
  expect_one_line_error(run_clipscope({"visualize", "--objective", "chanel(visual.layer4, 1)", "--out", out}),
                        "chanel");
  expect_one_line_error(
      run_clipscope({"visualize", "--unit", "visual.layer4:1", "--transforms", "jitter(x)", "--out", out}),
      "jitter(x)");
  expect_one_line_error(run_clipscope({"visualize", "--out", out}), "--unit");
  expect_one_line_error(
      run_clipscope({"visualize", "--objective", "visual.layer4:1", "--facet", "p.npy", "--out", out}),
      "--facet p.npy: needs a unit");
  expect_one_line_error(
      run_clipscope({"visualize", "--unit", "visual.layer4:1", "--facet", "/nonexistent/p.npy", "--out", out}),
      "/nonexistent/p");
}

// Writes n 64x64 PNGs: grey noise, with a saturated square when `marked`.
void write_images(const fs::path& dir, int n, bool marked, uint32_t seed) {
  fs::create_directories(dir);
  std::mt19937 rng(seed);
  for (int i = 0; i < n; ++i) {
    Image image;
    image.width = image.height = 64;
    image.rgb.resize(64 * 64 * 3);
    for (auto& v : image.rgb) v = static_cast<uint8_t>(100 + rng() % 56);
    if (marked) {
      const int x0 = static_cast<int>(rng() % 32), y0 = static_cast<int>(rng() % 32);
      for (int y = y0; y < y0 + 24; ++y)
        for (int x = x0; x < x0 + 24; ++x) {
          uint8_t* p = image.pixel(x, y);
          p[0] = 230, p[1] = 30, p[2] = 30;
        }
    }
    write_png(dir / (std::to_string(i) + ".png"), image);
  }
}

TEST_F(OptvisCommands, AFacetProbeIsFittedAndDrivesAFacetedVisualization) {
  const auto dir = testing::temp_dir();
  write_images(dir / "facet", 24, true, 1);
  write_images(dir / "generic", 24, false, 2);
  testing::write_file(dir / "generic/broken.png", "not a png");
  const auto fit = run_clipscope({"facet-probe", "--facet", (dir / "facet").string(), "--generic",
                                  (dir / "generic").string(), "--out", (dir / "probe.npy").string()});
  ASSERT_EQ(fit.code, 0) << fit.err;
  const auto probe = read_json(dir / "probe.json");
  EXPECT_EQ(probe["layers"][0], "visual.layer3.0");
  EXPECT_EQ(probe["facet_images"], 24);
  EXPECT_EQ(probe["skipped_images"], 1);
  EXPECT_GT(probe["holdout_accuracy"].get<double>(), 0.9);
  const auto vis = run_clipscope({"visualize", "--unit", "visual.layer4:356", "--facet", (dir / "probe.npy").string(),
                                  "--facet-batch", "3", "--steps", "8", "--out", (dir / "vis").string()});
  ASSERT_EQ(vis.code, 0) << vis.err;
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(fs::exists(dir / ("vis/visual.layer4_356_" + std::to_string(i) + ".png")));
  const auto report = read_json(dir / "vis/visualize.json");
  EXPECT_NE(report["renders"][0]["objective"].get<std::string>().find("facet("), std::string::npos);
  EXPECT_EQ(report["transforms"].get<std::string>().rfind("pad(2,0.5)", 0), 0u) << report["transforms"];
}

}  // namespace
}  // namespace clipscope
