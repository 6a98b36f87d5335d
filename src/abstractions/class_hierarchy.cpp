#include "abstractions/class_hierarchy.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include "core/util/csv.h"
#include "core/util/error.h"
#include "core/util/strings.h"

namespace clipscope::abstractions {

namespace fs = std::filesystem;

namespace {

// "n02084071" -> 2084071; nullopt for anything else.
std::optional<int64_t> noun_offset(const std::string& key) {
  if (key.size() != 9 || key[0] != 'n') return std::nullopt;
  return to_number<int64_t>(std::string_view(key).substr(1));
}

struct Synset {
  std::string word;
  std::vector<int64_t> hypernyms;
};

// The data.noun line at byte `offset`: "offset lex_filenum ss_type w_cnt (word lex_id)... p_cnt
// (symbol offset pos source/target)... | gloss", w_cnt in hexadecimal.
Synset read_synset(std::ifstream& in, const fs::path& file, int64_t offset) {
  in.clear();
  in.seekg(offset);
  std::string line;
  if (!in || !std::getline(in, line))
    throw Error(fmt::format("{}: no synset at offset {} (not WordNet 3.0's data.noun?)", file.string(), offset));
  std::istringstream fields(line.substr(0, line.find(" | ")));
  std::string first, lex_file, type, count_hex;
  fields >> first >> lex_file >> type >> count_hex;
  unsigned words = 0;
  const auto parsed = std::from_chars(count_hex.data(), count_hex.data() + count_hex.size(), words, 16);
  if (to_number<int64_t>(first) != offset || parsed.ec != std::errc())
    throw Error(fmt::format("{}: the line at offset {} is not that synset (not WordNet 3.0's data.noun?)",
                            file.string(), offset));
  Synset s;
  for (unsigned w = 0; w < words; ++w) {
    std::string word, lex_id;
    fields >> word >> lex_id;
    if (w == 0) {
      std::replace(word.begin(), word.end(), '_', ' ');
      s.word = word;
    }
  }
  int pointers = 0;
  fields >> pointers;
  for (int p = 0; p < pointers; ++p) {
    std::string symbol, target, pos, source_target;
    fields >> symbol >> target >> pos >> source_target;
    if ((symbol == "@" || symbol == "@i") && pos == "n")
      if (const auto t = to_number<int64_t>(target)) s.hypernyms.push_back(*t);
  }
  return s;
}

ClassHierarchy from_memberships(std::map<std::string, std::set<size_t>> groups) {
  ClassHierarchy h;
  for (auto& [name, members] : groups) {
    if (members.size() < 2) continue;
    h.groups.push_back(name);
    h.members.emplace_back(members.begin(), members.end());
  }
  return h;
}

}  // namespace

ClassHierarchy wordnet_hierarchy(const fs::path& data_noun, const std::vector<std::string>& class_keys) {
  std::ifstream in(data_noun);
  if (!in) throw Error(fmt::format("{}: cannot open WordNet's noun data", data_noun.string()));
  std::map<int64_t, Synset> synsets;
  auto synset = [&](int64_t offset) -> const Synset& {
    auto it = synsets.find(offset);
    if (it == synsets.end()) it = synsets.emplace(offset, read_synset(in, data_noun, offset)).first;
    return it->second;
  };
  std::map<std::string, std::set<size_t>> groups;
  for (size_t c = 0; c < class_keys.size(); ++c) {
    const auto offset = noun_offset(class_keys[c]);
    if (!offset) continue;
    std::vector<int64_t> todo = synset(*offset).hypernyms;
    std::set<int64_t> seen;
    while (!todo.empty()) {
      const int64_t o = todo.back();
      todo.pop_back();
      if (!seen.insert(o).second) continue;
      const Synset& s = synset(o);
      groups[fmt::format("{} (n{:08d})", s.word, o)].insert(c);
      todo.insert(todo.end(), s.hypernyms.begin(), s.hypernyms.end());
    }
  }
  return from_memberships(std::move(groups));
}

ClassHierarchy table_hierarchy(const fs::path& table, const std::vector<std::string>& class_keys) {
  std::ifstream in(table);
  if (!in) throw Error(fmt::format("{}: cannot open the class table", table.string()));
  std::map<std::string, size_t> index;
  for (size_t c = 0; c < class_keys.size(); ++c) index.emplace(class_keys[c], c);
  std::map<std::string, std::set<size_t>> groups;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    const std::string_view content = trim(std::string_view(line).substr(0, line.find('#')));
    if (content.empty()) continue;
    const auto fields = split(content, '\t');
    const auto it = index.find(std::string(trim(fields[0])));
    if (it == index.end())
      throw Error(fmt::format("{}:{}: '{}' is not one of the probe's {} classes", table.string(), number,
                              trim(fields[0]), class_keys.size()));
    for (size_t f = 1; f < fields.size(); ++f)
      if (!trim(fields[f]).empty()) groups[std::string(trim(fields[f]))].insert(it->second);
  }
  return from_memberships(std::move(groups));
}

namespace {

// The best group for each class set (Jaccard, ties to the smaller group), given class -> groups.
void match(std::vector<SharedUnit>& units, const ClassHierarchy& h, const std::vector<size_t>& relabel) {
  for (auto& u : units) {
    u.group.clear();
    u.group_size = u.shared = 0;
    u.jaccard = 0;
    std::set<size_t> classes;
    for (size_t c : u.classes) classes.insert(relabel[c]);
    for (size_t g = 0; g < h.groups.size(); ++g) {
      size_t shared = 0;
      for (size_t c : h.members[g]) shared += classes.count(c);
      if (shared == 0) continue;
      const double j = static_cast<double>(shared) / static_cast<double>(classes.size() + h.members[g].size() - shared);
      if (j > u.jaccard || (j == u.jaccard && h.members[g].size() < u.group_size)) {
        u.jaccard = j;
        u.group = h.groups[g];
        u.group_size = h.members[g].size();
        u.shared = shared;
      }
    }
  }
}

double mean_jaccard(const std::vector<SharedUnit>& units) {
  if (units.empty()) return 0;
  double sum = 0;
  for (const auto& u : units) sum += u.jaccard;
  return sum / static_cast<double>(units.size());
}

}  // namespace

SharedUnits shared_units(const SparseProbe& probe, const ClassHierarchy& hierarchy, size_t min_classes, int shuffles,
                         uint64_t seed) {
  if (min_classes < 1) throw ArgumentError("min_classes", "0", "must be positive");
  const size_t C = probe.classes.size();
  for (const auto& members : hierarchy.members)
    for (size_t c : members)
      if (c >= C) throw ArgumentError("hierarchy", std::to_string(c), fmt::format("a class index not below {}", C));
  const torch::Tensor positive = probe.weight.gt(0);
  SharedUnits out;
  for (int64_t u = 0; u < positive.size(1); ++u) {
    const torch::Tensor rows = positive.select(1, u).nonzero().flatten();
    if (static_cast<size_t>(rows.numel()) < min_classes) continue;
    SharedUnit s;
    s.unit = u;
    for (int64_t i = 0; i < rows.numel(); ++i) s.classes.push_back(static_cast<size_t>(rows[i].item<int64_t>()));
    out.units.push_back(std::move(s));
  }
  std::stable_sort(out.units.begin(), out.units.end(),
                   [](const SharedUnit& a, const SharedUnit& b) { return a.classes.size() > b.classes.size(); });
  std::vector<size_t> relabel(C);
  std::iota(relabel.begin(), relabel.end(), size_t{0});
  std::mt19937_64 rng(seed);
  double shuffled = 0;
  for (int s = 0; s < shuffles; ++s) {
    std::shuffle(relabel.begin(), relabel.end(), rng);
    match(out.units, hierarchy, relabel);
    shuffled += mean_jaccard(out.units);
  }
  out.shuffled_jaccard = shuffles > 0 ? shuffled / shuffles : 0;
  std::iota(relabel.begin(), relabel.end(), size_t{0});
  match(out.units, hierarchy, relabel);
  out.mean_jaccard = mean_jaccard(out.units);
  return out;
}

nlohmann::json SharedUnits::to_json(const SparseProbe& probe) const {
  nlohmann::json j = {{"mean_jaccard", mean_jaccard}, {"shuffled_jaccard", shuffled_jaccard}};
  j["units"] = nlohmann::json::array();
  for (const auto& u : units) {
    std::vector<std::string> names;
    for (size_t c : u.classes) names.push_back(probe.classes[c]);
    j["units"].push_back({{"unit", probe.units[static_cast<size_t>(u.unit)]},
                          {"classes", names},
                          {"group", u.group},
                          {"group_size", u.group_size},
                          {"shared", u.shared},
                          {"jaccard", u.jaccard}});
  }
  return j;
}

std::string SharedUnits::csv(const SparseProbe& probe) const {
  std::string out = "unit,classes,group,group_size,shared,jaccard,class_names\n";
  for (const auto& u : units) {
    std::vector<std::string> names;
    for (size_t c : u.classes) names.push_back(probe.classes[c]);
    out += fmt::format("{},{},{},{},{},{:.4f},{}\n", csv_field(probe.units[static_cast<size_t>(u.unit)]),
                       u.classes.size(), csv_field(u.group), u.group_size, u.shared, u.jaccard,
                       csv_field(fmt::format("{}", fmt::join(names, ";"))));
  }
  return out;
}

}  // namespace clipscope::abstractions
