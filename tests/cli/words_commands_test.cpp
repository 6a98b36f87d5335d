// The words commands end to end on the demo model: real processes, real files.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/hub/zoo.h"
#include "core/image/image.h"
#include "core/util/csv.h"
#include "core/util/strings.h"
#include "support/cli_runner.h"
#include "support/shared_data.h"

namespace clipscope {
namespace {

namespace fs = std::filesystem;
using testing::expect_one_line_error;
using testing::run_clipscope;

const std::vector<std::string> kDemoStyle = {"--canvas", "64", "--sizes", "10,13", "--stroke", "0"};

std::vector<std::string> with_style(std::vector<std::string> args) {
  args.insert(args.end(), kDemoStyle.begin(), kDemoStyle.end());
  return args;
}

class WordsCommands : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(demo_model_path())) GTEST_SKIP() << "demo model not found (train it with train-demo)";
  }
};

TEST_F(WordsCommands, DiffRanksUnitsAndJsonAgreesWithTheTable) {
  const auto table = run_clipscope(with_style({"diff", "--text", "red", "--k", "5"}));
  ASSERT_EQ(table.code, 0) << table.err;
  EXPECT_NE(table.out.find("# red - 'eeeeee' at visual.layer4"), std::string::npos) << table.out;
  const auto json = run_clipscope(with_style({"diff", "--text", "red", "--k", "5", "--json"}));
  ASSERT_EQ(json.code, 0) << json.err;
  // The table's first unit is the JSON's first unit.
  std::istringstream rows(table.out);
  std::string line;
  std::getline(rows, line);
  std::getline(rows, line);
  std::getline(rows, line);
  int rank = -1, unit = -1;
  std::istringstream(line) >> rank >> unit;
  EXPECT_EQ(rank, 0);
  EXPECT_NE(json.out.find("\"unit\": " + std::to_string(unit)), std::string::npos) << json.out;
  expect_one_line_error(run_clipscope(with_style({"diff", "--text", "\u4e2d"})), "no glyph for U+4E2D");
  expect_one_line_error(run_clipscope(with_style({"diff", "--text", "red", "--layer", "visual.layer9"})),
                        "visual.layer9");
  expect_one_line_error(run_clipscope({"diff", "--text", "red", "--sizes", "20,x"}),
                        "--sizes 20,x: 'x' is not a number");
}

TEST_F(WordsCommands, WordsBuildsADatabaseThatTheQueriesRead) {
  const auto dir = testing::temp_dir();
  testing::write_file(dir / "words.txt", "red\ngreen\nblue\nyellow\ncat\ndog\n\nred\n\u4e2d\n");
  const auto built = run_clipscope(
      with_style({"words", "--words", (dir / "words.txt").string(), "--into", (dir / "atlas").string(), "--k", "5"}),
      "");
  ASSERT_EQ(built.code, 0) << built.err;
  const auto again = run_clipscope(
      with_style({"words", "--words", (dir / "words.txt").string(), "--into", (dir / "atlas").string(), "--k", "5"}));
  ASSERT_EQ(again.code, 0) << again.err;
  const auto units = run_clipscope({"word-units", "blue", "--atlas", (dir / "atlas").string(), "--k", "3"});
  ASSERT_EQ(units.code, 0) << units.err;
  EXPECT_NE(units.out.find("# 'blue' at visual.layer4"), std::string::npos) << units.out;
  const auto words = run_clipscope({"unit-words", "visual.layer4:0", "--atlas", (dir / "atlas").string()});
  ASSERT_EQ(words.code, 0) << words.err;
  EXPECT_EQ(std::count(words.out.begin(), words.out.end(), '\n'), 2 + 5) << words.out;  // k = 5 stored
  const auto nearest = run_clipscope({"wordvec", "nearest", "red", "--atlas", (dir / "atlas").string(), "--k", "2"});
  ASSERT_EQ(nearest.code, 0) << nearest.err;
  EXPECT_EQ(nearest.out.find("  red\n"), std::string::npos) << "the query word is not its own neighbour";
  const auto cosine = run_clipscope({"wordvec", "cosine", "red", "red", "--atlas", (dir / "atlas").string()});
  ASSERT_EQ(cosine.code, 0) << cosine.err;
  EXPECT_EQ(cosine.out, "1.000000\n");
  const auto lexical = run_clipscope({"wordvec", "lexical", "--atlas", (dir / "atlas").string(), "--lexical-top", "3"});
  ASSERT_EQ(lexical.code, 0) << lexical.err;
  expect_one_line_error(run_clipscope({"word-units", "zebra", "--atlas", (dir / "atlas").string()}),
                        "word 'zebra': not in the word set");
  expect_one_line_error(run_clipscope({"wordvec", "arith", "red - zebra", "--atlas", (dir / "atlas").string()}),
                        "zebra");
  expect_one_line_error(run_clipscope({"word-units", "red", "--atlas", (dir / "none").string()}), "no such directory");
  expect_one_line_error(run_clipscope(with_style({"words", "--words", (dir / "words.txt").string(), "--into",
                                                  (dir / "atlas").string(), "--k", "7"})),
                        "other settings (k: 5 vs 7)");
}

TEST_F(WordsCommands, RegionMapWritesATableAndAMap) {
  const auto dir = testing::temp_dir();
  testing::write_file(dir / "places.csv", "name,lon,lat\nParis,2.35,48.86\nLima,-77.04,-12.05\nOslo,10.75,59.91\n");
  const auto r = run_clipscope(
      with_style({"region-map", "--unit", "visual.layer4:3", "--places", (dir / "places.csv").string(), "--out",
                  (dir / "map.png").string(), "--table", (dir / "names.csv").string(), "--positions", "center"}));
  ASSERT_EQ(r.code, 0) << r.err;
  const Image map = read_image(dir / "map.png");
  EXPECT_EQ(map.width, 1600);
  EXPECT_EQ(map.height, 900);
  const std::string table = testing::read_file(dir / "names.csv");
  EXPECT_EQ(table.rfind("name,kind,lon,lat,activation\nParis,city,2.35,48.86,", 0), 0u) << table;
  EXPECT_EQ(std::count(table.begin(), table.end(), '\n'), 4);
  const auto small =
      run_clipscope(with_style({"region-map", "--unit", "visual.layer4:3", "--places", (dir / "places.csv").string(),
                                "--out", (dir / "small.png").string(), "--positions", "center", "--width", "960"}));
  ASSERT_EQ(small.code, 0) << small.err;
  EXPECT_EQ(read_image(dir / "small.png").width, 960);
  EXPECT_EQ(read_image(dir / "small.png").height, 540);
  expect_one_line_error(run_clipscope(with_style({"region-map", "--unit", "visual.layer4:768", "--places",
                                                  (dir / "places.csv").string(), "--out", (dir / "m.png").string()})),
                        "out of range");
}

// Issue 19: a region unit of the demo model (demo-report's: its top-10 countries by
// flag and by written name share >= 3) lights its continent on region-map with the
// article's place list. The continent of each place comes from the world's catalog.
TEST_F(WordsCommands, RegionMapLightsTheContinentOfARegionUnit) {
  CLIPSCOPE_REQUIRE_SHARED(shared);
  const auto dir = testing::temp_dir();
  const auto report = run_clipscope({"demo-report", "--json"});
  ASSERT_EQ(report.code, 0) << report.err;
  const auto units = nlohmann::json::parse(report.out).at("concepts").at("region_units");
  ASSERT_FALSE(units.empty());
  // The region unit whose top countries agree most on a continent.
  nlohmann::json best = units[0];
  for (const auto& u : units)
    if (u.at("continent_share").get<double>() > best.at("continent_share").get<double>()) best = u;
  const std::string continent = best.at("continent");
  ASSERT_EQ(run_clipscope({"world", "--concepts", (dir / "concepts.csv").string()}).code, 0);
  std::map<std::string, std::string> continent_of;
  {
    std::istringstream csv(testing::read_file(dir / "concepts.csv"));
    std::string line;
    std::getline(csv, line);
    while (std::getline(csv, line)) {
      const auto f = csv_fields(line);
      if (f.at(2) == "regions") continent_of[f.at(1)] = f.at(5);
    }
  }
  const std::string unit = "visual.layer4:" + std::to_string(best.at("unit").get<int64_t>());
  const auto r = run_clipscope(with_style(
      {"region-map", "--unit", unit, "--places", (shared / "data/maps/paper_regional_geo.json").string(), "--kind",
       "countries", "--out", (dir / "map.png").string(), "--table", (dir / "countries.csv").string()}));
  ASSERT_EQ(r.code, 0) << r.err;
  std::vector<std::pair<double, std::string>> ranked;  // (activation, continent) of the catalog's countries
  int in_continent = 0;
  {
    std::istringstream table(testing::read_file(dir / "countries.csv"));
    std::string line;
    std::getline(table, line);
    while (std::getline(table, line)) {
      const auto f = csv_fields(line);
      const auto it = continent_of.find(ascii_lower(f.at(0)));
      if (it == continent_of.end()) continue;
      ranked.emplace_back(std::stod(f.at(4)), it->second);
      in_continent += it->second == continent;
    }
  }
  ASSERT_GT(ranked.size(), 100u);  // the article's names that are the catalog's and fit the canvas (113 of 175)
  std::sort(ranked.rbegin(), ranked.rend());
  int top = 0;
  for (size_t i = 0; i < 10; ++i) top += ranked[i].second == continent;
  const double base = static_cast<double>(in_continent) / static_cast<double>(ranked.size());
  std::cout << unit << " (" << continent << "): " << top << " of its top 10 countries on region-map are in "
            << continent << " (" << 100 * base << " % of the countries)\n";
  EXPECT_GE(top, 3);
  EXPECT_GT(top / 10.0, 2 * base);
}

}  // namespace
}  // namespace clipscope
