// Unit families: which words are geographic, emotional or about people (WordNet, ICU, the
// place files, the feeling wheel); a unit's family from its top words; the agreement of
// word-database and CLIP-Dissect labels; and clipscope families on the demo model's atlas
// with a word database and labels.
#include "labels/families.h"

#include <gtest/gtest.h>

#include <fmt/format.h>

#include <fstream>
#include <set>

#include "core/hub/zoo.h"
#include "core/util/csv.h"
#include "support/cli_runner.h"
#include "support/shared_data.h"

namespace clipscope::labels {
namespace {

namespace fs = std::filesystem;

bool have_wordnet() { return fs::exists("/usr/share/wordnet/data.noun"); }

TEST(FamilyLexicon, SortsWordsByPlacesWordNetAndTheWheel) {
  if (!have_wordnet()) GTEST_SKIP() << "WordNet not installed (Debian's wordnet-base)";
  const fs::path dir = testing::temp_dir("lexicon");
  testing::write_file(
      dir / "places.json",
      R"({"countries": [{"properties": {"name": "Freedonia"}}], "cities": [{"name": "Grand Fenwick"}]})");
  testing::write_file(dir / "wheel.tsv", "# a wheel of one branch\nHappy\n\tPlayful\n\t\tCheeky\n");
  LexiconSources sources;
  sources.places = dir / "places.json";
  sources.feeling_wheel = dir / "wheel.tsv";
  const std::vector<std::string> words{"France",        "paris",  "french",  "australian", "Freedonia",
                                       "grand fenwick", "africa", "anger",   "cheeky",     "actor",
                                       "president",     "table",  "running", "blue"};
  const auto lexicon = FamilyLexicon::build(sources, words);
  for (const char* w : {"france", "paris", "french", "australian", "freedonia", "grand fenwick", "africa"})
    EXPECT_EQ(lexicon.family_of(w), Family::Regional) << w;
  for (const char* w : {"anger", "cheeky"}) EXPECT_EQ(lexicon.family_of(w), Family::Emotion) << w;
  for (const char* w : {"actor", "president"}) EXPECT_EQ(lexicon.family_of(w), Family::Person) << w;
  for (const char* w : {"table", "running", "blue"}) EXPECT_FALSE(lexicon.family_of(w).has_value()) << w;
  EXPECT_EQ(lexicon.count(Family::Regional), 7);
  LexiconSources missing = sources;
  missing.wordnet = dir / "no-wordnet";
  EXPECT_THROW(FamilyLexicon::build(missing, words), Error);
}

TEST(Families, AUnitJoinsTheFamilyOfMostOfItsWordsAndLexicalUnitsComeFirst) {
  if (!have_wordnet()) GTEST_SKIP() << "WordNet not installed (Debian's wordnet-base)";
  LexiconSources sources;
  sources.feeling_wheel.clear();
  sources.places.clear();
  sources.countries_geojson.clear();
  const std::vector<std::string> regional{"france", "paris", "germany", "berlin", "table"};
  const std::vector<std::string> mixed{"france", "actor", "anger", "table", "blue"};
  const std::vector<std::string> people{"actor", "president", "france", "singer", "blue"};
  std::vector<std::string> all = regional;
  all.insert(all.end(), mixed.begin(), mixed.end());
  all.insert(all.end(), people.begin(), people.end());
  const auto lexicon = FamilyLexicon::build(sources, all);
  auto u = classify_unit(3, regional, "", lexicon, 3);
  EXPECT_EQ(u.family, Family::Regional);
  EXPECT_EQ(u.regional_words, 4);
  EXPECT_EQ(u.unit, 3);
  EXPECT_EQ(classify_unit(0, regional, "", lexicon, 5).family, Family::Other);  // needs all five
  EXPECT_EQ(classify_unit(0, mixed, "", lexicon, 2).family, Family::Other);
  EXPECT_EQ(classify_unit(0, people, "", lexicon, 3).family, Family::Person);
  u = classify_unit(0, regional, "ing", lexicon, 3);
  EXPECT_EQ(u.family, Family::Lexical);
  EXPECT_EQ(u.lexical, "ing");
  EXPECT_EQ(family_name(parse_family("emotion")), "emotion");
  EXPECT_THROW(parse_family("weather"), ArgumentError);
}

TEST(Families, AgreementCountsTheTopWordAmongTheLabelsAgainstRandomPairs) {
  // Units 0-3 agree; unit 4 does not; unit 5 has no labels and is left out.
  const std::vector<std::vector<std::string>> words{{"red", "x"}, {"Blue"}, {"star"}, {"cat"}, {"dog"}, {"sun"}};
  const std::vector<std::vector<std::string>> labels{{"red", "crimson"}, {"navy", "blue"}, {"star"},
                                                     {"cat", "kitten"},  {"tree"},         {}};
  const auto a = label_agreement(words, labels, 50, 1);
  EXPECT_EQ(a.units, 5);
  EXPECT_DOUBLE_EQ(a.share, 0.8);
  EXPECT_GT(a.chance, 0.0);  // a random pairing sometimes keeps a unit with itself
  EXPECT_LT(a.chance, 0.5);
  EXPECT_EQ(label_agreement({{}}, {{"red"}}).units, 0);
  EXPECT_LT(label_agreement({{}}, {{"red"}}).share, 0);
}

TEST(Families, FamiliesAndTheAuditRunOnADemoAtlasWithWordsAndLabels) {
  if (!fs::exists(demo_model_path())) GTEST_SKIP() << "demo model not found";
  if (!have_wordnet()) GTEST_SKIP() << "WordNet not installed (Debian's wordnet-base)";
  const fs::path dir = testing::temp_dir("families-cli");
  testing::write_file(dir / "words.txt",
                      "red\ngreen\nblue\nyellow\ncircle\nstar\nsquare\nfrance\nparis\ngermany\njapan\ntokyo\nhappy\n"
                      "sad\nangry\nactor\nteacher\ncat\ndog\ntree\nhouse\ncar\n");
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"world", "--edition", "1", "--n", "120", "--seed", "3", "--out", (dir / "world").string()},
           {"index", "--layers", "visual.layer4", "--images", (dir / "world/images").string(), "--out",
            (dir / "atlas").string(), "--k", "8", "--matrix", "mean"},
           {"words", "--words", (dir / "words.txt").string(), "--into", (dir / "atlas").string(), "-k", "5"},
           {"label", "--atlas", (dir / "atlas").string(), "--concepts", (dir / "words.txt").string()}}) {
    const auto r = testing::run_clipscope(args);
    ASSERT_EQ(r.code, 0) << r.err;
  }
  auto r = testing::run_clipscope({"families", "--atlas", (dir / "atlas").string(), "-o", (dir / "f.csv").string()});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("visual.layer4: 512 units by their top 5 words (word database)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("the article: 2.5 % of RN50x4's units"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("word database's top word among the unit's labels"), std::string::npos) << r.out;
  std::ifstream csv(dir / "f.csv");
  int64_t lines = 0;
  for (std::string line; std::getline(csv, line);) ++lines;
  EXPECT_EQ(lines, 513);
  // Stored: the family of every unit, with its words.
  const auto stored = stored_family(dir / "atlas", "visual.layer4", 7);
  ASSERT_TRUE(stored.has_value());
  EXPECT_EQ(stored->words.size(), 5u);
  r = testing::run_clipscope({"families", "--atlas", (dir / "atlas").string(), "--source", "labels", "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  int64_t total = 0;
  for (const auto& [name, count] : j[0]["families"].items()) total += count.get<int64_t>();
  EXPECT_EQ(total, 512);
  EXPECT_EQ(j[0]["source"], "labels");
  testing::expect_one_line_error(
      testing::run_clipscope({"families", "--atlas", (dir / "atlas").string(), "--source", "maps"}),
      "--source maps: expected words, labels or auto");
  testing::expect_one_line_error(
      testing::run_clipscope({"families", "--atlas", (dir / "atlas").string(), "--min-words", "9"}),
      "--min-words 9: must be from 1 to top (5)");
  testing::expect_one_line_error(testing::run_clipscope({"families", "--atlas", (dir / "nothing").string()}),
                                 "no atlas here");

  // The audit: 6 distinct units with their words, labels and family, a picture each, a
  // sheet; the same seed samples the same units.
  r = testing::run_clipscope({"audit", "--atlas", (dir / "atlas").string(), "-n", "6", "--seed", "4", "--examples", "4",
                              "-o", (dir / "audit").string()});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto again = testing::run_clipscope({"audit", "--atlas", (dir / "atlas").string(), "-n", "6", "--seed", "4",
                                             "--examples", "4", "-o", (dir / "audit2").string()});
  EXPECT_EQ(again.out, r.out);
  std::ifstream sheet(dir / "audit/audit.csv");
  std::vector<std::string> rows;
  for (std::string line; std::getline(sheet, line);) rows.push_back(line);
  ASSERT_EQ(rows.size(), 7u);
  EXPECT_EQ(rows[0], "id,layer,unit,family,words,labels,interpretable,notes");
  std::set<std::string> units;
  for (size_t i = 1; i < rows.size(); ++i) {
    EXPECT_TRUE(fs::exists(dir / "audit/units" / fmt::format("{}.png", i))) << i;
    units.insert(csv_fields(rows[i]).at(2));
    EXPECT_NE(rows[i].find(",visual.layer4,"), std::string::npos) << rows[i];
    EXPECT_TRUE(rows[i].ends_with(",,")) << rows[i];  // interpretable and notes left to fill in
  }
  EXPECT_EQ(units.size(), 6u);
  std::ifstream html(dir / "audit/sheet.html");
  const std::string page((std::istreambuf_iterator<char>(html)), std::istreambuf_iterator<char>());
  EXPECT_NE(page.find("units/6.png"), std::string::npos);
  // Filled in, then scored.
  std::string filled = rows[0] + "\n";
  for (size_t i = 1; i < rows.size(); ++i)
    filled += rows[i].substr(0, rows[i].size() - 2) + (i <= 4 ? ",y,\n" : ",n,\n");
  testing::write_file(dir / "filled.csv", filled);
  r = testing::run_clipscope({"audit", "--score", (dir / "filled.csv").string()});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("interpretable: 4 of 6 units = 66.7 %"), std::string::npos) << r.out;
  testing::expect_one_line_error(
      testing::run_clipscope({"audit", "--atlas", (dir / "atlas").string(), "-n", "999", "-o", (dir / "a3").string()}),
      "--n 999: more than the 512 units");
  testing::expect_one_line_error(testing::run_clipscope({"audit", "--atlas", (dir / "atlas").string()}), "--out");
}

}  // namespace
}  // namespace clipscope::labels
