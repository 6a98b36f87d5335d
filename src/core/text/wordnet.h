#pragma once
// WordNet 3.0 in its own files (Debian's wordnet-base: /usr/share/wordnet): synsets read
// from data.<pos> by their byte offset (each line starts with its own offset), and a
// word's senses, most frequent first, from index.<pos>. One reader for every use: the
// probe's class hierarchy (hypernyms of ImageNet's wnids) and the unit families'
// geographic, emotion and person words.
#include <array>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace clipscope::wordnet {

enum class Pos { Noun, Verb, Adj, Adv };
char pos_letter(Pos pos);                          // n v a r
std::optional<Pos> parse_pos_letter(char letter);  // n v a s r ('s', a satellite adjective, is an adjective)

// Lexicographer files that the families use (lexnames(5WN)).
inline constexpr int kNounFeeling = 12, kNounLocation = 15, kNounPerson = 18;

struct Pointer {
  std::string symbol;  // "@" hypernym, "@i" instance hypernym, "\\" pertainym, "+" derivation, ...
  int64_t offset = 0;
  Pos pos = Pos::Noun;
};

struct Synset {
  int64_t offset = 0;
  Pos pos = Pos::Noun;
  int lex_file = 0;
  std::vector<std::string> words;  // as written in the file: underscores for spaces, adjective markers dropped
  std::vector<Pointer> pointers;
  std::string gloss;
  bool is_instance() const;  // has an instance hypernym ("@i"): a named thing (France, Paris)
};

// The data file line at byte `offset` of `in` (the file `file`, for errors). Throws Error
// naming the file and offset when there is no such synset (not WordNet 3.0's format).
Synset read_synset(std::istream& in, const std::filesystem::path& file, Pos pos, int64_t offset);

class WordNet {
 public:
  // The database in `dir` (data.noun, index.noun, ... for each part of speech present;
  // index files are read when first asked). Throws Error naming the folder when it has
  // no data.noun.
  explicit WordNet(std::filesystem::path dir = "/usr/share/wordnet");

  // A synset by part of speech and offset (read on first use, then kept).
  const Synset& synset(Pos pos, int64_t offset);
  // The synsets of a lemma ("new york" or "new_york", any case), most frequent sense
  // first; empty when WordNet does not know it.
  std::vector<int64_t> senses(Pos pos, const std::string& lemma);
  const std::filesystem::path& dir() const { return dir_; }

 private:
  std::filesystem::path dir_;
  std::array<std::ifstream, 4> data_;
  std::array<bool, 4> indexed_{};
  std::array<std::unordered_map<std::string, std::vector<int64_t>>, 4> index_;
  std::array<std::map<int64_t, Synset>, 4> synsets_;
  std::ifstream& data(Pos pos);
};

// "New_York" -> "new york": WordNet's spelling as the lower-case words of a word list.
std::string plain_lemma(const std::string& word);

}  // namespace clipscope::wordnet
