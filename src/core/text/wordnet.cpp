#include "core/text/wordnet.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <sstream>

#include "core/util/error.h"
#include "core/util/strings.h"

namespace clipscope::wordnet {

namespace fs = std::filesystem;

namespace {

constexpr std::array<const char*, 4> kNames{"noun", "verb", "adj", "adv"};

size_t slot(Pos pos) { return static_cast<size_t>(pos); }

// "new york" / "New_York" -> "new_york", the index files' key.
std::string index_key(const std::string& lemma) {
  std::string key = lower_ascii(std::string(trim(lemma)));
  std::replace(key.begin(), key.end(), ' ', '_');
  return key;
}

}  // namespace

char pos_letter(Pos pos) { return "nvar"[slot(pos)]; }

std::optional<Pos> parse_pos_letter(char letter) {
  switch (letter) {
    case 'n':
      return Pos::Noun;
    case 'v':
      return Pos::Verb;
    case 'a':
    case 's':
      return Pos::Adj;
    case 'r':
      return Pos::Adv;
    default:
      return std::nullopt;
  }
}

bool Synset::is_instance() const {
  return std::any_of(pointers.begin(), pointers.end(), [](const Pointer& p) { return p.symbol == "@i"; });
}

std::string plain_lemma(const std::string& word) {
  std::string out = lower_ascii(word);
  std::replace(out.begin(), out.end(), '_', ' ');
  return out;
}

Synset read_synset(std::istream& in, const fs::path& file, Pos pos, int64_t offset) {
  in.clear();
  in.seekg(offset);
  std::string line;
  const auto fail = [&](std::string_view why) {
    return Error(
        fmt::format("{}: {} at offset {} (not WordNet 3.0's data.{}?)", file.string(), why, offset, kNames[slot(pos)]));
  };
  if (!in || !std::getline(in, line)) throw fail("no synset");
  const auto bar = line.find(" | ");
  std::istringstream fields(line.substr(0, bar));
  std::string first, lex_file, type, count_hex;
  fields >> first >> lex_file >> type >> count_hex;
  unsigned words = 0;
  const auto parsed = std::from_chars(count_hex.data(), count_hex.data() + count_hex.size(), words, 16);
  const auto lex = to_number<int>(lex_file);
  if (to_number<int64_t>(first) != offset || parsed.ec != std::errc() || !lex) throw fail("not a synset line");
  Synset s;
  s.offset = offset;
  s.pos = pos;
  s.lex_file = *lex;
  if (bar != std::string::npos) s.gloss = std::string(trim(std::string_view(line).substr(bar + 3)));
  for (unsigned w = 0; w < words; ++w) {
    std::string word, lex_id;
    if (!(fields >> word >> lex_id)) throw fail("a truncated word list");
    if (const auto paren = word.find('('); paren != std::string::npos && word.back() == ')')
      word.erase(paren);  // adjective markers: big(a), galore(ip)
    s.words.push_back(std::move(word));
  }
  int pointers = 0;
  fields >> pointers;
  for (int p = 0; p < pointers; ++p) {
    std::string symbol, target, letter, source_target;
    if (!(fields >> symbol >> target >> letter >> source_target)) throw fail("a truncated pointer list");
    const auto t = to_number<int64_t>(target);
    const auto target_pos = letter.size() == 1 ? parse_pos_letter(letter[0]) : std::nullopt;
    if (t && target_pos) s.pointers.push_back({symbol, *t, *target_pos});
  }
  return s;
}

WordNet::WordNet(fs::path dir) : dir_(std::move(dir)) {
  if (!fs::exists(dir_ / "data.noun"))
    throw Error(
        fmt::format("{}: no WordNet here (data.noun not found; Debian's wordnet-base installs it in "
                    "/usr/share/wordnet)",
                    dir_.string()));
}

std::ifstream& WordNet::data(Pos pos) {
  std::ifstream& in = data_[slot(pos)];
  if (!in.is_open()) {
    const fs::path file = dir_ / fmt::format("data.{}", kNames[slot(pos)]);
    in.open(file, std::ios::binary);
    if (!in) throw Error(fmt::format("{}: cannot open WordNet's {} data", file.string(), kNames[slot(pos)]));
  }
  return in;
}

const Synset& WordNet::synset(Pos pos, int64_t offset) {
  auto& cache = synsets_[slot(pos)];
  auto it = cache.find(offset);
  if (it == cache.end())
    it = cache.emplace(offset, read_synset(data(pos), dir_ / fmt::format("data.{}", kNames[slot(pos)]), pos, offset))
             .first;
  return it->second;
}

std::vector<int64_t> WordNet::senses(Pos pos, const std::string& lemma) {
  auto& index = index_[slot(pos)];
  if (!indexed_[slot(pos)]) {
    indexed_[slot(pos)] = true;
    const fs::path file = dir_ / fmt::format("index.{}", kNames[slot(pos)]);
    std::ifstream in(file);
    if (!in) throw Error(fmt::format("{}: cannot open WordNet's {} index", file.string(), kNames[slot(pos)]));
    // "lemma pos synset_cnt p_cnt [ptr_symbol...] sense_cnt tagsense_cnt synset_offset..."; the
    // licence lines at the top start with a space.
    for (std::string line; std::getline(in, line);) {
      if (line.empty() || line[0] == ' ') continue;
      std::istringstream fields(line);
      std::string word, letter;
      int synsets = 0, pointers = 0, sense_count = 0, tagged = 0;
      fields >> word >> letter >> synsets >> pointers;
      for (int p = 0; p < pointers; ++p) fields >> letter;
      fields >> sense_count >> tagged;
      std::vector<int64_t> offsets;
      for (std::string o; offsets.size() < static_cast<size_t>(std::max(synsets, 0)) && fields >> o;)
        if (const auto v = to_number<int64_t>(o)) offsets.push_back(*v);
      index.emplace(std::move(word), std::move(offsets));
    }
  }
  const auto it = index.find(index_key(lemma));
  return it == index.end() ? std::vector<int64_t>{} : it->second;
}

}  // namespace clipscope::wordnet
