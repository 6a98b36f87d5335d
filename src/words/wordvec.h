#pragma once
// Image-based word embeddings (the article's "image-based word embedding"): a
// word's vector is its rasterized image's activations minus the mean over all
// words of the set. Nearest neighbours by cosine, arithmetic ("king - man +
// woman"), and masking of lexicographic units — units that respond to spelling
// (e.g. "-ing") rather than meaning, which the article masks for arithmetic to work.
#include <torch/types.h>

#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "words/database.h"

namespace clipscope::words {

class Embeddings {
 public:
  // words[i] has activations matrix[i] (any baseline: the mean over words removes it).
  Embeddings(std::vector<std::string> words, const torch::Tensor& matrix);

  // Units left out of every vector and cosine from now on.
  void mask(const std::vector<int64_t>& units);
  const std::vector<int64_t>& masked() const { return masked_; }

  int64_t size() const { return static_cast<int64_t>(words_.size()); }
  const std::vector<std::string>& words() const { return words_; }
  // The vector of a word in the set; throws Error naming it otherwise.
  torch::Tensor vector(const std::string& word) const;
  bool contains(const std::string& word) const { return index_.count(word) > 0; }

  // The k words whose vectors are most cosine-similar to `query`, `exclude` left out.
  std::vector<RankedWord> nearest(const torch::Tensor& query, int k, const std::set<std::string>& exclude = {}) const;
  static double cosine(const torch::Tensor& a, const torch::Tensor& b);

  // "king - man + woman": the signed sum of the words' vectors; `terms` gets the words used.
  torch::Tensor evaluate(const std::string& expression, std::vector<std::string>* terms = nullptr) const;

 private:
  std::vector<std::string> words_;
  std::unordered_map<std::string, int64_t> index_;
  torch::Tensor vectors_;     // (words, units), centred
  torch::Tensor normalized_;  // rows of vectors_ (masked) scaled to unit length
  std::vector<int64_t> masked_;
  void normalize();
};

// The rule for lexicographic units (docs/words.md): a unit is lexical when one
// substring of `min_length`..`max_length` characters occurs in at least
// `min_share` of its `top` most activating words, and in at least `min_ratio`
// times as many of them as chance (its share among all the set's words) predicts.
struct LexicalRule {
  int top = 20;
  int min_length = 3, max_length = 5;
  double min_share = 0.5;
  double min_ratio = 4.0;
};

struct LexicalUnit {
  int64_t unit = 0;
  std::string substring;  // the shared spelling
  int hits = 0;           // of the top words containing it
  double expected = 0;    // by chance
};

std::vector<LexicalUnit> find_lexical_units(const std::vector<std::string>& words, const torch::Tensor& matrix,
                                            const LexicalRule& rule = {});

// A file of unit indices (one per line, or separated by commas/spaces; '#' starts a comment).
std::vector<int64_t> read_unit_list(const std::string& path, int64_t units);

// Which units to leave out of a word set's embeddings.
struct UnitMask {
  bool lexical = false;  // the units find_lexical_units finds with `rule`
  LexicalRule rule;
  std::string units_file;  // and the units read_unit_list reads from this file ("" for none)
  bool any() const { return lexical || !units_file.empty(); }
};

struct WordEmbeddings {
  WordSet set;
  Embeddings embeddings;
  std::vector<int64_t> masked;  // the units left out (already applied)
};

// The word set of `layer` ("" for the only one) in the atlas's word database, as
// embeddings with `mask` applied: the entry point of wordvec's queries.
WordEmbeddings open_embeddings(const std::string& atlas, const std::string& layer, const UnitMask& mask = {});

}  // namespace clipscope::words
