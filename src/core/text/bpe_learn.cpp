// Byte-level BPE learning over CLIP's pre-tokenization (see bpe_learn.h).
//
// The corpus is reduced to its distinct words with counts, so the work depends
// on the vocabulary, not on the number of texts. Symbols are interned as ints;
// pair counts are updated incrementally: a merge re-segments only the words that
// hold its pair (found through a pair -> words index), subtracting their old
// pairs and adding their new ones. The most frequent pair comes from a max-heap
// with lazy deletion (an entry whose count is no longer current is skipped).
#include "core/text/bpe_learn.h"

#include <fmt/format.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <queue>
#include <unordered_map>

#include "core/text/tokenizer.h"
#include "core/util/error.h"

namespace clipscope {

namespace {

using SymbolId = int32_t;
using PairKey = uint64_t;

PairKey pair_key(SymbolId first, SymbolId second) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(first)) << 32) | static_cast<uint32_t>(second);
}
SymbolId pair_first(PairKey key) { return static_cast<SymbolId>(key >> 32); }
SymbolId pair_second(PairKey key) { return static_cast<SymbolId>(key & 0xFFFFFFFFu); }

class Learner {
 public:
  explicit Learner(const std::vector<std::pair<std::string, int64_t>>& word_counts) {
    words_.reserve(word_counts.size());
    freqs_.reserve(word_counts.size());
    for (const auto& [word, count] : word_counts) {
      std::vector<SymbolId> symbols;
      for (std::string& symbol : bpe_symbols(word)) symbols.push_back(intern(std::move(symbol)));
      words_.push_back(std::move(symbols));
      freqs_.push_back(count);
    }
    for (size_t w = 0; w < words_.size(); ++w) {
      const auto& symbols = words_[w];
      for (size_t i = 0; i + 1 < symbols.size(); ++i) {
        const PairKey key = pair_key(symbols[i], symbols[i + 1]);
        pair_counts_[key] += freqs_[w];
        auto& holders = pair_words_[key];
        const auto index = static_cast<int32_t>(w);
        if (holders.empty() || holders.back() != index) holders.push_back(index);
      }
    }
    for (const auto& [key, count] : pair_counts_) heap_.push({count, key});
    stamps_.assign(words_.size(), -1);
  }

  std::vector<BpeMerge> learn(int max_merges, int min_pair_count) {
    std::vector<BpeMerge> merges;
    std::vector<PairKey> changed;
    while (static_cast<int>(merges.size()) < max_merges) {
      // The most frequent pair (ties: smallest "first second"), skipping stale entries.
      PairKey best = 0;
      int64_t best_count = 0;
      while (!heap_.empty()) {
        const HeapEntry top = heap_.top();
        heap_.pop();
        const auto found = pair_counts_.find(top.pair);
        if (found != pair_counts_.end() && found->second == top.count) {
          best = top.pair;
          best_count = top.count;
          break;
        }
      }
      if (best_count < min_pair_count || best_count <= 0) break;

      const int rank = static_cast<int>(merges.size());
      const SymbolId first = pair_first(best);
      const SymbolId second = pair_second(best);
      merges.push_back({symbols_[static_cast<size_t>(first)], symbols_[static_cast<size_t>(second)]});
      ranks_.emplace(best, rank);
      rank_keys_.push_back(best);
      merged_.push_back(intern(symbols_[static_cast<size_t>(first)] + symbols_[static_cast<size_t>(second)]));

      // Re-segment every word that holds the pair and update the counts.
      const std::vector<int32_t> holders = std::move(pair_words_[best]);
      pair_words_.erase(best);
      changed.clear();
      for (int32_t w : holders) {
        if (stamps_[static_cast<size_t>(w)] == rank) continue;  // listed twice
        stamps_[static_cast<size_t>(w)] = rank;
        resegment(w, first, second, changed);
      }
      std::sort(changed.begin(), changed.end());
      changed.erase(std::unique(changed.begin(), changed.end()), changed.end());
      for (PairKey key : changed) {
        const auto found = pair_counts_.find(key);
        if (found == pair_counts_.end()) continue;
        if (found->second > 0) {
          heap_.push({found->second, key});
        } else {  // no word holds it any more
          pair_counts_.erase(found);
          pair_words_.erase(key);
        }
      }
    }
    return merges;
  }

 private:
  struct HeapEntry {
    int64_t count;
    PairKey pair;
  };
  // Heap order: higher count first, then the lexicographically smallest
  // "first second". Every byte of a symbol is above ' ' (stand-ins are printable
  // and "</w>" is ASCII punctuation and letters), so comparing the joined strings
  // is comparing (first, second) as a tuple of strings.
  struct Lower {
    const std::vector<std::string>* symbols;
    bool operator()(const HeapEntry& a, const HeapEntry& b) const {
      if (a.count != b.count) return a.count < b.count;
      const std::string& a_first = (*symbols)[static_cast<size_t>(pair_first(a.pair))];
      const std::string& b_first = (*symbols)[static_cast<size_t>(pair_first(b.pair))];
      if (const int c = a_first.compare(b_first); c != 0) return c > 0;
      return (*symbols)[static_cast<size_t>(pair_second(a.pair))] >
             (*symbols)[static_cast<size_t>(pair_second(b.pair))];
    }
  };

  SymbolId intern(std::string symbol) {
    const auto [it, inserted] = symbol_ids_.emplace(symbol, static_cast<SymbolId>(symbols_.size()));
    if (inserted) symbols_.push_back(std::move(symbol));
    return it->second;
  }

  // The word re-segmented as Tokenizer::merge_symbols does with the merges so far:
  // the adjacent pair of lowest rank is merged at every non-overlapping
  // occurrence, left to right, until no learned pair is left. The word holds no
  // pair of an earlier merge, so the first one merged is the newest; should that
  // merge recreate an earlier merge's pair, the loop applies it as the tokenizer
  // would (random corpora have not produced such a case, but it costs one scan).
  void apply_merges(std::vector<SymbolId>& symbols) {
    std::vector<SymbolId> merged;
    while (symbols.size() > 1) {
      int best_rank = INT_MAX;
      for (size_t i = 0; i + 1 < symbols.size(); ++i) {
        const auto found = ranks_.find(pair_key(symbols[i], symbols[i + 1]));
        if (found != ranks_.end() && found->second < best_rank) best_rank = found->second;
      }
      if (best_rank == INT_MAX) return;
      const PairKey best = rank_keys_[static_cast<size_t>(best_rank)];
      const SymbolId first = pair_first(best);
      const SymbolId second = pair_second(best);
      merged.clear();
      for (size_t i = 0; i < symbols.size();) {
        if (i + 1 < symbols.size() && symbols[i] == first && symbols[i + 1] == second) {
          merged.push_back(merged_[static_cast<size_t>(best_rank)]);
          i += 2;
        } else {
          merged.push_back(symbols[i]);
          i += 1;
        }
      }
      symbols.swap(merged);
    }
  }

  void resegment(int32_t w, SymbolId first, SymbolId second, std::vector<PairKey>& changed) {
    std::vector<SymbolId>& symbols = words_[static_cast<size_t>(w)];
    bool holds = false;
    for (size_t i = 0; i + 1 < symbols.size() && !holds; ++i) {
      holds = symbols[i] == first && symbols[i + 1] == second;
    }
    if (!holds) return;  // the index lists words that held the pair once

    const int64_t freq = freqs_[static_cast<size_t>(w)];
    old_pairs_.clear();
    for (size_t i = 0; i + 1 < symbols.size(); ++i) old_pairs_.push_back(pair_key(symbols[i], symbols[i + 1]));
    apply_merges(symbols);
    for (PairKey key : old_pairs_) {
      pair_counts_[key] -= freq;
      changed.push_back(key);
    }
    for (size_t i = 0; i + 1 < symbols.size(); ++i) {
      const PairKey key = pair_key(symbols[i], symbols[i + 1]);
      pair_counts_[key] += freq;
      changed.push_back(key);
      // Only a pair the word did not hold before needs the word in its list.
      if (std::find(old_pairs_.begin(), old_pairs_.end(), key) == old_pairs_.end()) {
        auto& holders = pair_words_[key];
        if (holders.empty() || holders.back() != w) holders.push_back(w);
      }
    }
  }

  std::vector<std::string> symbols_;
  std::unordered_map<std::string, SymbolId> symbol_ids_;
  std::vector<std::vector<SymbolId>> words_;
  std::vector<int64_t> freqs_;
  std::vector<int> stamps_;
  std::unordered_map<PairKey, int64_t> pair_counts_;
  std::unordered_map<PairKey, std::vector<int32_t>> pair_words_;
  std::unordered_map<PairKey, int> ranks_;  // learned merge -> rank
  std::vector<SymbolId> merged_;            // rank -> symbol the merge makes
  std::vector<PairKey> rank_keys_;          // rank -> merged pair
  std::vector<PairKey> old_pairs_;
  std::priority_queue<HeapEntry, std::vector<HeapEntry>, Lower> heap_{Lower{&symbols_}};
};

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

bool valid_symbol(const std::string& symbol) {
  return !symbol.empty() && std::none_of(symbol.begin(), symbol.end(), is_space);
}

}  // namespace

std::vector<BpeMerge> learn_bpe(const std::vector<std::string>& texts, int max_merges, int min_pair_count) {
  if (max_merges < 0) throw Error(fmt::format("learn_bpe: max_merges {} is negative", max_merges));
  if (min_pair_count < 1) {
    throw Error(fmt::format("learn_bpe: min_pair_count {} must be at least 1", min_pair_count));
  }
  // Distinct texts first (captions repeat), then their distinct words.
  std::unordered_map<std::string_view, int64_t> text_counts;
  for (const std::string& text : texts) ++text_counts[text];
  std::unordered_map<std::string, int64_t> word_counts;
  for (const auto& [text, count] : text_counts) {
    for (std::string& word : bpe_words(text)) {
      if (word == Tokenizer::kStartOfText || word == Tokenizer::kEndOfText) continue;
      word_counts[std::move(word)] += count;
    }
  }
  // A canonical order, so symbol ids (internal only) do not depend on hashing.
  std::vector<std::pair<std::string, int64_t>> sorted(word_counts.begin(), word_counts.end());
  std::sort(sorted.begin(), sorted.end());
  Learner learner(sorted);
  return learner.learn(max_merges, min_pair_count);
}

void write_merges_file(const std::filesystem::path& path, const std::vector<BpeMerge>& merges,
                       std::string_view comment) {
  const std::string file = path.string();
  std::string content = "#version: 0.2 ";
  for (char c : comment) content += (c == '\n' || c == '\r') ? ' ' : c;
  content += '\n';
  for (size_t i = 0; i < merges.size(); ++i) {
    const BpeMerge& merge = merges[i];
    if (!valid_symbol(merge.first) || !valid_symbol(merge.second)) {
      throw Error(
          fmt::format("merges file {}: merge {} (\"{}\" \"{}\") has an empty symbol or one with "
                      "whitespace",
                      file, i, merge.first, merge.second));
    }
    content.append(merge.first).append(" ").append(merge.second).append("\n");
  }

  if (file.ends_with(".gz")) {
    errno = 0;
    gzFile out = gzopen(path.c_str(), "wb");
    if (out == nullptr) {
      throw Error(fmt::format("merges file {}: cannot be written ({})", file,
                              errno != 0 ? std::strerror(errno) : "out of memory"));
    }
    bool ok = true;
    constexpr size_t kChunk = 1 << 20;
    for (size_t pos = 0; pos < content.size() && ok; pos += kChunk) {
      const auto n = static_cast<unsigned>(std::min(kChunk, content.size() - pos));
      ok = gzwrite(out, content.data() + pos, n) == static_cast<int>(n);
    }
    int errnum = Z_OK;
    const char* message = gzerror(out, &errnum);
    std::string reason = ok ? "" : (message != nullptr && *message != '\0' ? message : "write error");
    if (gzclose(out) != Z_OK && ok) {
      ok = false;
      reason = errno != 0 ? std::strerror(errno) : "write error";
    }
    if (!ok) throw Error(fmt::format("merges file {}: cannot be written ({})", file, reason));
    return;
  }
  errno = 0;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) {
    throw Error(
        fmt::format("merges file {}: cannot be written ({})", file, errno != 0 ? std::strerror(errno) : "cannot open"));
  }
  out.write(content.data(), static_cast<std::streamsize>(content.size()));
  out.close();
  if (!out) {
    throw Error(
        fmt::format("merges file {}: cannot be written ({})", file, errno != 0 ? std::strerror(errno) : "write error"));
  }
}

}  // namespace clipscope
