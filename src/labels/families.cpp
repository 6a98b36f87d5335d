#include "labels/families.h"

#include <SQLiteCpp/Statement.h>
#include <fmt/format.h>
#include <unicode/locid.h>
#include <unicode/region.h>
#include <unicode/strenum.h>
#include <unicode/unistr.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <random>
#include <set>

#include "atlas/atlas.h"
#include "core/text/feeling_wheel.h"
#include "core/text/wordnet.h"
#include "core/util/error.h"
#include "core/util/sqlite.h"
#include "core/util/strings.h"
#include "words/database.h"
#include "words/wordvec.h"
#include "world/catalog.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace clipscope::labels {

namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS unit_families (
  layer TEXT NOT NULL,
  unit INTEGER NOT NULL,
  family TEXT NOT NULL,
  source TEXT NOT NULL,
  words TEXT NOT NULL,
  regional_words INTEGER NOT NULL,
  lexical TEXT NOT NULL,
  PRIMARY KEY (layer, unit)
);
CREATE INDEX IF NOT EXISTS unit_families_family ON unit_families(layer, family);
)sql";

std::string utf8(const icu::UnicodeString& s) {
  std::string out;
  s.toUTF8String(out);
  return out;
}

// ICU's English names of every territory, continent and subcontinent ("france",
// "western africa", "south america").
void add_icu_regions(std::set<std::string>& out) {
  for (const URegionType type : {URGN_TERRITORY, URGN_CONTINENT, URGN_SUBCONTINENT}) {
    UErrorCode status = U_ZERO_ERROR;
    std::unique_ptr<icu::StringEnumeration> codes(icu::Region::getAvailable(type, status));
    if (U_FAILURE(status) || !codes) continue;
    while (const char* code = codes->next(nullptr, status)) {
      if (U_FAILURE(status)) break;
      icu::UnicodeString name;
      icu::Locale("", code).getDisplayCountry(icu::Locale::getEnglish(), name);
      const std::string n = lower_ascii(utf8(name));
      if (!n.empty() && n != lower_ascii(code)) out.insert(n);
    }
  }
}

// Names from the article's place file ({"countries": [features], "cities": [{name}]}) or a
// GeoJSON feature collection (NAME, NAME_LONG, ADMIN, CONTINENT, REGION_UN, SUBREGION).
void add_place_names(const fs::path& file, std::set<std::string>& out) {
  if (file.empty() || !fs::exists(file)) return;
  std::ifstream in(file);
  json j;
  try {
    in >> j;
  } catch (const json::exception& e) {
    throw Error(fmt::format("{}: not JSON ({})", file.string(), first_line(e.what())));
  }
  const auto add = [&](const json& v) {
    if (v.is_string() && !v.get<std::string>().empty()) out.insert(lower_ascii(v.get<std::string>()));
  };
  const auto features = [&](const json& list) {
    if (!list.is_array()) return;
    for (const auto& f : list) {
      const json& p = f.contains("properties") ? f["properties"] : f;
      for (const char* key : {"name", "NAME", "NAME_LONG", "ADMIN", "CONTINENT", "REGION_UN", "SUBREGION"})
        if (p.contains(key)) add(p[key]);
    }
  };
  if (j.is_object() && j.contains("features")) features(j["features"]);
  if (j.is_object() && j.contains("countries")) features(j["countries"]);
  if (j.is_object() && j.contains("cities")) features(j["cities"]);
}

bool starts_with_any(const std::string& s, std::initializer_list<std::string_view> prefixes) {
  return std::any_of(prefixes.begin(), prefixes.end(), [&](std::string_view p) { return s.rfind(p, 0) == 0; });
}

}  // namespace

std::string family_name(Family family) {
  switch (family) {
    case Family::Regional:
      return "regional";
    case Family::Emotion:
      return "emotion";
    case Family::Person:
      return "person";
    case Family::Lexical:
      return "lexical";
    case Family::Other:
      break;
  }
  return "other";
}

Family parse_family(const std::string& name) {
  for (const Family f : kFamilies)
    if (family_name(f) == name) return f;
  throw ArgumentError("family", name, "expected regional, emotion, person, lexical or other");
}

std::string word_source_name(WordSource source) { return source == WordSource::Words ? "words" : "labels"; }

LexiconSources LexiconSources::defaults() {
  LexiconSources s;
  s.feeling_wheel = world::shared_data_file("data/words/feeling_wheel.tsv");
  s.places = world::shared_data_file("data/maps/paper_regional_geo.json");
  s.countries_geojson = world::shared_data_file("data/maps/ne_110m_admin_0_countries.geojson");
  return s;
}

FamilyLexicon FamilyLexicon::build(const LexiconSources& sources, const std::vector<std::string>& words) {
  std::set<std::string> places, feelings;
  add_icu_regions(places);
  add_place_names(sources.places, places);
  add_place_names(sources.countries_geojson, places);
  if (!sources.feeling_wheel.empty() && fs::exists(sources.feeling_wheel))
    for (const auto& w : distinct_feeling_words(read_feeling_wheel(sources.feeling_wheel))) feelings.insert(w.word);

  std::optional<wordnet::WordNet> wn;
  if (!sources.wordnet.empty()) wn.emplace(sources.wordnet);
  // A noun synset that names a place: an instance of something in noun.location.
  const auto named_place = [&](int64_t offset) {
    const auto& s = wn->synset(wordnet::Pos::Noun, offset);
    return s.lex_file == wordnet::kNounLocation && s.is_instance();
  };
  FamilyLexicon lexicon;
  for (const auto& raw : words) {
    const std::string word = lower_ascii(trim(raw));
    if (word.empty() || lexicon.families_.count(word)) continue;
    std::optional<Family> family;
    if (places.count(word)) family = Family::Regional;
    std::vector<int64_t> nouns, adjectives;
    if (wn) {
      nouns = wn->senses(wordnet::Pos::Noun, word);
      adjectives = wn->senses(wordnet::Pos::Adj, word);
    }
    if (!family && !nouns.empty()) {
      const auto& first = wn->synset(wordnet::Pos::Noun, nouns[0]);
      // A named place by WordNet alone only when the word is nothing else ("nice" is an
      // adjective before it is a city in France).
      if (named_place(nouns[0]) && adjectives.empty() && wn->senses(wordnet::Pos::Verb, word).empty())
        family = Family::Regional;
      // Demonyms as nouns: "a native or inhabitant of Australia".
      else if (first.lex_file == wordnet::kNounPerson &&
               starts_with_any(first.gloss, {"a native or inhabitant of", "a native or resident of", "an inhabitant of",
                                             "a native of"}))
        family = Family::Regional;
    }
    // Demonyms as adjectives: the first sense pertains to a named place ("french" -> France).
    if (!family && !adjectives.empty()) {
      for (const auto& p : wn->synset(wordnet::Pos::Adj, adjectives[0]).pointers)
        if (p.symbol == "\\" && p.pos == wordnet::Pos::Noun && named_place(p.offset)) family = Family::Regional;
    }
    if (!family && feelings.count(word)) family = Family::Emotion;
    if (!family && !nouns.empty()) {
      const int lex = wn->synset(wordnet::Pos::Noun, nouns[0]).lex_file;
      if (lex == wordnet::kNounFeeling)
        family = Family::Emotion;
      else if (lex == wordnet::kNounPerson)
        family = Family::Person;
    }
    if (family) lexicon.families_.emplace(word, *family);
  }
  return lexicon;
}

std::optional<Family> FamilyLexicon::family_of(const std::string& word) const {
  const auto it = families_.find(lower_ascii(trim(word)));
  if (it == families_.end()) return std::nullopt;
  return it->second;
}

int64_t FamilyLexicon::count(Family family) const {
  return std::count_if(families_.begin(), families_.end(), [&](const auto& e) { return e.second == family; });
}

UnitFamily classify_unit(int64_t unit, std::vector<std::string> words, const std::string& lexical,
                         const FamilyLexicon& lexicon, int min_words) {
  UnitFamily uf;
  uf.unit = unit;
  uf.words = std::move(words);
  std::map<Family, int> counts;
  for (const auto& w : uf.words)
    if (const auto f = lexicon.family_of(w)) ++counts[*f];
  uf.regional_words = counts[Family::Regional];
  if (!lexical.empty()) {
    uf.family = Family::Lexical;
    uf.lexical = lexical;
    return uf;
  }
  int best = 0;
  for (const Family f : {Family::Regional, Family::Emotion, Family::Person})
    if (counts[f] >= min_words && counts[f] > best) {
      best = counts[f];
      uf.family = f;
    }
  return uf;
}

Agreement label_agreement(const std::vector<std::vector<std::string>>& word_top,
                          const std::vector<std::vector<std::string>>& label_top, int shuffles, uint64_t seed) {
  Agreement a;
  std::vector<size_t> both;
  for (size_t u = 0; u < std::min(word_top.size(), label_top.size()); ++u)
    if (!word_top[u].empty() && !label_top[u].empty()) both.push_back(u);
  if (both.empty()) return a;
  const auto hit = [&](size_t word_unit, size_t label_unit) {
    const std::string w = lower_ascii(word_top[word_unit][0]);
    const auto& labels = label_top[label_unit];
    return std::any_of(labels.begin(), labels.end(), [&](const std::string& l) { return lower_ascii(l) == w; });
  };
  int64_t hits = 0, chance = 0;
  for (const size_t u : both) hits += hit(u, u);
  std::mt19937_64 rng(seed);
  std::vector<size_t> shuffled = both;
  for (int s = 0; s < shuffles; ++s) {
    std::shuffle(shuffled.begin(), shuffled.end(), rng);
    for (size_t i = 0; i < both.size(); ++i) chance += hit(both[i], shuffled[i]);
  }
  a.units = static_cast<int64_t>(both.size());
  a.share = static_cast<double>(hits) / static_cast<double>(both.size());
  a.chance = shuffles > 0 ? static_cast<double>(chance) / static_cast<double>(shuffles * both.size()) : -1;
  return a;
}

int64_t LayerFamilies::count(Family family) const {
  return std::count_if(units.begin(), units.end(), [&](const UnitFamily& u) { return u.family == family; });
}

json LayerFamilies::to_json() const {
  json families = json::object();
  for (const Family f : kFamilies) families[family_name(f)] = count(f);
  json j = {{"layer", layer},
            {"source", word_source_name(source)},
            {"units", units.size()},
            {"families", families},
            {"regional_share",
             {{"all", regional_all}, {"all_but_one", regional_all_but_one}, {"majority", regional_majority}}}};
  if (agreement >= 0)
    j["agreement"] = {{"units", agreement_units}, {"top_word_in_labels", agreement}, {"chance", agreement_chance}};
  return j;
}

std::vector<LayerFamilies> classify_units(const fs::path& atlas_dir, const FamilyOptions& o) {
  if (o.top < 1) throw ArgumentError("top", std::to_string(o.top), "must be positive");
  if (o.min_words < 1 || o.min_words > o.top)
    throw ArgumentError("min_words", std::to_string(o.min_words), fmt::format("must be from 1 to top ({})", o.top));
  const fs::path db_path = atlas_dir / atlas::kDatabaseName;
  if (!fs::exists(db_path)) throw ArgumentError("atlas", atlas_dir.string(), "no atlas here (atlas.db not found)");

  // The word database's sets by layer, and the labelled layers with their units.
  std::optional<words::WordDatabase> wdb;
  std::map<std::string, words::WordSet> sets;
  try {
    wdb.emplace(words::WordDatabase::open(atlas_dir));
    for (const auto& s : wdb->sets())
      if (s.status == "complete") sets.emplace(s.layer, s);
  } catch (const Error&) {
    wdb.reset();  // no word tables
  }
  std::map<std::string, std::map<int64_t, std::vector<UnitLabel>>> labelled;
  std::map<std::string, int64_t> layer_units;
  for (const auto& [layer, set] : sets) layer_units[layer] = set.units;
  {
    const auto at = atlas::Atlas::open(atlas_dir);
    for (const auto& l : at.layers()) {
      auto labels = stored_layer_labels(atlas_dir, l.name, o.label_method);
      if (!labels.empty()) labelled.emplace(l.name, std::move(labels));
      layer_units[l.name] = l.units;
    }
  }
  std::vector<std::string> layers = o.layers;
  if (layers.empty())
    for (const auto& [layer, units] : layer_units)
      if (sets.count(layer) || labelled.count(layer)) layers.push_back(layer);
  if (layers.empty())
    throw ArgumentError("atlas", atlas_dir.string(),
                        "has neither a word database (clipscope words build) nor labels (clipscope label)");

  std::vector<LayerFamilies> out;
  for (const auto& layer : layers) {
    const bool has_words = sets.count(layer) > 0, has_labels = labelled.count(layer) > 0;
    LayerFamilies lf;
    lf.layer = layer;
    lf.source = o.source.value_or(has_words ? WordSource::Words : WordSource::Labels);
    if (lf.source == WordSource::Words && !has_words)
      throw ArgumentError("layers", layer, "has no complete word set in the atlas's word database");
    if (lf.source == WordSource::Labels && !has_labels)
      throw ArgumentError("layers", layer,
                          fmt::format("has no stored labels by {} (run clipscope label)", method_name(o.label_method)));
    const int64_t units = layer_units.at(layer);

    // Each unit's top words, and the word database's lexical units.
    std::vector<std::vector<std::string>> top(static_cast<size_t>(units)), word_top(static_cast<size_t>(units));
    std::map<int64_t, std::string> lexical;
    if (has_words) {
      const auto& set = sets.at(layer);
      for (int64_t u = 0; u < units; ++u)
        for (const auto& w : wdb->unit_words(set, u, o.top)) word_top[static_cast<size_t>(u)].push_back(w.word);
      const auto [list, matrix] = wdb->matrix(set);
      for (const auto& l : words::find_lexical_units(list, matrix)) lexical[l.unit] = l.substring;
    }
    std::vector<std::vector<std::string>> label_top(static_cast<size_t>(units));
    if (has_labels)
      for (const auto& [u, labels] : labelled.at(layer))
        if (u >= 0 && u < units)
          for (size_t i = 0; i < labels.size() && static_cast<int>(i) < o.top; ++i)
            label_top[static_cast<size_t>(u)].push_back(labels[i].concept_name);
    top = lf.source == WordSource::Words ? word_top : label_top;

    std::vector<std::string> vocabulary;
    for (const auto& list : top) vocabulary.insert(vocabulary.end(), list.begin(), list.end());
    const FamilyLexicon lexicon = FamilyLexicon::build(o.lexicon, vocabulary);

    int64_t all = 0, all_but_one = 0, majority = 0, described = 0;
    for (int64_t u = 0; u < units; ++u) {
      const auto it = lexical.find(u);
      UnitFamily uf =
          classify_unit(u, top[static_cast<size_t>(u)], it == lexical.end() ? "" : it->second, lexicon, o.min_words);
      const auto n = static_cast<int>(uf.words.size());
      if (n > 0) {
        ++described;
        all += uf.regional_words == n;
        all_but_one += uf.regional_words >= n - 1 && n > 1;
        majority += 2 * uf.regional_words > n;
      }
      lf.units.push_back(std::move(uf));
    }
    const double d = static_cast<double>(std::max<int64_t>(described, 1));
    lf.regional_all = static_cast<double>(all) / d;
    lf.regional_all_but_one = static_cast<double>(all_but_one) / d;
    lf.regional_majority = static_cast<double>(majority) / d;
    if (has_words && has_labels) {
      const Agreement a = label_agreement(word_top, label_top);
      lf.agreement = a.share;
      lf.agreement_chance = a.chance;
      lf.agreement_units = a.units;
    }
    out.push_back(std::move(lf));
  }

  sqlite_guarded(db_path, nullptr, [&] {
    SQLite::Database db(db_path.string(), SQLite::OPEN_READWRITE);
    db.setBusyTimeout(5000);
    sqlite_transaction(db_path, db, [&] {
      db.exec(kSchema);
      for (const auto& lf : out) {
        SQLite::Statement drop(db, "DELETE FROM unit_families WHERE layer = ?");
        drop.bind(1, lf.layer);
        drop.exec();
        SQLite::Statement insert(db,
                                 "INSERT INTO unit_families(layer, unit, family, source, words, regional_words, "
                                 "lexical) VALUES(?, ?, ?, ?, ?, ?, ?)");
        for (const auto& u : lf.units) {
          insert.bind(1, lf.layer);
          insert.bind(2, u.unit);
          insert.bind(3, family_name(u.family));
          insert.bind(4, word_source_name(lf.source));
          insert.bind(5, json(u.words).dump());
          insert.bind(6, u.regional_words);
          insert.bind(7, u.lexical);
          insert.exec();
          insert.reset();
        }
      }
    });
  });
  return out;
}

std::map<int64_t, UnitFamily> stored_families(SQLite::Database& db, const std::string& layer,
                                              std::optional<int64_t> unit) {
  std::map<int64_t, UnitFamily> out;
  if (!db.tableExists("unit_families")) return out;
  SQLite::Statement q(db, fmt::format("SELECT unit, family, words, regional_words, lexical FROM unit_families WHERE "
                                      "layer = ?{} ORDER BY unit",
                                      unit ? " AND unit = ?" : ""));
  q.bind(1, layer);
  if (unit) q.bind(2, *unit);
  while (q.executeStep()) {
    UnitFamily u;
    u.unit = q.getColumn(0).getInt64();
    u.family = parse_family(q.getColumn(1).getString());
    u.words = json::parse(q.getColumn(2).getString()).get<std::vector<std::string>>();
    u.regional_words = q.getColumn(3).getInt();
    u.lexical = q.getColumn(4).getString();
    out.emplace(u.unit, std::move(u));
  }
  return out;
}

std::optional<UnitFamily> stored_family(const fs::path& atlas_dir, const std::string& layer, int64_t unit) {
  const fs::path path = atlas_dir / atlas::kDatabaseName;
  return sqlite_guarded(path, nullptr, [&]() -> std::optional<UnitFamily> {
    SQLite::Database db(path.string(), SQLite::OPEN_READONLY);
    auto found = stored_families(db, layer, unit);
    if (found.empty()) return std::nullopt;
    return std::move(found.begin()->second);
  });
}

}  // namespace clipscope::labels
