#pragma once
// The feeling wheel (Willcox 1982) as the Multimodal Neurons article uses it: seven
// core emotions, each with secondary words and those with tertiary words. The file
// (../shared/data/words/feeling_wheel.tsv) holds one word per line, its depth given
// by leading tabs (0 core, 1 secondary, 2 tertiary); '#' lines are comments.
#include <filesystem>
#include <string>
#include <vector>

namespace clipscope {

struct FeelingWord {
  std::string word;       // lower case, as written in the file otherwise
  int level = 0;          // 0 core, 1 secondary, 2 tertiary
  std::string core;       // its core emotion (itself for a core word)
  std::string secondary;  // its secondary word (itself for a secondary word; empty for a core word)
};

// Every line of the wheel in file order (a word listed under two cores appears twice).
// Throws Error naming the file when it cannot be read, when a line is deeper than its
// parent allows, or when it holds no words.
std::vector<FeelingWord> read_feeling_wheel(const std::filesystem::path& path);

// Each word of the wheel once (its first line), in wheel order.
std::vector<FeelingWord> distinct_feeling_words(const std::vector<FeelingWord>& wheel);

}  // namespace clipscope
