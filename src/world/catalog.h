#pragma once
// The concepts of the world's second edition, built from data Debian ships:
// the colour emoji of fonts-noto-color-emoji with their CLDR short names
// (unicode-data's emoji-test.txt), countries from the flag emoji with their
// English names and continents from ICU, country silhouettes from Natural
// Earth's polygons and emotion words from the article's feeling wheel (both in
// ../shared when present), everyday words from wamerican, and the drawn colours,
// shapes and faces of the first edition. Loaded once per process; every
// analysis checked on the demo model refers to these names.
#include <array>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "core/raster/emoji.h"

namespace clipscope::world {

// How a concept is shown.
enum class Modality { Emoji, Flag, Silhouette, Written, Drawn };
const char* modality_name(Modality modality);  // "emoji", "flag", "silhouette", "written", "drawn"

// A country outline: rings of (x, y) in a unit box centred on (0, 0), y down,
// aspect kept (an equal-area-ish projection: longitude scaled by cos(latitude)).
struct Silhouette {
  std::vector<std::vector<std::array<double, 2>>> rings;  // even-odd filled
};

struct Concept {
  int id = -1;            // index in Catalog::concepts()
  std::string name;       // what captions call it: "grinning face", "japan", "red"
  std::string family;     // "animals", "food", "regions", "emotions", "colors", ... (Catalog::families())
  std::string emoji;      // the UTF-8 sequence drawn for it; empty for drawn concepts
  std::string region;     // regions: ISO 3166-1 alpha-2 ("JP")
  std::string continent;  // regions: "africa", "asia", "europe", "north america", "south america", "oceania"
  std::string emotion;    // faces with a feeling: the feeling wheel's core emotion ("happy", "sad", ...)
  int silhouette = -1;    // regions: index in Catalog::silhouettes(), -1 without one
  std::vector<Modality> modalities() const;  // the ways the world shows it (Written always)
};

class Catalog {
 public:
  // Reads the system files (throws Error naming the first one that is missing);
  // countries_geojson and feeling_wheel may be empty or absent, and then regions
  // have no silhouettes and emotions are named by the wheel's core words only.
  Catalog(const std::filesystem::path& emoji_test, const std::filesystem::path& emoji_font,
          const std::filesystem::path& words, const std::filesystem::path& countries_geojson,
          const std::filesystem::path& feeling_wheel);

  const std::vector<Concept>& concepts() const { return concepts_; }
  const std::vector<std::string>& families() const { return families_; }
  // Concept ids of a family, and of the concepts shown as emoji (any family).
  const std::vector<int>& family(const std::string& name) const;
  const std::vector<int>& emoji_concepts() const { return emoji_; }
  const std::vector<int>& regions_with_silhouettes() const { return silhouetted_; }
  // Every concept id in a fixed pseudo-random order (a hash of the name): the
  // frequency ranks of WorldOptions::zipf_names, the most frequent first.
  const std::vector<int>& by_frequency() const { return by_frequency_; }
  const Concept& named(const std::string& name) const;  // throws Error for unknown names
  const Concept* find(const std::string& name) const;   // nullptr for unknown names
  const std::vector<Silhouette>& silhouettes() const { return silhouettes_; }
  // Everyday words that are not concept names (distractor text).
  const std::vector<std::string>& other_words() const { return other_words_; }
  // The feeling wheel's core emotions and, for each, its words (the core word first).
  const std::vector<std::string>& emotions() const { return emotion_names_; }
  const std::vector<std::string>& emotion_words(const std::string& emotion) const;
  // The core emotion a feeling wheel word belongs to ("joyful" -> "happy"), empty
  // for other words.
  const std::string& emotion_of_word(const std::string& word) const;
  // The continents of the regions, and the region concept ids of each.
  const std::map<std::string, std::vector<int>>& continents() const { return continents_; }
  // Which optional sources were found (for a run's fingerprint and the model card).
  std::string describe() const;

 private:
  void add(Concept c);

  std::vector<Concept> concepts_;
  std::vector<std::string> families_;
  std::map<std::string, std::vector<int>> by_family_;
  std::map<std::string, int> by_name_;
  std::vector<int> emoji_, silhouetted_, by_frequency_;
  std::vector<Silhouette> silhouettes_;
  std::vector<std::string> other_words_;
  std::vector<std::string> emotion_names_;
  std::map<std::string, std::vector<std::string>> emotion_words_;
  std::map<std::string, std::string> word_emotion_;
  std::map<std::string, std::vector<int>> continents_;
  std::string sources_;
};

// The catalog from the standard places: /usr/share/unicode/emoji/emoji-test.txt,
// the Noto Color Emoji font, /usr/share/dict/american-english, and
// <shared>/data/maps/ne_110m_admin_0_countries.geojson and
// <shared>/data/words/feeling_wheel.tsv, where <shared> is $CLIPSCOPE_SHARED or
// the ../shared beside the source tree. Built on first use.
const Catalog& catalog();

// The catalog as CSV (the model card's concept list), one concept per line:
// id,name,family,modalities,region,continent,emotion; modalities joined by '+'
// ("flag+silhouette+written").
std::string concepts_csv(const Catalog& catalog);

// The concept's emoji as a premultiplied RGBA picture whose larger side is 64 px
// (128 px when `side` asks for more than 72), rendered once per process and
// shared by all threads. Throws Error for concepts without an emoji.
const RgbaImage& emoji_picture(int concept_id, double side = 64);

// <shared>/relative when that file exists, else empty.
std::filesystem::path shared_data_file(const std::string& relative);

}  // namespace clipscope::world
