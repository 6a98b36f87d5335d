// Python's html.unescape (Lib/html/__init__.py) for UTF-8 text. CLIP's
// basic_clean applies it twice, so every detail that changes token ids matters:
// which references are recognised, the 32-character name limit, the longest
// legacy-prefix rule for names without ';', and the replacements for invalid
// numeric references.
//
// Named entities come from libxml2's HTML 4 table rather than a hand-written one.
// Python uses the HTML5 table (2,231 names); the HTML5-only names (e.g. "&Tab;",
// "&NewLine;", "&bigstar;") are left as they are here.
#include <libxml/HTMLparser.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/text/tokenizer.h"

namespace clipscope {
namespace {

constexpr char32_t kReplacementChar = 0xFFFD;

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// Length in bytes of the UTF-8 sequence that starts with `lead` (1 for stray
// bytes, so that scanning always moves forward).
size_t utf8_length(unsigned char lead) {
  if (lead >= 0xF0 && lead < 0xF8) return 4;
  if (lead >= 0xE0) return lead < 0xF0 ? 3 : 1;
  if (lead >= 0xC0) return 2;
  return 1;
}

// HTML5's numeric-reference fix-up for 0x80-0x9F: browsers read those as
// windows-1252 bytes. The five bytes windows-1252 leaves undefined keep their
// C1 code point, as in Python's html._invalid_charrefs.
constexpr std::array<char16_t, 32> kWindows1252C1 = {
    0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,  // 80-87
    0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008D, 0x017D, 0x008F,  // 88-8F
    0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,  // 90-97
    0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178,  // 98-9F
};

// The replacement for a numeric reference &#value; (value already saturated
// above 0x10FFFF), following html._replace_charref.
void append_numeric_reference(std::string& out, uint64_t value) {
  if (value == 0) return append_utf8(out, kReplacementChar);
  if (value == 0x0D) return append_utf8(out, U'\r');
  if (value >= 0x80 && value <= 0x9F) return append_utf8(out, kWindows1252C1[value - 0x80]);
  if ((value >= 0xD800 && value <= 0xDFFF) || value > 0x10FFFF) {
    return append_utf8(out, kReplacementChar);
  }
  // Python drops control characters and noncharacters entirely.
  const bool dropped = (value >= 0x01 && value <= 0x08) || value == 0x0B || (value >= 0x0E && value <= 0x1F) ||
                       value == 0x7F || (value >= 0xFDD0 && value <= 0xFDEF) || (value & 0xFFFE) == 0xFFFE;
  if (!dropped) append_utf8(out, static_cast<char32_t>(value));
}

// Uppercase spellings HTML5 accepts for a few entities that HTML 4 only has in
// lowercase (each with and without ';').
std::string_view uppercase_alias(std::string_view name) {
  if (name == "AMP") return "amp";
  if (name == "LT") return "lt";
  if (name == "GT") return "gt";
  if (name == "QUOT") return "quot";
  if (name == "COPY") return "copy";
  if (name == "REG") return "reg";
  return name;
}

// The code point of entity `name` (without ';'), or 0 when unknown.
// with_semicolon: "&name;" accepts every entity; without it only HTML5's legacy
// names are recognised: the Latin-1 entities (U+00A0-U+00FF) and amp/lt/gt/quot.
char32_t lookup_entity(std::string_view name, bool with_semicolon) {
  if (name.empty() || name.size() > 64) return 0;
  const std::string key(uppercase_alias(name));
  const htmlEntityDesc* entity = htmlEntityLookup(reinterpret_cast<const xmlChar*>(key.c_str()));
  if (entity == nullptr) return 0;
  char32_t value = entity->value;
  // HTML5 moved these two from the deprecated angle brackets to the math ones.
  if (key == "lang") value = 0x27E8;
  if (key == "rang") value = 0x27E9;
  if (with_semicolon) return value;
  const bool legacy = (value >= 0xA0 && value <= 0xFF) || key == "amp" || key == "lt" || key == "gt" || key == "quot";
  return legacy ? value : 0;
}

bool is_ascii_digit(char c) { return c >= '0' && c <= '9'; }
bool is_ascii_hex_digit(char c) { return is_ascii_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
int hex_value(char c) {
  if (is_ascii_digit(c)) return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return c - 'A' + 10;
}

// Tries "#123;" / "#x7B;" at text[pos] (just after '&'). Returns the number of
// bytes consumed, 0 when it is not a numeric reference.
size_t unescape_numeric(std::string_view text, size_t pos, std::string& out) {
  if (pos >= text.size() || text[pos] != '#') return 0;
  size_t i = pos + 1;
  const bool hex =
      i < text.size() && (text[i] == 'x' || text[i] == 'X') && i + 1 < text.size() && is_ascii_hex_digit(text[i + 1]);
  // Python tries the decimal form first: "&#x" never starts one, so order is moot.
  if (hex) {
    ++i;
  } else if (i >= text.size() || !is_ascii_digit(text[i])) {
    return 0;
  }
  constexpr uint64_t kSaturated = 0x110000;  // any value above 0x10FFFF behaves alike
  uint64_t value = 0;
  while (i < text.size() && (hex ? is_ascii_hex_digit(text[i]) : is_ascii_digit(text[i]))) {
    value = value * (hex ? 16 : 10) + (hex ? hex_value(text[i]) : text[i] - '0');
    if (value > kSaturated) value = kSaturated;
    ++i;
  }
  if (i < text.size() && text[i] == ';') ++i;
  append_numeric_reference(out, value);
  return i - pos;
}

// Tries a named reference at text[pos] (just after '&'): up to 32 characters
// that are not \t \n \f space < & # ;, then an optional ';'. Returns the bytes
// consumed (the whole candidate name, even when it is left unchanged), 0 when
// no candidate name starts here.
size_t unescape_named(std::string_view text, size_t pos, std::string& out) {
  constexpr int kMaxNameChars = 32;
  // ends[k] = byte offset just past the name's (k+1)-th character.
  std::array<size_t, kMaxNameChars> ends{};
  int chars = 0;
  size_t i = pos;
  while (i < text.size() && chars < kMaxNameChars) {
    const char c = text[i];
    if (c == '\t' || c == '\n' || c == '\f' || c == ' ' || c == '<' || c == '&' || c == '#' || c == ';') {
      break;
    }
    i = std::min(text.size(), i + utf8_length(static_cast<unsigned char>(c)));
    ends[chars++] = i;
  }
  if (chars == 0) return 0;
  const bool semicolon = i < text.size() && text[i] == ';';
  const size_t end = semicolon ? i + 1 : i;
  const std::string_view name = text.substr(pos, i - pos);

  if (char32_t value = lookup_entity(name, semicolon)) {
    append_utf8(out, value);
    return end - pos;
  }
  // Longest legacy name that is a proper prefix (of at least two characters) of
  // the candidate including its ';'; the rest is kept as text ("&notit;" -> "¬it;").
  const int candidate_chars = chars + (semicolon ? 1 : 0);
  for (int prefix_chars = candidate_chars - 1; prefix_chars >= 2; --prefix_chars) {
    const size_t prefix_end = ends[prefix_chars - 1];
    if (char32_t value = lookup_entity(text.substr(pos, prefix_end - pos), false)) {
      append_utf8(out, value);
      out.append(text.substr(prefix_end, end - prefix_end));
      return end - pos;
    }
  }
  out += '&';
  out.append(text.substr(pos, end - pos));
  return end - pos;
}

}  // namespace

std::string html_unescape(std::string_view text) {
  if (text.find('&') == std::string_view::npos) return std::string(text);
  std::string out;
  out.reserve(text.size());
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t amp = text.find('&', pos);
    if (amp == std::string_view::npos) {
      out.append(text.substr(pos));
      break;
    }
    out.append(text.substr(pos, amp - pos));
    const size_t after = amp + 1;
    size_t consumed = unescape_numeric(text, after, out);
    if (consumed == 0) consumed = unescape_named(text, after, out);
    if (consumed == 0) out += '&';
    pos = after + consumed;
  }
  return out;
}

}  // namespace clipscope
