// CLIP's tokenizer (openai/CLIP clip/simple_tokenizer.py), reimplemented so
// that token ids match the Python code exactly:
//   text -> html.unescape twice -> strip -> collapse whitespace -> str.lower()
//        -> CLIP's split regex -> UTF-8 bytes of each piece mapped to printable
//        stand-in characters -> BPE with the merges file's ranks -> vocabulary ids.
// ftfy.fix_text, which CLIP applies first, is deliberately not applied: it is a
// heuristic mojibake repairer with no C++ equivalent, and the reference fixtures
// were generated with it stubbed out. Besides repairing mojibake it straightens
// curly quotes, splits Latin ligatures, narrows fullwidth characters and applies
// NFC, so text with those can get other ids than CLIP-with-ftfy gives.
#include "core/text/tokenizer.h"

#include <fmt/format.h>
#include <unicode/locid.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>
#include <unicode/utf8.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <climits>
#include <mutex>
#include <string_view>
#include <system_error>

#include "core/util/error.h"

namespace clipscope {

struct Tokenizer::BpeCache {
  // Python's cache is unbounded; this bound only keeps a long-running process
  // that tokenizes endless distinct words from growing without limit.
  static constexpr size_t kMaxWords = 1 << 18;
  std::mutex mutex;
  std::unordered_map<std::string, std::vector<std::string>> words;
};

namespace {

constexpr std::string_view kStartOfText = Tokenizer::kStartOfText;
constexpr std::string_view kEndOfText = Tokenizer::kEndOfText;
constexpr std::string_view kEndOfWord = "</w>";
// Byte symbols and byte symbols + "</w>", then merges, then the two specials.
constexpr int kNonMergeTokens = 256 * 2 + 2;

void append_utf8(std::string& out, UChar32 cp) {
  char buffer[U8_MAX_LENGTH];
  int32_t length = 0;
  U8_APPEND_UNSAFE(buffer, length, cp);
  out.append(buffer, static_cast<size_t>(length));
}

// Code points of UTF-8 text; malformed sequences become U+FFFD (one per maximal
// invalid subsequence, as Python's errors="replace" does).
std::u32string decode_utf8(std::string_view text) {
  std::u32string out;
  out.reserve(text.size());
  const auto* bytes = reinterpret_cast<const uint8_t*>(text.data());
  const auto length = static_cast<int32_t>(text.size());
  for (int32_t i = 0; i < length;) {
    UChar32 cp = 0;
    U8_NEXT(bytes, i, length, cp);
    out += static_cast<char32_t>(cp < 0 ? 0xFFFD : cp);
  }
  return out;
}

std::string encode_utf8(std::u32string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char32_t cp : text) append_utf8(out, static_cast<UChar32>(cp));
  return out;
}

// ---- Python's character classes, from ICU's Unicode properties ---------------

// str.isspace() (used by str.strip()): bidirectional class WS, B or S, or
// category Zs; this includes U+001C..U+001F, which White_Space lacks.
bool is_python_space(UChar32 c) {
  if (u_charType(c) == U_SPACE_SEPARATOR) return true;
  const UCharDirection direction = u_charDirection(c);
  return direction == U_WHITE_SPACE_NEUTRAL || direction == U_BLOCK_SEPARATOR || direction == U_SEGMENT_SEPARATOR;
}

// The `regex` module's \s, \p{L} and \p{N}.
bool is_regex_space(UChar32 c) { return u_isUWhiteSpace(c) != 0; }
bool is_letter(UChar32 c) { return (U_GET_GC_MASK(c) & U_GC_L_MASK) != 0; }
bool is_number(UChar32 c) { return (U_GET_GC_MASK(c) & U_GC_N_MASK) != 0; }

// [^\s\p{L}\p{N}] under IGNORECASE: the `regex` module rejects a character when
// any of its case variants is in the class, so e.g. U+0345 (a combining mark
// whose uppercase is a Greek letter) matches neither this class nor \p{L}.
bool is_other(UChar32 c) {
  const std::array<UChar32, 5> variants = {c, u_tolower(c), u_toupper(c), u_totitle(c),
                                           u_foldCase(c, U_FOLD_CASE_DEFAULT)};
  for (UChar32 v : variants) {
    if (is_regex_space(v) || is_letter(v) || is_number(v)) return false;
  }
  return true;
}

// A pattern literal (lowercase ASCII) against text under IGNORECASE, which the
// `regex` module implements with simple case folding ("'ſ" matches "'s").
size_t match_literal(std::u32string_view text, size_t pos, std::string_view literal) {
  if (text.size() - pos < literal.size()) return 0;
  for (size_t k = 0; k < literal.size(); ++k) {
    const UChar32 c = static_cast<UChar32>(text[pos + k]);
    if (u_foldCase(c, U_FOLD_CASE_DEFAULT) != static_cast<UChar32>(literal[k])) return 0;
  }
  return literal.size();
}

// Length of the match of CLIP's pattern
//   <\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
// at text[pos] (first alternative that matches, as a backtracking engine
// takes it), or 0 when none does (only at whitespace).
size_t match_piece(std::u32string_view text, size_t pos) {
  static constexpr std::array<std::string_view, 9> kLiterals = {kStartOfText, kEndOfText, "'s",  "'t", "'re",
                                                                "'ve",        "'m",       "'ll", "'d"};
  for (std::string_view literal : kLiterals) {
    if (size_t length = match_literal(text, pos, literal)) return length;
  }
  const auto run_of = [&](bool (*in_class)(UChar32)) {
    size_t end = pos;
    while (end < text.size() && in_class(static_cast<UChar32>(text[end]))) ++end;
    return end - pos;
  };
  if (size_t length = run_of(is_letter)) return length;
  if (is_number(static_cast<UChar32>(text[pos]))) return 1;
  return run_of(is_other);
}

// basic_clean (without ftfy) + whitespace_clean + lower(). CLIP imports the
// `regex` module as `re`, so whitespace_clean collapses White_Space runs while
// str.strip() removes the wider str.isspace() set: U+001C..U+001F are stripped
// at the ends but stay (and become pieces) inside the text.
std::u32string clean_text(std::string_view text) {
  const std::u32string unescaped = decode_utf8(html_unescape(html_unescape(text)));
  size_t begin = 0;
  size_t end = unescaped.size();
  while (begin < end && is_python_space(static_cast<UChar32>(unescaped[begin]))) ++begin;
  while (end > begin && is_python_space(static_cast<UChar32>(unescaped[end - 1]))) --end;
  // The ends are not White_Space now, so collapsing cannot create new ones and
  // whitespace_clean's second strip() has nothing left to do.
  icu::UnicodeString collapsed;
  for (size_t i = begin; i < end; ++i) {
    const auto c = static_cast<UChar32>(unescaped[i]);
    if (!is_regex_space(c)) {
      collapsed.append(c);
    } else if (i == begin || !is_regex_space(static_cast<UChar32>(unescaped[i - 1]))) {
      collapsed.append(static_cast<UChar>(u' '));
    }
  }
  // str.lower(): full lowercase mappings (e.g. U+0130 -> "i\u0307") and the
  // final-sigma rule, without locale tailoring.
  collapsed.toLower(icu::Locale::getRoot());
  std::u32string out;
  out.reserve(static_cast<size_t>(collapsed.length()));
  for (int32_t i = 0; i < collapsed.length();) {
    const UChar32 c = collapsed.char32At(i);
    out += static_cast<char32_t>(c);
    i += U16_LENGTH(c);
  }
  return out;
}

// CLIP's bytes_to_unicode: printable Latin-1 bytes stand for themselves, the
// other 68 bytes get U+0100 onwards in byte order. Returns the stand-ins in
// CLIP's vocabulary order (the printable bytes first).
std::vector<std::pair<uint8_t, char32_t>> byte_stand_ins() {
  std::vector<std::pair<uint8_t, char32_t>> pairs;
  std::array<bool, 256> printable{};
  for (int b = 0; b < 256; ++b) {
    printable[b] = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    if (printable[b]) pairs.emplace_back(static_cast<uint8_t>(b), static_cast<char32_t>(b));
  }
  char32_t next = 256;
  for (int b = 0; b < 256; ++b) {
    if (!printable[b]) pairs.emplace_back(static_cast<uint8_t>(b), next++);
  }
  return pairs;
}

// byte -> UTF-8 of its unicode stand-in.
const std::array<std::string, 256>& byte_encoder() {
  static const std::array<std::string, 256> table = [] {
    std::array<std::string, 256> out;
    for (const auto& [byte, stand_in] : byte_stand_ins()) append_utf8(out[byte], static_cast<UChar32>(stand_in));
    return out;
  }();
  return table;
}

// The whole file, gunzipped when it is gzip'd (zlib reads plain files as they are).
std::string read_merges_file(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    throw Error(fmt::format("merges file {}: not found", path.string()));
  }
  if (std::filesystem::is_directory(path, ec)) {
    throw Error(fmt::format("merges file {}: is a directory", path.string()));
  }
  gzFile file = gzopen(path.c_str(), "rb");
  if (file == nullptr) {
    throw Error(fmt::format("merges file {}: cannot be opened", path.string()));
  }
  std::string content;
  std::array<char, 1 << 16> buffer{};
  int errnum = Z_OK;
  for (;;) {
    const int n = gzread(file, buffer.data(), static_cast<unsigned>(buffer.size()));
    if (n <= 0) {
      const char* message = gzerror(file, &errnum);
      if (n < 0 || errnum != Z_OK) {
        const std::string reason = message != nullptr ? message : "read error";
        gzclose(file);
        throw Error(fmt::format("merges file {}: corrupt gzip data ({})", path.string(), reason));
      }
      break;
    }
    content.append(buffer.data(), static_cast<size_t>(n));
  }
  if (gzclose(file) != Z_OK) {
    throw Error(fmt::format("merges file {}: truncated or corrupt gzip data", path.string()));
  }
  return content;
}

std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  size_t start = 0;
  for (;;) {
    const size_t end = text.find('\n', start);
    if (end == std::string_view::npos) {
      lines.push_back(text.substr(start));
      return lines;
    }
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
}

// Python's line.split(): the symbols of a merge line (they never contain
// whitespace, since the byte stand-ins are all printable).
std::vector<std::string_view> split_symbols(std::string_view line) {
  std::vector<std::string_view> symbols;
  size_t pos = 0;
  const auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; };
  while (pos < line.size()) {
    while (pos < line.size() && is_space(line[pos])) ++pos;
    const size_t start = pos;
    while (pos < line.size() && !is_space(line[pos])) ++pos;
    if (pos > start) symbols.push_back(line.substr(start, pos - start));
  }
  return symbols;
}

// Up to `max_chars` characters of `text` on one line, for error messages.
std::string shorten_for_message(std::string_view text, size_t max_chars = 40) {
  const std::u32string chars = decode_utf8(text);
  std::u32string shown = chars.substr(0, max_chars);
  for (char32_t& c : shown) {
    if (c < 0x20 || c == 0x7F) c = U' ';
  }
  std::string out = encode_utf8(shown);
  if (chars.size() > max_chars) out += "...";
  return out;
}

}  // namespace

std::vector<std::string> bpe_words(std::string_view text) {
  const std::u32string cleaned = clean_text(text);
  const auto& encoder = byte_encoder();
  std::vector<std::string> words;
  std::string piece_bytes;
  for (size_t pos = 0; pos < cleaned.size();) {
    const size_t length = match_piece(cleaned, pos);
    if (length == 0) {  // whitespace between pieces
      ++pos;
      continue;
    }
    piece_bytes = encode_utf8(std::u32string_view(cleaned).substr(pos, length));
    pos += length;
    std::string& word = words.emplace_back();
    for (char byte : piece_bytes) word += encoder[static_cast<uint8_t>(byte)];
  }
  return words;
}

std::vector<std::string> bpe_symbols(std::string_view word) {
  // One symbol per stand-in character; the last carries the end-of-word mark.
  std::vector<std::string> symbols;
  for (size_t pos = 0; pos < word.size();) {
    size_t length = 1;
    const auto lead = static_cast<uint8_t>(word[pos]);
    if (lead >= 0xC0) length = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
    symbols.emplace_back(word.substr(pos, length));
    pos += length;
  }
  if (!symbols.empty()) symbols.back() += kEndOfWord;
  return symbols;
}

Tokenizer::Tokenizer(const std::filesystem::path& merges, int vocab_size) : cache_(std::make_shared<BpeCache>()) {
  const std::string file = merges.string();
  if (vocab_size != 0 && vocab_size < kNonMergeTokens) {
    throw Error(
        fmt::format("merges file {}: vocab_size {} is below the minimum {} (bytes, bytes + </w>, "
                    "start and end tokens; 0 means every merge in the file)",
                    file, vocab_size, kNonMergeTokens));
  }
  const std::string content = read_merges_file(merges);
  const auto* bytes = reinterpret_cast<const uint8_t*>(content.data());
  const auto length = static_cast<int32_t>(content.size());
  for (int32_t i = 0; i < length;) {
    UChar32 cp = 0;
    const int32_t start = i;
    U8_NEXT(bytes, i, length, cp);
    if (cp <= 0) {  // malformed UTF-8 or a NUL byte: binary data, not a merges file
      throw Error(fmt::format("merges file {}: not a merges file (binary data at byte {})", file, start));
    }
  }
  const std::vector<std::string_view> lines = split_lines(content);
  if (lines.front().find("#version") == std::string_view::npos) {
    throw Error(fmt::format("merges file {}: not a merges file (its first line has no '#version' header)", file));
  }

  // As CLIP: merges = lines[1 : vocab_size - 512 - 2 + 1]; vocab_size 0: all of them.
  size_t available = lines.size() - 1;
  if (available > 0 && lines.back().empty()) --available;  // the final newline
  if (vocab_size == 0 && available > static_cast<size_t>(INT_MAX - kNonMergeTokens)) {
    throw Error(fmt::format("merges file {}: has {} merges, more than a vocabulary can hold", file, available));
  }
  const int merge_count = vocab_size == 0 ? static_cast<int>(available) : vocab_size - kNonMergeTokens;
  if (available < static_cast<size_t>(merge_count)) {
    throw Error(
        fmt::format("merges file {}: has {} merges, vocab_size {} needs {}", file, available, vocab_size, merge_count));
  }

  const auto stand_ins = byte_stand_ins();
  const auto& byte_encoder_table = byte_encoder();
  decoder_.reserve(static_cast<size_t>(merge_count + kNonMergeTokens));
  for (const auto& [byte, stand_in] : stand_ins) {
    byte_decoder_[stand_in] = byte;
    decoder_.push_back(byte_encoder_table[byte]);
  }
  for (const auto& [byte, stand_in] : stand_ins) {
    decoder_.push_back(byte_encoder_table[byte] + std::string(kEndOfWord));
  }

  merge_ranks_.reserve(static_cast<size_t>(merge_count));
  for (int rank = 0; rank < merge_count; ++rank) {
    const auto symbols = split_symbols(lines[static_cast<size_t>(rank) + 1]);
    if (symbols.size() != 2) {
      throw Error(fmt::format("merges file {}: not a merges file (line {} is not a pair of symbols)", file, rank + 2));
    }
    std::string key;
    key.reserve(symbols[0].size() + symbols[1].size() + 1);
    key.append(symbols[0]).append(" ").append(symbols[1]);
    merge_ranks_[key] = rank;  // a repeated pair keeps its last rank, as Python's dict does
    decoder_.push_back(std::string(symbols[0]) + std::string(symbols[1]));
  }
  decoder_.emplace_back(kStartOfText);
  decoder_.emplace_back(kEndOfText);

  encoder_.reserve(decoder_.size());
  for (size_t id = 0; id < decoder_.size(); ++id) {
    encoder_[decoder_[id]] = static_cast<int32_t>(id);  // a repeated string keeps its last id
  }
  sot_ = encoder_.at(std::string(kStartOfText));
  eot_ = encoder_.at(std::string(kEndOfText));
}

std::vector<std::string> Tokenizer::merge_symbols(const std::string& word) const {
  std::vector<std::string> symbols = bpe_symbols(word);
  std::string key;
  std::vector<std::string> merged;
  while (symbols.size() > 1) {
    // The adjacent pair with the lowest merge rank...
    int best_rank = INT_MAX;
    size_t best = 0;
    for (size_t i = 0; i + 1 < symbols.size(); ++i) {
      key.assign(symbols[i]).append(" ").append(symbols[i + 1]);
      const auto found = merge_ranks_.find(key);
      if (found != merge_ranks_.end() && found->second < best_rank) {
        best_rank = found->second;
        best = i;
      }
    }
    if (best_rank == INT_MAX) break;
    // ...is merged at every non-overlapping occurrence, left to right.
    const std::string first = symbols[best];
    const std::string second = symbols[best + 1];
    merged.clear();
    for (size_t i = 0; i < symbols.size();) {
      if (i + 1 < symbols.size() && symbols[i] == first && symbols[i + 1] == second) {
        merged.push_back(first + second);
        i += 2;
      } else {
        merged.push_back(std::move(symbols[i]));
        i += 1;
      }
    }
    symbols.swap(merged);
  }
  return symbols;
}

std::vector<std::string> Tokenizer::bpe(const std::string& word) const {
  // CLIP seeds its cache with the special tokens so they are never split.
  if (word == kStartOfText || word == kEndOfText) return {word};
  if (cache_ != nullptr) {
    std::lock_guard lock(cache_->mutex);
    const auto found = cache_->words.find(word);
    if (found != cache_->words.end()) return found->second;
  }
  std::vector<std::string> symbols = merge_symbols(word);
  if (cache_ != nullptr) {
    std::lock_guard lock(cache_->mutex);
    if (cache_->words.size() >= BpeCache::kMaxWords) cache_->words.clear();
    cache_->words.emplace(word, symbols);
  }
  return symbols;
}

std::vector<int32_t> Tokenizer::encode(std::string_view text) const {
  std::vector<int32_t> ids;
  for (const std::string& word : bpe_words(text)) {
    for (const std::string& symbol : bpe(word)) {
      const auto found = encoder_.find(symbol);
      if (found == encoder_.end()) {  // only possible with an inconsistent merges file
        throw Error(fmt::format("tokenizer: BPE symbol \"{}\" is not in the vocabulary", symbol));
      }
      ids.push_back(found->second);
    }
  }
  return ids;
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids) const {
  std::string bytes;
  for (int32_t id : ids) {
    const std::string& symbol = token_string(id);
    const auto* data = reinterpret_cast<const uint8_t*>(symbol.data());
    const auto length = static_cast<int32_t>(symbol.size());
    for (int32_t i = 0; i < length;) {
      UChar32 cp = 0;
      U8_NEXT(data, i, length, cp);
      const auto found = byte_decoder_.find(static_cast<char32_t>(cp));
      if (cp < 0 || found == byte_decoder_.end()) {
        throw Error(fmt::format("tokenizer: token {} (\"{}\") has a character that is not a byte symbol", id, symbol));
      }
      bytes += static_cast<char>(found->second);
    }
  }
  // bytes.decode("utf-8", errors="replace").replace("</w>", " ")
  const std::string text = encode_utf8(decode_utf8(bytes));
  std::string out;
  out.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) {
    const size_t mark = text.find(kEndOfWord, pos);
    if (mark == std::string::npos) {
      out.append(text, pos, std::string::npos);
      break;
    }
    out.append(text, pos, mark - pos).append(" ");
    pos = mark + kEndOfWord.size();
  }
  return out;
}

std::vector<int32_t> Tokenizer::tokenize(std::string_view text, int context_length, bool truncate) const {
  if (context_length < 1) {
    throw Error(fmt::format("tokenize: context length {} must be at least 1", context_length));
  }
  const std::vector<int32_t> ids = encode(text);
  std::vector<int32_t> tokens;
  tokens.reserve(std::max(ids.size() + 2, static_cast<size_t>(context_length)));
  tokens.push_back(sot_);
  tokens.insert(tokens.end(), ids.begin(), ids.end());
  tokens.push_back(eot_);
  const auto limit = static_cast<size_t>(context_length);
  if (tokens.size() > limit) {
    if (!truncate) {
      throw Error(fmt::format("text \"{}\" has {} tokens (with start and end), more than the context length {}",
                              shorten_for_message(text), tokens.size(), context_length));
    }
    tokens.resize(limit);
    tokens.back() = eot_;
  }
  tokens.resize(limit, 0);
  return tokens;
}

const std::string& Tokenizer::token_string(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= decoder_.size()) {
    throw Error(fmt::format("tokenizer: token id {} is outside the vocabulary of {}", id, decoder_.size()));
  }
  return decoder_[static_cast<size_t>(id)];
}

}  // namespace clipscope
