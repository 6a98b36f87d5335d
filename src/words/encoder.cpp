#include "words/encoder.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <sstream>

#include "core/model/points.h"
#include "core/model/tensor_io.h"
#include "core/util/error.h"
#include "core/util/strings.h"

namespace clipscope::words {

namespace {

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string part; std::getline(in, part, sep);) out.push_back(part);
  return out;
}

std::string code_point_text(char32_t cp) { return fmt::format("U+{:04X}", static_cast<uint32_t>(cp)); }

}  // namespace

nlohmann::json WordStyle::to_json() const {
  nlohmann::json p = nlohmann::json::array();
  for (const auto& xy : positions) p.push_back({xy[0], xy[1]});
  return {{"canvas", canvas}, {"sizes", sizes}, {"positions", p},          {"font", font},
          {"stroke", stroke}, {"ink", ink},     {"background", background}};
}

WordStyle WordStyle::from_json(const nlohmann::json& j) {
  WordStyle s;
  try {
    s.canvas = j.at("canvas").get<int>();
    s.sizes = j.at("sizes").get<std::vector<double>>();
    s.positions.clear();
    for (const auto& xy : j.at("positions")) s.positions.push_back({xy.at(0).get<double>(), xy.at(1).get<double>()});
    s.font = j.at("font").get<std::string>();
    s.stroke = j.at("stroke").get<double>();
    s.ink = j.at("ink").get<Rgb>();
    s.background = j.at("background").get<Rgb>();
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("word style {}: {}", j.dump(), e.what()));
  }
  s.validate();
  return s;
}

void WordStyle::validate() const {
  if (canvas < 8 || canvas > 4096) throw ArgumentError("canvas", std::to_string(canvas), "must be 8 to 4096 pixels");
  if (sizes.empty()) throw ArgumentError("sizes", "", "needs at least one size");
  for (double s : sizes)
    if (!(s > 0) || s > canvas)
      throw ArgumentError("sizes", fmt::format("{}", s),
                          fmt::format("must be between 0 and the canvas side ({})", canvas));
  if (positions.empty()) throw ArgumentError("positions", "", "needs at least one position");
  for (const auto& [x, y] : positions)
    if (!(x >= 0 && x <= 1 && y >= 0 && y <= 1))
      throw ArgumentError("positions", fmt::format("{},{}", x, y), "must be fractions of the canvas side in [0, 1]");
  if (!(stroke >= 0) || stroke > 50) throw ArgumentError("stroke", fmt::format("{}", stroke), "must be 0 to 50 pixels");
}

std::vector<double> parse_sizes(const std::string& spec) {
  std::vector<double> sizes;
  for (const auto& part : split(spec, ',')) {
    const auto size = to_number<double>(trim(part));
    if (!size) throw ArgumentError("sizes", spec, fmt::format("'{}' is not a number", part));
    sizes.push_back(*size);
  }
  if (sizes.empty()) throw ArgumentError("sizes", spec, "expected sizes in pixels, e.g. 16,20,24");
  return sizes;
}

std::vector<std::array<double, 2>> parse_positions(const std::string& spec) {
  if (spec == "center" || spec == "centre") return {{0.5, 0.5}};
  const auto x = spec.find('x');
  if (x != std::string::npos && spec.find(',') == std::string::npos) {
    const int rows = to_number<int>(std::string_view(spec).substr(0, x)).value_or(0);
    const int columns = to_number<int>(std::string_view(spec).substr(x + 1)).value_or(0);
    if (rows < 1 || columns < 1 || rows > 16 || columns > 16)
      throw ArgumentError("positions", spec, "a grid is ROWSxCOLUMNS, each 1 to 16 (e.g. 3x3)");
    // Centres of a rows x columns grid of equal cells.
    std::vector<std::array<double, 2>> out;
    for (int r = 0; r < rows; ++r)
      for (int c = 0; c < columns; ++c) out.push_back({(c + 0.5) / columns, (r + 0.5) / rows});
    return out;
  }
  std::vector<std::array<double, 2>> out;
  for (const auto& pair : split(spec, ';')) {
    const auto xy = split(pair, ',');
    if (xy.size() != 2)
      throw ArgumentError("positions", spec, "expected center, a grid like 3x3, or x,y;x,y fractions");
    const auto x = to_number<double>(trim(xy[0])), y = to_number<double>(trim(xy[1]));
    if (!x || !y) throw ArgumentError("positions", spec, fmt::format("'{}' is not a pair of numbers", pair));
    out.push_back({*x, *y});
  }
  return out;
}

std::string word_problem(TextRasterizer& raster, const std::string& word, const WordStyle& style) {
  if (word.find_first_not_of(" \t\r") == std::string::npos) return "empty";
  const auto missing = raster.missing_glyphs(word, style.font);
  if (!missing.empty()) {
    if (missing.front() == 0xFFFD) return "not valid UTF-8";
    return fmt::format("font {} has no glyph for {}", style.font, code_point_text(missing.front()));
  }
  const double largest = *std::max_element(style.sizes.begin(), style.sizes.end());
  TextStyle text;
  text.font = style.font;
  text.size = largest;
  text.stroke = style.stroke;
  const PixelBox box = raster.measure(word, text);
  if (box.empty()) return "draws no ink";
  if (box.width() > style.canvas)
    return fmt::format("{} px wide at size {}, wider than the {}-px canvas", box.width(), largest, style.canvas);
  return "";
}

Image render_word(TextRasterizer& raster, const std::string& word, const WordStyle& style, double size,
                  std::array<double, 2> position) {
  Image canvas = blank_image(style.canvas, style.canvas, style.background);
  TextStyle text;
  text.font = style.font;
  text.size = size;
  text.stroke = style.stroke;
  text.color = style.ink;
  raster.draw(canvas, word, text, {position[0] * style.canvas, position[1] * style.canvas});
  return canvas;
}

WordEncoder::WordEncoder(CLIP& model, const std::string& layer, WordStyle style, int batch_size)
    : model_(model), style_(std::move(style)), batch_size_(batch_size) {
  style_.validate();
  if (batch_size_ < 1) throw ArgumentError("batch_size", std::to_string(batch_size_), "must be positive");
  layer_ = model_->resolve_point(layer);
  // One blank canvas tells the layer's width (and that the layer is a per-image point).
  const torch::Tensor probe = run({blank_image(style_.canvas, style_.canvas, style_.background)});
  units_ = probe.size(1);
}

torch::Tensor WordEncoder::run(const std::vector<Image>& images) {
  torch::NoGradGuard no_grad;
  ActivationCache cache({layer_});
  const auto n_px = static_cast<int>(model_->config().image_resolution);
  model_->run_image(preprocess_batch(images, n_px, model_->config().normalization).to(model_->device()), cache);
  const Layout layout = cache.layout(layer_);
  if (layout == Layout::Pattern) throw Error(fmt::format("layer {}: attention patterns have no units", layer_));
  return reduce_positions(cache[layer_], layout, Reduce::Mean).to(torch::kCPU, torch::kFloat32);
}

torch::Tensor WordEncoder::encode(const std::vector<std::string>& words) { return encode(words, {}); }

torch::Tensor WordEncoder::encode(const std::vector<std::string>& words, const std::function<void(int64_t)>& progress) {
  const int per_word = style_.images_per_word();
  const auto n = static_cast<int64_t>(words.size());
  torch::Tensor out = torch::empty({n, units_}, torch::kFloat32);
  // Whole words per batch, so a word's renderings are reduced together.
  const int64_t words_per_batch = std::max<int64_t>(1, batch_size_ / per_word);
  std::vector<Image> images;
  for (int64_t first = 0; first < n; first += words_per_batch) {
    const int64_t last = std::min(n, first + words_per_batch);
    images.clear();
    for (int64_t w = first; w < last; ++w)
      for (double size : style_.sizes)
        for (const auto& position : style_.positions)
          images.push_back(render_word(raster_, words[static_cast<size_t>(w)], style_, size, position));
    const torch::Tensor acts = run(images).view({last - first, static_cast<int64_t>(style_.sizes.size()),
                                                 static_cast<int64_t>(style_.positions.size()), units_});
    // Max over positions (where on the canvas the word excites the unit most), mean over sizes.
    out.slice(0, first, last).copy_(std::get<0>(acts.max(2)).mean(1));
    if (progress) progress(last);
  }
  return out;
}

}  // namespace clipscope::words
