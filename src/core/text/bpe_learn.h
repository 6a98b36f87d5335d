#pragma once
// Learning a byte-level BPE merges file from a corpus, in the format of CLIP's
// bpe_simple_vocab_16e6.txt.gz, so that Tokenizer loads it unchanged.
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace clipscope {

// One merge: two adjacent BPE symbols (stand-in alphabet, a word-final one
// ending in "</w>") that become one symbol, first + second.
struct BpeMerge {
  std::string first, second;
  bool operator==(const BpeMerge&) const = default;
};

// Learns up to max_merges merges from texts. The texts are pre-tokenized as
// Tokenizer::encode does (bpe_words; special tokens such as "<|endoftext|>" are
// skipped, since the tokenizer never splits them) and their distinct words are
// counted. Each word starts as bpe_symbols(word); then, repeatedly, the most
// frequent adjacent pair becomes the next merge (ties: the smallest
// "first second"), until max_merges merges are learned or the most frequent pair
// occurs fewer than min_pair_count times.
//
// Words are kept exactly as Tokenizer segments them with the merges learned so
// far (each word is re-segmented with Tokenizer's rule, lowest rank first, so
// even a merge that recreated an earlier merge's pair would be followed as the
// tokenizer follows it), so a Tokenizer over the learned merges segments every
// training word as the learner ended with it: when learning was not stopped by
// max_merges, every word seen at least min_pair_count times is a single token.
// Deterministic: the result depends only on the multiset of words.
// Throws Error when max_merges < 0 or min_pair_count < 1.
std::vector<BpeMerge> learn_bpe(const std::vector<std::string>& texts, int max_merges, int min_pair_count = 2);

// Writes merges in the merges-file format: a header line "#version: 0.2 " +
// comment (line breaks in comment become spaces), then "first second" per line.
// gzip'd when path ends in ".gz", plain text otherwise. Throws Error naming the
// file when it cannot be written, or when a merge has an empty symbol or one with
// whitespace (the tokenizer could not read it back).
void write_merges_file(const std::filesystem::path& path, const std::vector<BpeMerge>& merges,
                       std::string_view comment);

}  // namespace clipscope
