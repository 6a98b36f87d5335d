#pragma once
// Word databases inside an atlas (atlas.db): for one layer, every word of a list
// rasterized and encoded (WordEncoder) minus a baseline text's activations (the
// channel difference engine), stored per word; then word -> top units and
// unit -> top words. Built resumably: words are committed in chunks, and running
// the same command again continues where a killed run stopped. Tables are
// documented in docs/words.md.
#include <SQLiteCpp/Database.h>
#include <torch/types.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "atlas/indexer.h"
#include "words/encoder.h"

namespace clipscope::words {

// One layer's word set, as stored.
struct WordSet {
  int id = 0;
  std::string layer;  // canonical point name
  int64_t units = 0;
  nlohmann::json style;  // WordStyle::to_json()
  std::string baseline;
  std::string model_sha256;
  int64_t words_total = 0;  // lines in the list
  std::string words_sha256;
  int k = 0;
  std::string status;  // "encoding" or "complete"
};

// A line of the word list and what became of it.
struct WordEntry {
  int64_t id = 0;  // line number, from 0
  std::string word;
  std::string error;  // why it was skipped; empty when encoded
};

struct RankedUnit {
  int64_t unit = 0;
  float value = 0;
};
struct RankedWord {
  std::string word;
  float value = 0;
};

class WordDatabase {
 public:
  // The atlas at `dir`; throws Error when there is none (or it has no word tables and !writable).
  static WordDatabase open(const std::filesystem::path& dir, bool writable = false);

  std::vector<WordSet> sets() const;
  // The set for `layer` (canonical or alias as stored); with an empty layer, the only set.
  // Throws Error listing the sets when there is no such set or the choice is ambiguous.
  WordSet set(const std::string& layer = "") const;
  std::optional<WordSet> find_set(const std::string& layer) const;

  // Words of a set in list order (skipped ones included, with their reason).
  std::vector<WordEntry> entries(const WordSet& set) const;
  // The encoded words and their activations minus the baseline, (words, units).
  std::pair<std::vector<std::string>, torch::Tensor> matrix(const WordSet& set) const;
  torch::Tensor baseline(const WordSet& set) const;

  std::vector<RankedUnit> word_units(const WordSet& set, const std::string& word, int k) const;
  std::vector<RankedWord> unit_words(const WordSet& set, int64_t unit, int k) const;

  SQLite::Database& database() { return *db_; }
  const std::filesystem::path& path() const { return path_; }

 private:
  WordDatabase(std::filesystem::path path, std::unique_ptr<SQLite::Database> db);
  std::filesystem::path path_;
  std::unique_ptr<SQLite::Database> db_;
};

// Reads a word list: one word per line (surrounding whitespace trimmed). Lines that
// cannot be encoded are kept with the reason: empty, duplicate of an earlier line,
// longer than 200 bytes; rendering problems are added later by word_problem().
std::vector<WordEntry> read_word_list(const std::filesystem::path& path);

struct BuildOptions {
  std::string layer = "visual.layer4";
  WordStyle style;
  std::string baseline = "eeeeee";
  int k = 50;             // top units per word and top words per unit
  int batch_size = 32;    // images per forward pass
  int chunk_words = 256;  // words committed per transaction
  bool progress = true;
  int crash_after = 0;  // tests: throw CrashForTesting after this many chunks (core/util/crash.h)
};

struct BuildResult {
  int64_t encoded = 0, skipped = 0;  // in the whole set
  int64_t resumed_from = -1;         // words already stored when this run started; -1: a new set
  bool already_complete = false;
  double seconds = 0, words_per_second = 0;  // this run's encoding
  std::vector<WordEntry> skipped_entries;
};

// Encodes the list into the atlas at `dir` (created, without images, when absent).
// An existing atlas must come from the same checkpoint; an existing set for the
// layer must have the same settings (else Error naming the difference).
BuildResult build_word_set(CLIP& model, const atlas::ModelIdentity& model_id, const std::filesystem::path& list,
                           const std::filesystem::path& dir, const BuildOptions& options);

}  // namespace clipscope::words
