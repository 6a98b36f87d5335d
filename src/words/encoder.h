#pragma once
// Words as a CLIP image tower sees them: each word rasterized (black on white,
// DejaVuSans, as the CLIP-circuits follow-up did), run through the model to one
// layer, reduced to one value per unit (spatial mean), max over the word's
// positions on the canvas, averaged over font sizes. Everything the words
// capability does (the difference engine, the word databases, image-based word
// embeddings, region maps) starts here.
#include <torch/types.h>

#include <array>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/image/image.h"
#include "core/model/clip.h"
#include "core/raster/text.h"

namespace clipscope::words {

// How a word becomes images. Defaults: the follow-up's 224-px white canvas with
// the word centred in black DejaVuSans 20 px, stroke 2.
struct WordStyle {
  int canvas = 224;                                             // square canvas side, pixels (then CLIP-preprocessed)
  std::vector<double> sizes = {20};                             // font sizes (px); activations are averaged over them
  std::vector<std::array<double, 2>> positions = {{0.5, 0.5}};  // word centres, fractions of the side; max over them
  std::string font = "DejaVuSans";
  double stroke = 2;
  Rgb ink{0, 0, 0}, background{255, 255, 255};

  int images_per_word() const { return static_cast<int>(sizes.size() * positions.size()); }
  nlohmann::json to_json() const;
  // The inverse of to_json (a word set's stored style); throws Error naming a bad field.
  static WordStyle from_json(const nlohmann::json& j);
  // Throws Error naming the bad field (non-positive canvas or size, position outside [0, 1], ...).
  void validate() const;
};

// "20" or "16,20,24" -> sizes; throws Error naming the option.
std::vector<double> parse_sizes(const std::string& spec);
// "center", "RxC" (a grid of R rows by C columns of centres, e.g. 3x3) or
// "x,y;x,y;..." (fractions of the canvas side); throws Error naming the option.
std::vector<std::array<double, 2>> parse_positions(const std::string& spec);

// Why `word` cannot be rasterized in `style` (empty, malformed UTF-8, a character
// the font lacks, wider than the canvas at the largest size), or "" when it can.
std::string word_problem(TextRasterizer& raster, const std::string& word, const WordStyle& style);

// One rendering of `word`: `size` px, centred at `position` (fractions of the side).
Image render_word(TextRasterizer& raster, const std::string& word, const WordStyle& style, double size,
                  std::array<double, 2> position);

class WordEncoder {
 public:
  // layer: any point name the model knows (canonical or alias), e.g. visual.layer4.
  WordEncoder(CLIP& model, const std::string& layer, WordStyle style, int batch_size = 32);

  const std::string& layer() const { return layer_; }  // canonical name
  int64_t units() const { return units_; }
  const WordStyle& style() const { return style_; }
  // (words, units) float32 on the CPU. Every word must be renderable (see word_problem).
  torch::Tensor encode(const std::vector<std::string>& words);
  // Calls back after every model batch with the number of words finished so far.
  torch::Tensor encode(const std::vector<std::string>& words, const std::function<void(int64_t)>& progress);

 private:
  torch::Tensor run(const std::vector<Image>& images);
  CLIP& model_;
  std::string layer_;
  WordStyle style_;
  int batch_size_;
  int64_t units_ = 0;
  TextRasterizer raster_;
};

}  // namespace clipscope::words
