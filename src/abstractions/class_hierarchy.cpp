#include "abstractions/class_hierarchy.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <random>
#include <set>

#include "core/text/wordnet.h"
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
  // Each synset's noun hypernyms and instance hypernyms, read once.
  std::map<int64_t, std::pair<std::string, std::vector<int64_t>>> synsets;
  auto synset = [&](int64_t offset) -> const std::pair<std::string, std::vector<int64_t>>& {
    auto it = synsets.find(offset);
    if (it == synsets.end()) {
      const auto s = wordnet::read_synset(in, data_noun, wordnet::Pos::Noun, offset);
      std::vector<int64_t> hypernyms;
      for (const auto& p : s.pointers)
        if ((p.symbol == "@" || p.symbol == "@i") && p.pos == wordnet::Pos::Noun) hypernyms.push_back(p.offset);
      std::string word = s.words.at(0);
      std::replace(word.begin(), word.end(), '_', ' ');
      it = synsets.emplace(offset, std::make_pair(std::move(word), std::move(hypernyms))).first;
    }
    return it->second;
  };
  std::map<std::string, std::set<size_t>> groups;
  for (size_t c = 0; c < class_keys.size(); ++c) {
    const auto offset = noun_offset(class_keys[c]);
    if (!offset) continue;
    std::vector<int64_t> todo = synset(*offset).second;
    std::set<int64_t> seen;
    while (!todo.empty()) {
      const int64_t o = todo.back();
      todo.pop_back();
      if (!seen.insert(o).second) continue;
      const auto& [word, hypernyms] = synset(o);
      groups[fmt::format("{} (n{:08d})", word, o)].insert(c);
      todo.insert(todo.end(), hypernyms.begin(), hypernyms.end());
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
