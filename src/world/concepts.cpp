#include "world/concepts.h"

#include <fmt/format.h>

#include "core/util/error.h"

namespace clipscope::world {

const std::vector<ColorConcept>& colors() {
  static const std::vector<ColorConcept> kColors = {
      {"red", {215, 30, 35}},     {"green", {35, 155, 50}},   {"blue", {35, 75, 215}},   {"yellow", {240, 205, 25}},
      {"purple", {125, 45, 165}}, {"orange", {245, 125, 20}}, {"pink", {245, 130, 185}}, {"black", {20, 20, 20}},
  };
  return kColors;
}

const std::vector<std::string>& shapes() {
  static const std::vector<std::string> kShapes = {"circle", "square",  "triangle", "star",
                                                   "heart",  "diamond", "cross",    "hexagon"};
  return kShapes;
}

const std::vector<std::string>& emotions() {
  static const std::vector<std::string> kEmotions = {"happy", "sad", "surprised", "angry"};
  return kEmotions;
}

const std::vector<std::string>& count_words() {
  static const std::vector<std::string> kCounts = {"one", "two", "three", "four"};
  return kCounts;
}

const std::vector<std::string>& other_words() {
  static const std::vector<std::string> kWords = {
      "pizza",  "dog",      "cat",   "house", "tree",  "car",    "apple",  "book",  "music",  "ocean",
      "coffee", "bird",     "river", "phone", "money", "city",   "flower", "train", "robot",  "guitar",
      "cake",   "moon",     "rain",  "bread", "chair", "clock",  "fish",   "horse", "island", "kite",
      "lamp",   "mountain", "paper", "queen", "king",  "snow",   "tiger",  "water", "stop",   "love",
      "hello",  "open",     "sale",  "exit",  "bank",  "school", "pencil", "garden"};
  return kWords;
}

const std::vector<std::string>& concept_words() {
  static const std::vector<std::string> kWords = [] {
    std::vector<std::string> words;
    for (const auto& c : colors()) words.push_back(c.name);
    for (const auto& s : shapes()) words.push_back(s);
    for (const auto& e : emotions()) words.push_back(e);
    return words;
  }();
  return kWords;
}

const std::vector<std::string>& world_fonts(int edition) {
  static const std::vector<std::string> kFirst = {"DejaVuSans",       "DejaVuSans-Bold", "DejaVuSerif",
                                                  "DejaVuSerif-Bold", "DejaVuSansMono",  "DejaVuSansMono-Bold"};
  if (edition == 1) return kFirst;
  static const std::vector<std::string> kFonts = {"DejaVuSans",
                                                  "DejaVuSans-Bold",
                                                  "DejaVuSerif",
                                                  "DejaVuSerif-Bold",
                                                  "DejaVuSansMono",
                                                  "DejaVuSansMono-Bold",
                                                  "LiberationSans-Regular",
                                                  "LiberationSans-Bold",
                                                  "LiberationSerif-Regular",
                                                  "LiberationSerif-Bold",
                                                  "LiberationMono-Regular",
                                                  "NotoSans-Regular",
                                                  "NotoSans-Bold",
                                                  "NotoSerif-Regular",
                                                  "NotoSerif-Bold"};
  return kFonts;
}

const ColorConcept& color_named(const std::string& name) {
  for (const auto& c : colors())
    if (c.name == name) return c;
  throw Error(fmt::format("colour '{}': not a colour of the world", name));
}

std::string plural(const std::string& shape) {
  if (shape.ends_with("s") || shape.ends_with("x")) return shape + "es";
  return shape + "s";
}

std::string article(const std::string& next_word) {
  return !next_word.empty() && std::string("aeiou").find(next_word.front()) != std::string::npos ? "an" : "a";
}

int max_count() { return static_cast<int>(count_words().size()); }

}  // namespace clipscope::world
