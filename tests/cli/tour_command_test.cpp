// clipscope tour --no-serve: builds the tour once, reuses it on a second run, and
// names bad arguments by their flags.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/hub/zoo.h"
#include "support/cli_runner.h"
#include "support/shared_data.h"

namespace clipscope {
namespace {

namespace fs = std::filesystem;
using testing::expect_one_line_error;
using testing::run_clipscope;

TEST(TourCommand, BuildsOnceThenReusesAndNamesBadArguments) {
  if (!fs::exists(demo_model_path())) GTEST_SKIP() << "demo model not found (train it with train-demo)";
  const fs::path dir = testing::temp_dir("tour-cli") / "tour";
  const std::vector<std::string> args = {"tour",       "--out", dir.string(), "--images", "24",
                                         "--featured", "2",     "--concepts", "32",       "--no-serve"};
  const auto first = run_clipscope(args);
  ASSERT_EQ(first.code, 0) << first.err;
  EXPECT_EQ(first.out, (dir / "atlas").string() + "\n");
  const fs::path featured_file = dir / "atlas" / "featured.json", labels = dir / "world" / "labels.jsonl";
  const auto featured = nlohmann::json::parse(testing::read_file(featured_file));
  ASSERT_EQ(featured["units"].size(), 2u);
  ASSERT_TRUE(fs::exists(labels));
  const auto featured_time = fs::last_write_time(featured_file), labels_time = fs::last_write_time(labels);

  // Again: the same atlas, nothing rewritten.
  const auto second = run_clipscope(args);
  ASSERT_EQ(second.code, 0) << second.err;
  EXPECT_EQ(second.out, first.out);
  EXPECT_EQ(fs::last_write_time(featured_file), featured_time);
  EXPECT_EQ(fs::last_write_time(labels), labels_time);

  expect_one_line_error(run_clipscope({"tour", "--out", dir.string(), "--images", "0", "--no-serve"}), "--images 0");
  expect_one_line_error(run_clipscope({"tour", "--out", dir.string(), "--featured", "-1", "--no-serve"}),
                        "--featured -1");
}

}  // namespace
}  // namespace clipscope
