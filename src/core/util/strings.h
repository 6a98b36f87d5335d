#pragma once
// Small string helpers shared by every library.
#include <string>
#include <string_view>
#include <vector>

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

// ASCII lower case (other bytes, such as UTF-8 sequences, unchanged).
inline std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

}  // namespace clipscope
