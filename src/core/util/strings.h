#pragma once
// Small string helpers shared by every library: the one trim, split and number
// parser of clipscope.
#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <vector>

#include "core/util/error.h"

namespace clipscope {

// The first line of a message (c10 errors carry backtraces on later lines),
// shortened to `max_length` characters with "..." when longer.
inline std::string first_line(std::string_view message, size_t max_length = 200) {
  std::string line(message.substr(0, message.find('\n')));
  if (line.size() > max_length) line = line.substr(0, max_length) + "...";
  return line;
}

// The pieces of `s` between `sep`s (empty pieces kept: "a,,b" -> "a", "", "b").
inline std::vector<std::string> split(std::string_view s, char sep) {
  std::vector<std::string> parts;
  for (size_t start = 0;;) {
    const size_t end = s.find(sep, start);
    parts.emplace_back(s.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
    if (end == std::string_view::npos) return parts;
    start = end + 1;
  }
}

// `s` without the ASCII white space (space, tab, CR, LF, VT, FF) at either end.
inline std::string_view trim(std::string_view s) {
  constexpr std::string_view kSpace = " \t\r\n\v\f";
  const size_t first = s.find_first_not_of(kSpace);
  if (first == std::string_view::npos) return {};
  return s.substr(first, s.find_last_not_of(kSpace) - first + 1);
}

// `s` with ASCII letters in lower case (other bytes, UTF-8 included, unchanged).
inline std::string lower_ascii(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

// `s` safe inside HTML text and attribute values (& < > " ').
inline std::string html_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

namespace detail {
template <typename T>
std::errc parse_number(std::string_view text, T& value) {
  static_assert(std::is_arithmetic_v<T> && !std::is_same_v<T, bool>);
  const char* first = text.data();
  const char* last = text.data() + text.size();
  if (first != last && *first == '+' && last - first > 1 && first[1] != '-') ++first;  // "+5" as 5, as strtod reads it
  if (first == last) return std::errc::invalid_argument;
  const auto [end, ec] = std::from_chars(first, last, value);
  if (ec != std::errc()) return ec;
  if (end != last) return std::errc::invalid_argument;
  if constexpr (std::is_floating_point_v<T>)
    if (!std::isfinite(value)) return std::errc::invalid_argument;
  return std::errc();
}
}  // namespace detail

// The whole of `text` as a number of type T (decimal; a leading '+' allowed; no
// white space, no trailing characters; a finite value for floating point), or
// nullopt when it is not one or is out of T's range.
template <typename T>
std::optional<T> to_number(std::string_view text) {
  T value{};
  if (detail::parse_number(text, value) != std::errc()) return std::nullopt;
  return value;
}

// As to_number, but throws Error naming the value: "{what} '{text}': not an
// integer" (or "not a number", or "out of range").
template <typename T>
T parse_number(std::string_view text, std::string_view what) {
  T value{};
  const std::errc ec = detail::parse_number(text, value);
  if (ec == std::errc::result_out_of_range) throw Error(fmt::format("{} '{}': out of range", what, text));
  if (ec != std::errc())
    throw Error(fmt::format("{} '{}': {}", what, text, std::is_integral_v<T> ? "not an integer" : "not a number"));
  return value;
}

// ASCII lower case (other bytes, such as UTF-8 sequences, unchanged).
inline std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

}  // namespace clipscope
