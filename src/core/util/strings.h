#pragma once
// Small string helpers shared by every library.
#include <string>
#include <string_view>

namespace clipscope {

// The first line of a message (c10 errors carry backtraces on later lines),
// shortened to `max_length` characters with "..." when longer.
inline std::string first_line(std::string_view message, size_t max_length = 200) {
  std::string line(message.substr(0, message.find('\n')));
  if (line.size() > max_length) line = line.substr(0, max_length) + "...";
  return line;
}

}  // namespace clipscope
