#include "core/text/feeling_wheel.h"

#include <fmt/format.h>

#include <fstream>
#include <set>

#include "core/util/error.h"
#include "core/util/strings.h"

namespace clipscope {

std::vector<FeelingWord> read_feeling_wheel(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw Error(fmt::format("feeling wheel {}: cannot be read", path.string()));
  std::vector<FeelingWord> words;
  std::string core, secondary;
  int line_number = 0;
  for (std::string line; std::getline(in, line);) {
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    const size_t depth = line.find_first_not_of('\t');
    if (depth == std::string::npos) continue;
    const std::string word(trim(ascii_lower(line.substr(depth))));
    if (word.empty()) continue;
    if (depth > 2 || (depth >= 1 && core.empty()) || (depth == 2 && secondary.empty()))
      throw Error(fmt::format("feeling wheel {}: line {} ('{}') is nested {} tabs deep under no parent", path.string(),
                              line_number, word, depth));
    FeelingWord w{word, static_cast<int>(depth), core, secondary};
    if (depth == 0) {
      core = w.core = word;
      secondary.clear();
      w.secondary.clear();
    } else if (depth == 1) {
      secondary = w.secondary = word;
    }
    words.push_back(std::move(w));
  }
  if (words.empty()) throw Error(fmt::format("feeling wheel {}: holds no words", path.string()));
  return words;
}

std::vector<FeelingWord> distinct_feeling_words(const std::vector<FeelingWord>& wheel) {
  std::set<std::string> seen;
  std::vector<FeelingWord> out;
  for (const FeelingWord& w : wheel)
    if (seen.insert(w.word).second) out.push_back(w);
  return out;
}

}  // namespace clipscope
