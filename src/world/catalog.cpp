#include "world/catalog.h"

#include <fmt/format.h>
#include <unicode/locid.h>
#include <unicode/region.h>
#include <unicode/unistr.h>
#include <nlohmann/json.hpp>
#include "core/text/feeling_wheel.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <mutex>
#include <numbers>
#include <set>
#include <sstream>

#include "core/raster/emoji.h"
#include "core/text/feeling_wheel.h"
#include "core/util/csv.h"
#include "core/util/error.h"
#include "core/util/strings.h"
#include "world/concepts.h"

#ifndef CLIPSCOPE_SOURCE_DIR
#define CLIPSCOPE_SOURCE_DIR "."
#endif

namespace clipscope::world {
namespace {

std::string lower(const std::string& utf8) {
  std::string out;
  icu::UnicodeString::fromUTF8(utf8).toLower(icu::Locale::getEnglish()).toUTF8String(out);
  // CLDR writes the typographic apostrophe and quotes; captions use ASCII ones.
  for (const auto& [from, to] :
       {std::pair<std::string, std::string>{"\u2019", "'"}, {"\u201c", "\""}, {"\u201d", "\""}}) {
    for (size_t at; (at = out.find(from)) != std::string::npos;) out.replace(at, from.size(), to);
  }
  return out;
}

std::ifstream open_text(const std::filesystem::path& path, const char* what) {
  std::ifstream in(path);
  if (!in)
    throw Error(fmt::format("{} {}: cannot be read ({})", what, path.string(), "is the Debian package installed?"));
  return in;
}

std::string encode_utf8(char32_t cp) {
  std::string out;
  icu::UnicodeString(static_cast<UChar32>(cp)).toUTF8String(out);
  return out;
}

// The family of an emoji from its emoji-test.txt group and subgroup ("" = left out).
std::string family_of(const std::string& group, const std::string& subgroup) {
  if (group == "Component" || subgroup == "keycap" || subgroup == "alphanum" || subgroup == "subdivision-flag")
    return "";
  if (subgroup.starts_with("face-")) return "faces";
  if (subgroup == "cat-face" || subgroup == "monkey-face" || subgroup.starts_with("animal-")) return "animals";
  if (subgroup == "heart" || subgroup == "emotion") return "symbols";
  if (group == "People & Body") return subgroup.starts_with("hand") || subgroup == "body-parts" ? "body" : "people";
  if (subgroup.starts_with("plant-")) return "plants";
  if (group == "Food & Drink") return subgroup == "dishware" ? "objects" : "food";
  if (subgroup == "place-religious" || subgroup == "religion" || subgroup == "zodiac") return "religions";
  if (group == "Travel & Places") {
    if (subgroup.starts_with("transport-")) return "vehicles";
    if (subgroup == "time") return "time";
    if (subgroup == "sky & weather") return "weather";
    return "places";
  }
  if (group == "Activities") {
    if (subgroup == "event") return "holidays";
    if (subgroup == "sport" || subgroup == "award-medal") return "sports";
    return "games";
  }
  if (group == "Objects") {
    if (subgroup == "clothing") return "clothing";
    if (subgroup == "music" || subgroup == "musical-instrument" || subgroup == "sound") return "music";
    if (subgroup == "tool" || subgroup == "science" || subgroup == "medical") return "tools";
    return "objects";
  }
  if (group == "Symbols") return "symbols";
  if (subgroup == "country-flag") return "regions";
  return "symbols";  // the other flags (chequered, pirate, rainbow...)
}

// The feeling wheel's core emotion a face emoji shows, read off its CLDR name.
std::string emotion_of(const std::string& name) {
  static const std::vector<std::pair<std::string, std::vector<std::string>>> kKeywords = {
      {"angry", {"angry", "enraged", "pouting", "symbols on mouth", "steam from nose"}},
      {"disgusted", {"nauseated", "vomiting", "unamused", "raised eyebrow", "confounded"}},
      {"fearful", {"fearful", "anxious", "screaming", "worried", "grimacing", "cold sweat", "anguished"}},
      {"sad",
       {"crying", "sad", "pensive", "disappointed", "frowning", "pleading", "holding back tears", "persevering",
        "downcast"}},
      {"surprised", {"astonished", "open mouth", "hushed", "exploding head", "flushed", "star-struck", "confused"}},
      {"bad",
       {"tired", "sleepy", "sleeping", "yawning", "weary", "rolling eyes", "expressionless", "neutral face", "dizzy",
        "exhaling"}},
      {"happy",
       {"grinning", "smiling", "joy", "laughing", "beaming", "partying", "winking", "hugging", "relieved", "kissing",
        "heart-eyes", "hearts"}},
  };
  for (const auto& [emotion, keywords] : kKeywords)
    for (const auto& k : keywords)
      if (name.find(k) != std::string::npos) return emotion;
  return "";
}

std::string continent_of(const std::string& code) {
  UErrorCode status = U_ZERO_ERROR;
  const icu::Region* region = icu::Region::getInstance(code.c_str(), status);
  if (U_FAILURE(status) || !region || region->getType() != URGN_TERRITORY) return "";
  const icu::Region* continent = region->getContainingRegion(URGN_CONTINENT);
  if (!continent) return "";
  const std::string c = continent->getRegionCode();
  if (c == "002") return "africa";
  if (c == "142") return "asia";
  if (c == "150") return "europe";
  if (c == "009") return "oceania";
  if (c == "019") {
    const icu::Region* sub = region->getContainingRegion(URGN_SUBCONTINENT);
    return sub && std::string(sub->getRegionCode()) == "005" ? "south america" : "north america";
  }
  return "";
}

std::string country_name(const std::string& code) {
  icu::UnicodeString name;
  icu::Locale("", code.c_str()).getDisplayCountry(icu::Locale::getEnglish(), name);
  std::string out;
  name.toUTF8String(out);
  return out == code ? "" : out;
}

// ISO alpha-2 of a geojson feature (Natural Earth writes -99 for a few).
std::string feature_code(const nlohmann::json& p) {
  for (const char* key : {"ISO_A2", "WB_A2"}) {
    const auto it = p.find(key);
    if (it != p.end() && it->is_string() && it->get<std::string>().size() == 2) return it->get<std::string>();
  }
  // France's and Norway's ISO_A2 are -99 in Natural Earth; ICU maps their alpha-3.
  const auto a3 = p.find("ADM0_A3");
  if (a3 != p.end() && a3->is_string()) {
    UErrorCode status = U_ZERO_ERROR;
    const icu::Region* region = icu::Region::getInstance(a3->get<std::string>().c_str(), status);
    if (U_SUCCESS(status) && region && region->getType() == URGN_TERRITORY) return region->getRegionCode();
  }
  return "";
}

Silhouette project(const nlohmann::json& geometry, const std::string& where) {
  std::vector<std::vector<std::array<double, 2>>> rings;  // lon, lat
  auto read_polygon = [&](const nlohmann::json& polygon) {
    for (const auto& ring : polygon) {
      std::vector<std::array<double, 2>> r;
      for (const auto& p : ring) r.push_back({p.at(0).get<double>(), p.at(1).get<double>()});
      if (r.size() >= 3) rings.push_back(std::move(r));
    }
  };
  const std::string type = geometry.at("type").get<std::string>();
  if (type == "Polygon")
    read_polygon(geometry.at("coordinates"));
  else if (type == "MultiPolygon")
    for (const auto& polygon : geometry.at("coordinates")) read_polygon(polygon);
  else
    throw Error(fmt::format("{}: geometry type {} is not a polygon", where, type));
  if (rings.empty()) throw Error(fmt::format("{}: no polygon", where));
  // Countries across the antimeridian (Russia, Fiji): move the western part east.
  double lon_min = 1e9, lon_max = -1e9;
  for (const auto& r : rings)
    for (const auto& p : r) lon_min = std::min(lon_min, p[0]), lon_max = std::max(lon_max, p[0]);
  if (lon_max - lon_min > 180)
    for (auto& r : rings)
      for (auto& p : r)
        if (p[0] < 0) p[0] += 360;
  double x0 = 1e9, x1 = -1e9, y0 = 1e9, y1 = -1e9;
  for (const auto& r : rings)
    for (const auto& p : r) y0 = std::min(y0, p[1]), y1 = std::max(y1, p[1]);
  const double k = std::cos((y0 + y1) / 2 * std::numbers::pi / 180);
  for (auto& r : rings)
    for (auto& p : r) {
      p = {p[0] * k, -p[1]};
      x0 = std::min(x0, p[0]), x1 = std::max(x1, p[0]);
    }
  y0 = 1e9, y1 = -1e9;
  for (const auto& r : rings)
    for (const auto& p : r) y0 = std::min(y0, p[1]), y1 = std::max(y1, p[1]);
  const double scale = 2 / std::max({x1 - x0, y1 - y0, 1e-9}), cx = (x0 + x1) / 2, cy = (y0 + y1) / 2;
  Silhouette s;
  for (auto& r : rings) {
    for (auto& p : r) p = {(p[0] - cx) * scale, (p[1] - cy) * scale};
    s.rings.push_back(std::move(r));
  }
  return s;
}

}  // namespace

const char* modality_name(Modality m) {
  switch (m) {
    case Modality::Emoji:
      return "emoji";
    case Modality::Flag:
      return "flag";
    case Modality::Silhouette:
      return "silhouette";
    case Modality::Written:
      return "written";
    case Modality::Drawn:
      return "drawn";
  }
  return "?";
}

std::vector<Modality> Concept::modalities() const {
  std::vector<Modality> m;
  if (family == "regions")
    m.push_back(Modality::Flag);
  else if (!emoji.empty())
    m.push_back(Modality::Emoji);
  else
    m.push_back(Modality::Drawn);
  if (silhouette >= 0) m.push_back(Modality::Silhouette);
  m.push_back(Modality::Written);
  return m;
}

std::string concepts_csv(const Catalog& catalog) {
  std::string out = "id,name,family,modalities,region,continent,emotion\n";
  for (const Concept& c : catalog.concepts()) {
    std::string modalities;
    for (const Modality m : c.modalities())
      modalities += (modalities.empty() ? "" : "+") + std::string(modality_name(m));
    out += fmt::format("{},{},{},{},{},{},{}\n", c.id, csv_field(c.name), csv_field(c.family), modalities, c.region,
                       csv_field(c.continent), csv_field(c.emotion));
  }
  return out;
}

void Catalog::add(Concept c) {
  if (c.name.empty() || by_name_.contains(c.name)) return;
  c.id = static_cast<int>(concepts_.size());
  if (!by_family_.contains(c.family)) families_.push_back(c.family);
  by_family_[c.family].push_back(c.id);
  by_name_[c.name] = c.id;
  if (!c.emoji.empty()) emoji_.push_back(c.id);
  if (c.silhouette >= 0) silhouetted_.push_back(c.id);
  if (!c.continent.empty()) continents_[c.continent].push_back(c.id);
  concepts_.push_back(std::move(c));
}

Catalog::Catalog(const std::filesystem::path& emoji_test, const std::filesystem::path& emoji_font,
                 const std::filesystem::path& words, const std::filesystem::path& countries_geojson,
                 const std::filesystem::path& feeling_wheel) {
  // The feeling wheel: core emotions and their words (a word under two cores is left out).
  std::map<std::string, std::string> word_emotion;
  std::set<std::string> ambiguous;
  const bool have_wheel = !feeling_wheel.empty() && std::filesystem::exists(feeling_wheel);
  if (have_wheel) {
    for (const FeelingWord& w : read_feeling_wheel(feeling_wheel)) {
      if (w.level == 0) {
        emotion_names_.push_back(w.core);
        emotion_words_[w.core].push_back(w.core);
      } else {
        if (word_emotion.contains(w.word) && word_emotion[w.word] != w.core) ambiguous.insert(w.word);
        word_emotion.emplace(w.word, w.core);
      }
    }
    for (const auto& [word, core] : word_emotion)
      if (!ambiguous.contains(word) && word != core) emotion_words_[core].push_back(word);
  } else {
    for (const char* core : {"fearful", "angry", "disgusted", "sad", "happy", "surprised", "bad"}) {
      emotion_names_.push_back(core);
      emotion_words_[core] = {core};
    }
  }

  for (const auto& [core, words] : emotion_words_)
    for (const auto& w : words) word_emotion_.emplace(w, core);

  // Drawn concepts of the first edition.
  for (const auto& c : colors()) add({.name = c.name, .family = "colors"});
  for (const auto& s : shapes()) add({.name = s, .family = "shapes"});

  // Country silhouettes by ISO code.
  std::map<std::string, int> silhouette_of;
  if (!countries_geojson.empty() && std::filesystem::exists(countries_geojson)) {
    auto in = open_text(countries_geojson, "countries");
    nlohmann::json doc;
    try {
      doc = nlohmann::json::parse(in);
      for (const auto& f : doc.at("features")) {
        const std::string code = feature_code(f.at("properties"));
        if (code.empty() || silhouette_of.contains(code)) continue;
        silhouette_of[code] = static_cast<int>(silhouettes_.size());
        silhouettes_.push_back(project(f.at("geometry"), countries_geojson.string() + " " + code));
      }
    } catch (const nlohmann::json::exception& e) {
      throw Error(
          fmt::format("countries {}: not a GeoJSON feature collection ({})", countries_geojson.string(), e.what()));
    }
  }

  // The emoji, in emoji-test.txt's order.
  EmojiRasterizer font(emoji_font);
  auto in = open_text(emoji_test, "emoji list");
  std::string group, subgroup;
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("# group: ")) {
      group = line.substr(9);
      continue;
    }
    if (line.starts_with("# subgroup: ")) {
      subgroup = line.substr(12);
      continue;
    }
    if (line.empty() || line[0] == '#') continue;
    const size_t semi = line.find(';'), hash = line.find('#');
    if (semi == std::string::npos || hash == std::string::npos || hash < semi) continue;
    if (line.substr(semi + 1, hash - semi - 1).find("fully-qualified") == std::string::npos) continue;
    const std::string family = family_of(group, subgroup);
    if (family.empty()) continue;
    std::string sequence;
    std::vector<char32_t> cps;
    std::istringstream hex(line.substr(0, semi));
    for (std::string cp; hex >> cp;) {
      cps.push_back(static_cast<char32_t>(std::strtoul(cp.c_str(), nullptr, 16)));
      sequence += encode_utf8(cps.back());
    }
    // "# 😀 E1.0 grinning face": the name follows the version.
    const std::string comment = line.substr(hash + 1);
    const size_t version = comment.find(" E");
    if (version == std::string::npos) continue;
    const size_t name_at = comment.find(' ', version + 2);
    if (name_at == std::string::npos) continue;
    std::string name = lower(comment.substr(name_at + 1));
    Concept c{.family = family, .emoji = sequence};
    if (family == "regions") {
      if (cps.size() != 2) continue;
      for (char32_t cp : cps) c.region += static_cast<char>('A' + (cp - 0x1F1E6));
      c.continent = continent_of(c.region);
      const std::string icu_name = country_name(c.region);
      if (c.continent.empty() || icu_name.empty()) continue;  // EU, UN: not territories
      c.name = lower(icu_name);
      if (auto it = silhouette_of.find(c.region); it != silhouette_of.end()) c.silhouette = it->second;
    } else {
      // Skin tones, hair styles, families and kisses (variants of another emoji, "x: y"),
      // and gendered variants of a person emoji.
      if (name.find(':') != std::string::npos) continue;
      const auto first = name.substr(0, name.find(' '));
      if (name.find(' ') != std::string::npos &&
          (first == "man" || first == "woman" || first == "men" || first == "women"))
        continue;
      c.name = name;
      if (family == "faces") {
        c.emotion = emotion_of(name);
        if (!c.emotion.empty()) c.family = "emotions";
      }
    }
    if (!font.has(sequence)) continue;
    add(std::move(c));
  }

  // Everyday words: a fixed, evenly spaced selection of wamerican's plain words.
  std::vector<std::string> plain;
  {
    auto w = open_text(words, "word list");
    for (std::string word; std::getline(w, word);) {
      if (word.size() < 3 || word.size() > 10) continue;
      if (!std::all_of(word.begin(), word.end(), [](char ch) { return ch >= 'a' && ch <= 'z'; })) continue;
      if (by_name_.contains(word) || word_emotion.contains(word) || emotion_words_.contains(word)) continue;
      plain.push_back(word);
    }
  }
  const size_t wanted = 3000, step = std::max<size_t>(1, plain.size() / wanted);
  for (size_t i = 0; i < plain.size() && other_words_.size() < wanted; i += step) other_words_.push_back(plain[i]);

  // Frequency ranks: FNV-1a of the name (the same on every machine).
  auto fnv = [](const std::string& text) {
    uint64_t h = 1469598103934665603ULL;
    for (unsigned char ch : text) h = (h ^ ch) * 1099511628211ULL;
    return h;
  };
  for (const Concept& c : concepts_) by_frequency_.push_back(c.id);
  std::sort(by_frequency_.begin(), by_frequency_.end(), [&](int a, int b) {
    return fnv(concepts_[static_cast<size_t>(a)].name) < fnv(concepts_[static_cast<size_t>(b)].name);
  });

  sources_ = fmt::format(
      "{} concepts in {} families ({} emoji, {} regions, {} with silhouettes), {} other words, "
      "emotion words from {}",
      concepts_.size(), families_.size(), emoji_.size(), family("regions").size(), silhouetted_.size(),
      other_words_.size(), have_wheel ? "the feeling wheel" : "the core emotion names only");
}

const std::vector<int>& Catalog::family(const std::string& name) const {
  static const std::vector<int> kNone;
  const auto it = by_family_.find(name);
  return it == by_family_.end() ? kNone : it->second;
}

const Concept* Catalog::find(const std::string& name) const {
  const auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : &concepts_[static_cast<size_t>(it->second)];
}

const Concept& Catalog::named(const std::string& name) const {
  if (const Concept* c = find(name)) return *c;
  throw Error(fmt::format("concept '{}': not a concept of the world", name));
}

const std::vector<std::string>& Catalog::emotion_words(const std::string& emotion) const {
  const auto it = emotion_words_.find(emotion);
  if (it == emotion_words_.end())
    throw Error(fmt::format("emotion '{}': not a core emotion of the feeling wheel", emotion));
  return it->second;
}

const std::string& Catalog::emotion_of_word(const std::string& word) const {
  static const std::string none;
  const auto it = word_emotion_.find(word);
  return it == word_emotion_.end() ? none : it->second;
}

std::string Catalog::describe() const { return sources_; }

std::filesystem::path shared_data_file(const std::string& relative) {
  std::vector<std::filesystem::path> roots;
  if (const char* env = std::getenv("CLIPSCOPE_SHARED"); env && *env) roots.emplace_back(env);
  roots.emplace_back(std::filesystem::path(CLIPSCOPE_SOURCE_DIR) / ".." / "shared");
  for (const auto& root : roots) {
    std::error_code ec;
    if (std::filesystem::is_regular_file(root / relative, ec)) return root / relative;
  }
  return {};
}

const RgbaImage& emoji_picture(int concept_id, double side) {
  const Catalog& cat = catalog();
  const size_t n = cat.concepts().size();
  if (concept_id < 0 || static_cast<size_t>(concept_id) >= n ||
      cat.concepts()[static_cast<size_t>(concept_id)].emoji.empty())
    throw Error(fmt::format("concept id {}: has no emoji to draw", concept_id));
  static std::vector<std::once_flag> once(2 * n);
  static std::vector<RgbaImage> pictures(2 * n);
  const size_t large = side > 72 ? 1 : 0, slot = large * n + static_cast<size_t>(concept_id);
  std::call_once(once[slot], [&] {
    thread_local std::unique_ptr<EmojiRasterizer> font;
    if (!font) font = std::make_unique<EmojiRasterizer>();
    pictures[slot] = font->render(cat.concepts()[static_cast<size_t>(concept_id)].emoji, large ? 128 : 64);
  });
  return pictures[slot];
}

const Catalog& catalog() {
  static const Catalog kCatalog("/usr/share/unicode/emoji/emoji-test.txt", "", "/usr/share/dict/american-english",
                                shared_data_file("data/maps/ne_110m_admin_0_countries.geojson"),
                                shared_data_file("data/words/feeling_wheel.tsv"));
  return kCatalog;
}

}  // namespace clipscope::world
