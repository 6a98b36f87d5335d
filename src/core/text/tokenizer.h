#pragma once
// CLIP's tokenizer (openai/CLIP simple_tokenizer.py) in C++: html-unescape twice,
// whitespace clean, lowercase, CLIP's split regex with Unicode letter/number
// classes, byte-level BPE over a merges file (bpe_simple_vocab_16e6.txt.gz format),
// <|startoftext|>/<|endoftext|>. ftfy's mojibake repair is not applied (as in
// the reference fixtures); text is expected to be valid UTF-8.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace clipscope {

// Python's html.unescape (named entities, with and without ';', numeric refs).
std::string html_unescape(std::string_view text);

// CLIP's pre-tokenization of a text: html-unescape twice, whitespace clean,
// lowercase, split with CLIP's regex, and each piece's UTF-8 bytes written in
// the byte-to-unicode stand-in alphabet. These are exactly the words that
// Tokenizer::encode runs BPE on (a special token written in the text, such as
// "<|endoftext|>", is one word).
std::vector<std::string> bpe_words(std::string_view text);

// The BPE symbols a word of bpe_words starts from, before any merge: one per
// stand-in character, the last one ending in "</w>" (empty for an empty word).
std::vector<std::string> bpe_symbols(std::string_view word);

class Tokenizer {
 public:
  static constexpr int kDefaultVocabSize = 49408;
  static constexpr int kDefaultContextLength = 77;
  static constexpr std::string_view kStartOfText = "<|startoftext|>";
  static constexpr std::string_view kEndOfText = "<|endoftext|>";

  // merges: a gzip'd (or plain) UTF-8 merges file whose first line is a header
  // containing "#version" (e.g. "#version: 0.2"), then one "first second" pair per line.
  // vocab_size fixes how many merges are used: vocab_size - 512 - 2 (as CLIP does);
  // 0 uses every merge in the file (vocab_size() is then 512 + merges + 2).
  // Throws Error naming the file when it is missing, not a merges file, or too short.
  explicit Tokenizer(const std::filesystem::path& merges, int vocab_size = kDefaultVocabSize);

  // BPE token ids of the cleaned text, without start/end tokens.
  std::vector<int32_t> encode(std::string_view text) const;
  // Inverse of encode (byte-level decode; '</w>' becomes a space), as CLIP's decode.
  std::string decode(const std::vector<int32_t>& ids) const;
  // clip.tokenize for one text: [sot, ids..., eot] zero-padded to context_length.
  // Too long: throws Error naming the text, unless truncate (then the last token is eot).
  std::vector<int32_t> tokenize(std::string_view text, int context_length = kDefaultContextLength,
                                bool truncate = false) const;

  int32_t sot() const { return sot_; }
  int32_t eot() const { return eot_; }
  int vocab_size() const { return static_cast<int>(decoder_.size()); }
  // The printable BPE string of one id (e.g. "dog</w>").
  const std::string& token_string(int32_t id) const;

 private:
  // Thread-safe memo of bpe() results, shared by copies of this tokenizer (they
  // have the same merges), which keeps Tokenizer copyable and movable.
  struct BpeCache;

  // BPE symbols of one byte-encoded pre-token, the last one ending in "</w>".
  std::vector<std::string> bpe(const std::string& word) const;
  std::vector<std::string> merge_symbols(const std::string& word) const;

  std::unordered_map<std::string, int32_t> encoder_;
  std::vector<std::string> decoder_;
  std::unordered_map<std::string, int> merge_ranks_;    // key: first + ' ' + second
  std::unordered_map<char32_t, uint8_t> byte_decoder_;  // unicode stand-in -> byte
  std::shared_ptr<BpeCache> cache_;
  int32_t sot_ = 0, eot_ = 0;
};

}  // namespace clipscope
