#pragma once
// The concepts of the synthetic world: what its images can show and its captions
// can say. Every analysis checked on the demo model refers to these names.
#include <string>
#include <vector>

#include "core/raster/text.h"

namespace clipscope::world {

struct ColorConcept {
  std::string name;
  Rgb rgb;
};

const std::vector<ColorConcept>& colors();      // red, green, blue, yellow, purple, orange, pink, black
const std::vector<std::string>& shapes();       // circle, square, triangle, star, heart, diamond, cross, hexagon
const std::vector<std::string>& emotions();     // happy, sad, surprised, angry
const std::vector<std::string>& count_words();  // one .. four (index = count - 1)
const std::vector<std::string>& other_words();  // everyday words that are not concepts (pizza, dog, ...)
// Words whose meaning the world can show: colours, shapes and emotions.
const std::vector<std::string>& concept_words();
// The faces written words are drawn in: DejaVu, Liberation and Noto (Debian's
// fonts-dejavu-core, fonts-liberation and fonts-noto-core, so the world is the same
// wherever clipscope is installed).
// The first edition wrote in DejaVu's six faces only (edition 1).
const std::vector<std::string>& world_fonts(int edition = 2);

const ColorConcept& color_named(const std::string& name);  // throws Error for unknown names
std::string plural(const std::string& shape);              // "cross" -> "crosses"
std::string article(const std::string& next_word);         // "an" before "orange", else "a"
int max_count();                                           // 4

}  // namespace clipscope::world
