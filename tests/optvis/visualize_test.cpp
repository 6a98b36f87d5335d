// optvis::visualize, the one entry point of feature visualization, called as the CLI
// and serve call it: the folder it writes, the report it owns, resuming, and the
// errors that name its parameters.
#include "optvis/visualize.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/util/crash.h"
#include "core/util/error.h"
#include "support/shared_data.h"
#include "support/tiny_models.h"

namespace clipscope::optvis {
namespace {

namespace fs = std::filesystem;

nlohmann::json read_json(const fs::path& file) {
  std::ifstream in(file);
  return nlohmann::json::parse(in);
}

VisualizeOptions few_steps(const std::string& unit) {
  VisualizeOptions o;
  o.unit = unit;
  o.steps = 4;
  o.batch = 1;
  o.model = "tiny";
  return o;
}

TEST(Visualize, WritesOneImagePerUnitAGridAndItsReport) {
  CLIP model = testing::tiny_model(testing::tiny_resnet_config(), 3);
  const fs::path out = testing::temp_dir() / "vis";
  int64_t last = 0, total = 0;
  VisualizeOptions o = few_steps("visual.layer4:1,2");
  o.on_step = [&](int64_t done, int64_t all) {
    EXPECT_EQ(done, last + 1);
    last = done;
    total = all;
  };
  const VisualizeResult r = visualize(model, o, out);
  EXPECT_EQ(r.images, 2);
  EXPECT_EQ(r.renders, 2u);
  EXPECT_EQ(r.resumed, 0u);
  EXPECT_EQ(last, 8);  // 2 renders of 4 steps
  EXPECT_EQ(total, 8);
  for (const char* f : {"visual.layer4_1.png", "visual.layer4_2.png", "grid.png"})
    EXPECT_TRUE(fs::exists(out / f)) << f;
  const auto report = read_json(r.report);
  EXPECT_TRUE(report["complete"].get<bool>());
  EXPECT_EQ(report["method"], "lucid");
  EXPECT_EQ(report["settings"], visualize_settings(o));
  ASSERT_EQ(report["renders"].size(), 2u);
  EXPECT_EQ(report["renders"][1]["images"][0]["unit"], 2);
  EXPECT_EQ(report["renders"][1]["images"][0]["layer"], "visual.layer4");
}

TEST(Visualize, AKilledRunResumesToTheSameImages) {
  CLIP model = testing::tiny_model(testing::tiny_resnet_config(), 4);
  const fs::path dir = testing::temp_dir();
  VisualizeOptions o = few_steps("visual.layer4:0,3");
  o.crash_after = 1;
  EXPECT_THROW(visualize(model, o, dir / "resumed"), CrashForTesting);
  EXPECT_FALSE(read_json(dir / "resumed/visualize.json")["complete"].get<bool>());
  EXPECT_FALSE(fs::exists(dir / "resumed/visual.layer4_3.png"));
  o.crash_after = 0;
  const auto resumed = visualize(model, o, dir / "resumed");
  EXPECT_EQ(resumed.resumed, 1u);
  visualize(model, o, dir / "whole");
  for (const char* f : {"visual.layer4_0.png", "visual.layer4_3.png", "grid.png"})
    EXPECT_EQ(testing::read_file(dir / "resumed" / f), testing::read_file(dir / "whole" / f)) << f;

  // Other settings in the same folder are refused, naming the first difference.
  o.steps = 5;
  try {
    visualize(model, o, dir / "resumed");
    FAIL() << "no error";
  } catch (const ArgumentError& e) {
    EXPECT_EQ(e.parameter(), "out");
    EXPECT_NE(std::string(e.what()).find("steps: 4 there, 5 now"), std::string::npos) << e.what();
  }
}

TEST(Visualize, BadOptionsNameTheirParameter) {
  CLIP model = testing::tiny_model(testing::tiny_resnet_config(), 5);
  const fs::path out = testing::temp_dir() / "bad";
  auto parameter_of = [&](const VisualizeOptions& o) -> std::string {
    try {
      visualize(model, o, out);
    } catch (const ArgumentError& e) {
      EXPECT_EQ(std::string(e.what()).find("--"), std::string::npos) << e.what();  // no CLI flags
      return e.parameter();
    }
    return "(no error)";
  };
  EXPECT_EQ(parameter_of(VisualizeOptions{}), "unit");  // neither units nor an objective
  EXPECT_EQ(parameter_of(few_steps("visual.layer4:x")), "unit");
  EXPECT_EQ(parameter_of(few_steps("visual.layer4:99999")), "unit");
  VisualizeOptions o = few_steps("visual.layer4:1");
  o.thresholds = "2,x";
  EXPECT_EQ(parameter_of(o), "thresholds");
  o = few_steps("visual.layer4:1");
  o.init = "photo.png";
  EXPECT_EQ(parameter_of(o), "init");  // deepdream only
  o = few_steps("visual.layer4:1");
  o.steps = 0;
  EXPECT_EQ(parameter_of(o), "steps");
  EXPECT_THROW(parse_method("dream"), ArgumentError);
  EXPECT_EQ(parse_method("deepdream"), Method::DeepDream);
  EXPECT_EQ(method_name(parse_method("preimage")), "preimage");
}

}  // namespace
}  // namespace clipscope::optvis
