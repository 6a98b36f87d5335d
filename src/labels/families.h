#pragma once
// Unit families (the article's neuron families): a unit is regional, emotion, person-like,
// lexical (text) or other by the words that describe it — its top words in the atlas's
// word database (issue 6; the article's way: "all top-5 words geographic") or its stored
// CLIP-Dissect labels (clipscope label). The share of regional units reproduces the
// article's statistic for the atlas's model. Which words are geographic, emotional or
// about people comes from data Debian and ../shared provide (FamilyLexicon below), not
// from hand-made lists.
#include <array>
#include <cstdint>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "labels/label_atlas.h"

namespace clipscope::labels {

enum class Family { Regional, Emotion, Person, Lexical, Other };
inline constexpr std::array<Family, 5> kFamilies{Family::Regional, Family::Emotion, Family::Person, Family::Lexical,
                                                 Family::Other};
std::string family_name(Family family);        // regional emotion person lexical other
Family parse_family(const std::string& name);  // throws ArgumentError naming "family"

// Where the word families come from; empty paths are skipped.
struct LexiconSources {
  std::filesystem::path wordnet = "/usr/share/wordnet";  // Debian's wordnet-base
  std::filesystem::path feeling_wheel;                   // ../shared/data/words/feeling_wheel.tsv
  std::filesystem::path places;             // the article's paper_regional_geo.json (countries and 620 cities)
  std::filesystem::path countries_geojson;  // Natural Earth: names, continents, UN regions and subregions
  // The defaults: WordNet from Debian, the rest from ../shared when present.
  static LexiconSources defaults();
};

// Lower-case words and their family (regional, emotion or person). The rules
// (docs/labels.md):
//  - regional: every country, city, continent and region name of the place files and of
//    ICU's English region names (territories, continents, subcontinents), plus WordNet
//    lemmas whose most frequent noun sense is a named place (an instance in noun.location)
//    and that are neither adjectives nor verbs ("nice" is not),
//    and demonyms: lemmas whose most frequent adjective sense pertains to such a place
//    ("french"), or whose most frequent noun sense is "a native or inhabitant of" one;
//  - emotion: the feeling wheel's words, and lemmas whose most frequent noun sense is in
//    noun.feeling (not already regional);
//  - person: lemmas whose most frequent noun sense is in noun.person (not already regional
//    or emotion).
class FamilyLexicon {
 public:
  static FamilyLexicon build(const LexiconSources& sources, const std::vector<std::string>& words);
  // The family of a word (any case); nullopt for a word of none.
  std::optional<Family> family_of(const std::string& word) const;
  int64_t count(Family family) const;  // words of the family among those classified

 private:
  std::unordered_map<std::string, Family> families_;
};

// Where a unit's describing words come from.
enum class WordSource { Words, Labels };
std::string word_source_name(WordSource source);  // "words" (the word database) | "labels" (CLIP-Dissect)

struct FamilyOptions {
  std::vector<std::string> layers;   // empty: every layer with words of the source
  std::optional<WordSource> source;  // empty: the word database where it has the layer, else labels
  Method label_method = Method::SoftWpmi;
  int top = 5;        // words per unit
  int min_words = 3;  // a unit joins a family with at least this many of its top words in it
  LexiconSources lexicon = LexiconSources::defaults();
};

struct UnitFamily {
  int64_t unit = 0;
  Family family = Family::Other;
  std::vector<std::string> words;  // its top words, best first
  int regional_words = 0;          // how many of them are geographic
  std::string lexical;             // a lexical unit's shared spelling
};

struct LayerFamilies {
  std::string layer;
  WordSource source = WordSource::Words;
  std::vector<UnitFamily> units;
  // Regional shares at the article's strict rule (all top words geographic) and looser ones.
  double regional_all = 0, regional_all_but_one = 0, regional_majority = 0;
  // With both sources: how often the word database's top word is among the unit's
  // CLIP-Dissect labels, and the same for units paired at random (chance); -1 without both.
  double agreement = -1, agreement_chance = -1;
  int64_t agreement_units = 0;
  int64_t count(Family family) const;
  nlohmann::json to_json() const;
};

// One unit's family from its top words: lexical when `lexical` (its shared spelling) is not
// empty, else the family (regional before emotion before person on a tie) with the most of
// the words if it has at least `min_words`, else other.
UnitFamily classify_unit(int64_t unit, std::vector<std::string> words, const std::string& lexical,
                         const FamilyLexicon& lexicon, int min_words);

// How often a unit's top word (word_top[u][0]) is among its labels (label_top[u]), over the
// units that have both, and the mean of the same over `shuffles` random pairings of those
// units (chance).
struct Agreement {
  double share = -1, chance = -1;
  int64_t units = 0;
};
Agreement label_agreement(const std::vector<std::vector<std::string>>& word_top,
                          const std::vector<std::vector<std::string>>& label_top, int shuffles = 20, uint64_t seed = 0);

// The library entry point: classifies every unit of the options' layers and stores the
// families in the atlas (table unit_families, replacing the layer's earlier run). Throws
// ArgumentError naming "layers" when a layer has neither words nor labels.
std::vector<LayerFamilies> classify_units(const std::filesystem::path& atlas_dir, const FamilyOptions& options = {});

// The stored families of a layer's units (only `unit`'s when given), from an open atlas
// database (serve's connection), and one unit's from the atlas's folder (nullopt when
// not classified).
std::map<int64_t, UnitFamily> stored_families(SQLite::Database& db, const std::string& layer,
                                              std::optional<int64_t> unit = std::nullopt);
std::optional<UnitFamily> stored_family(const std::filesystem::path& atlas_dir, const std::string& layer, int64_t unit);

}  // namespace clipscope::labels
