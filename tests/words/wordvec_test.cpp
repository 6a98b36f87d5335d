// The words capability's parts that need no model: option parsing, word lists,
// embeddings arithmetic, the lexicographic-unit rule and place files.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>

#include "core/raster/text.h"
#include "support/shared_data.h"
#include "words/database.h"
#include "words/encoder.h"
#include "words/regions.h"
#include "words/wordvec.h"

namespace clipscope::words {
namespace {

namespace fs = std::filesystem;
using testing::error_message;

TEST(WordStyleOptions, SizesAndPositionsParse) {
  EXPECT_EQ(parse_sizes("16,20,24"), (std::vector<double>{16, 20, 24}));
  EXPECT_EQ(parse_positions("center"), (std::vector<std::array<double, 2>>{{0.5, 0.5}}));
  const auto grid = parse_positions("2x3");
  ASSERT_EQ(grid.size(), 6u);
  EXPECT_DOUBLE_EQ(grid[0][0], 1.0 / 6);
  EXPECT_DOUBLE_EQ(grid[0][1], 0.25);
  EXPECT_DOUBLE_EQ(grid[5][0], 5.0 / 6);
  EXPECT_DOUBLE_EQ(grid[5][1], 0.75);
  EXPECT_EQ(parse_positions("0.25,0.5;0.75,0.5").size(), 2u);
  EXPECT_NE(error_message([] { parse_sizes("20,big"); }).find("sizes 20,big: 'big' is not a number"),
            std::string::npos);
  EXPECT_NE(error_message([] { parse_positions("0x3"); }).find("positions 0x3"), std::string::npos);
  EXPECT_NE(error_message([] { parse_positions("0.5"); }).find("positions 0.5"), std::string::npos);
  WordStyle bad;
  bad.positions = {{1.5, 0.5}};
  EXPECT_NE(error_message([&] { bad.validate(); }).find("[0, 1]"), std::string::npos);
  bad = {};
  bad.sizes = {300};
  EXPECT_NE(error_message([&] { bad.validate(); }).find("sizes 300"), std::string::npos);
}

TEST(WordLists, EmptyDuplicateAndOverlongLinesAreKeptWithTheirReason) {
  const auto dir = testing::temp_dir();
  testing::write_file(dir / "list.txt", "red\n\n  blue \r\nred\n" + std::string(300, 'a') + "\ngreen");
  const auto entries = read_word_list(dir / "list.txt");
  ASSERT_EQ(entries.size(), 6u);
  EXPECT_EQ(entries[0].word, "red");
  EXPECT_EQ(entries[0].error, "");
  EXPECT_EQ(entries[1].error, "empty line");
  EXPECT_EQ(entries[2].word, "blue");  // trimmed
  EXPECT_EQ(entries[2].error, "");
  EXPECT_EQ(entries[3].error, "duplicate of line 1");
  EXPECT_NE(entries[4].error.find("300 bytes"), std::string::npos);
  EXPECT_EQ(entries[5].word, "green");
  EXPECT_NE(error_message([&] { read_word_list(dir / "none.txt"); }).find("none.txt: cannot open"), std::string::npos);
}

TEST(WordProblems, WordsThatCannotBeDrawnAreNamed) {
  TextRasterizer raster;
  WordStyle style;
  EXPECT_EQ(word_problem(raster, "hello", style), "");
  EXPECT_EQ(word_problem(raster, "   ", style), "empty");
  EXPECT_NE(word_problem(raster, "中文", style).find("no glyph for U+4E2D"), std::string::npos);
  EXPECT_EQ(word_problem(raster, "bad\xff", style), "not valid UTF-8");
  EXPECT_NE(word_problem(raster, std::string(60, 'w'), style).find("wider than the 224-px canvas"), std::string::npos);
}

// Four "concepts" built so that king - man + woman = queen exactly, plus noise words.
TEST(Embeddings, ArithmeticFindsTheWordTheVectorsWereBuiltFor) {
  torch::manual_seed(1);
  const int64_t units = 16;
  const auto royal = torch::randn({units}), male = torch::randn({units}), female = torch::randn({units});
  std::vector<std::string> words = {"king", "queen", "man", "woman"};
  std::vector<torch::Tensor> rows = {royal + male, royal + female, male, female};
  for (int i = 0; i < 20; ++i) {
    words.push_back("noise" + std::to_string(i));
    rows.push_back(torch::randn({units}));
  }
  Embeddings e(words, torch::stack(rows));
  std::vector<std::string> terms;
  const auto v = e.evaluate("king - man + woman", &terms);
  EXPECT_EQ(terms, (std::vector<std::string>{"king", "man", "woman"}));
  const auto nearest = e.nearest(v, 3, {terms.begin(), terms.end()});
  ASSERT_FALSE(nearest.empty());
  EXPECT_EQ(nearest[0].word, "queen");
  EXPECT_NEAR(nearest[0].value, 1.0, 1e-6);  // the centred vectors add up exactly
  EXPECT_NEAR(Embeddings::cosine(e.vector("king"), e.vector("king")), 1.0, 1e-9);
  EXPECT_EQ(e.nearest(e.vector("king"), 1)[0].word, "king");
  EXPECT_NE(error_message([&] { e.evaluate("king - prince"); }).find("word 'prince': not in the word set"),
            std::string::npos);
  EXPECT_NE(error_message([&] { e.evaluate("king + - man"); }).find("expected a word"), std::string::npos);
}

TEST(Embeddings, MaskedUnitsAreLeftOut) {
  // Two words that differ only in unit 0 are identical once it is masked.
  std::vector<std::string> words = {"a", "b", "c"};
  const auto m = torch::tensor({{5.0, 1.0, 2.0}, {-5.0, 1.0, 2.0}, {0.0, -2.0, -4.0}});
  Embeddings e(words, m);
  EXPECT_LT(Embeddings::cosine(e.vector("a"), e.vector("b")), 0.5);
  e.mask({0});
  EXPECT_NEAR(Embeddings::cosine(e.vector("a"), e.vector("b")), 1.0, 1e-9);
  EXPECT_NE(error_message([&] { e.mask({3}); }).find("masked unit 3: out of range"), std::string::npos);
}

// Unit 0 fires for "-ing" words, unit 1 for colours (no shared spelling), unit 2 at random.
TEST(LexicalUnits, TheRuleFindsASpellingUnitAndSparesASemanticOne) {
  std::vector<std::string> words = {"running", "singing", "jumping", "reading", "eating", "walking",
                                    "red",     "green",   "blue",    "yellow",  "purple", "orange"};
  for (const char* w : {"table", "chair", "house", "river", "stone", "cloud", "paper", "light", "music", "world",
                        "water", "money", "night", "sound", "story", "field", "power", "heart", "plant", "space"})
    words.push_back(w);
  const auto n = static_cast<int64_t>(words.size());
  torch::manual_seed(2);
  auto m = torch::randn({n, 3}) * 0.1;
  for (int64_t i = 0; i < 6; ++i) m[i][0] += 5;
  for (int64_t i = 6; i < 12; ++i) m[i][1] += 5;
  LexicalRule rule;
  rule.top = 6;
  const auto found = find_lexical_units(words, m, rule);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].unit, 0);
  EXPECT_EQ(found[0].substring, "ing");
  EXPECT_EQ(found[0].hits, 6);
  EXPECT_NEAR(found[0].expected, 6.0 * 6 / static_cast<double>(n), 1e-9);
}

TEST(UnitLists, FileOfUnitsIsReadAndCheckedAgainstTheLayer) {
  const auto dir = testing::temp_dir();
  testing::write_file(dir / "units.txt", "1, 2 # two units\n7\n");
  EXPECT_EQ(read_unit_list((dir / "units.txt").string(), 8), (std::vector<int64_t>{1, 2, 7}));
  EXPECT_NE(error_message([&] { read_unit_list((dir / "units.txt").string(), 4); }).find("'7' is not a unit index 0-3"),
            std::string::npos);
}

TEST(Places, CsvAndGeoJsonAreRead) {
  const auto dir = testing::temp_dir();
  testing::write_file(dir / "cities.csv", "name,lon,lat\nParis,2.35,48.86\nLima,-77.04,-12.05\n");
  const auto cities = read_places(dir / "cities.csv");
  ASSERT_EQ(cities.size(), 2u);
  EXPECT_EQ(cities[1].name, "Lima");
  EXPECT_DOUBLE_EQ(cities[1].lon, -77.04);
  testing::write_file(dir / "bad.csv", "name,lon,lat\nNowhere,200,0\n");
  EXPECT_NE(error_message([&] { read_places(dir / "bad.csv"); }).find("Nowhere at (200, 0)"), std::string::npos);
  testing::write_file(dir / "one.geojson",
                      R"({"type":"FeatureCollection","features":[{"type":"Feature","properties":{"NAME":"Square"},)"
                      R"("geometry":{"type":"Polygon","coordinates":[[[0,0],[10,0],[10,10],[0,10],[0,0]]]}}]})");
  const auto squares = read_places(dir / "one.geojson");
  ASSERT_EQ(squares.size(), 1u);
  EXPECT_EQ(squares[0].kind, PlaceKind::Country);
  EXPECT_EQ(squares[0].rings.at(0).size(), 5u);
  testing::write_file(dir / "broken.json", "{");
  EXPECT_NE(error_message([&] { read_places(dir / "broken.json"); }).find("not valid place data"), std::string::npos);
}

TEST(Places, TheArticlesRegionFileHas175CountriesAnd620Cities) {
  CLIPSCOPE_REQUIRE_SHARED(shared);
  const auto places = read_places(shared / "data" / "maps" / "paper_regional_geo.json");
  const auto countries =
      std::count_if(places.begin(), places.end(), [](const Place& p) { return p.kind == PlaceKind::Country; });
  EXPECT_EQ(countries, 175);
  EXPECT_EQ(static_cast<int64_t>(places.size()) - countries, 620);
}

}  // namespace
}  // namespace clipscope::words
