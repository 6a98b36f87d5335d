#pragma once
// Text rasterization with FreeType and the DejaVu fonts (Debian's fonts-dejavu):
// the one way clipscope turns words into pixels, shared by the synthetic world,
// the word databases, typographic attacks and the Stroop test. No shaping
// (HarfBuzz) is done: glyphs are laid out left to right with kerning, which is
// what CLIP-paper word rasterization needs for Latin text.
#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/image/image.h"

namespace clipscope {

using Rgb = std::array<uint8_t, 3>;

// Parses "black", "white", "red", ... (the CSS basic names), "#rrggbb" or "r,g,b";
// throws Error naming the colour otherwise.
Rgb parse_color(std::string_view spec);

struct TextStyle {
  // A face name ("DejaVuSans", "LiberationSerif-Bold", "NotoSans-Regular", ...) or a path to a .ttf/.otf file.
  std::string font = "DejaVuSans";
  double size = 32.0;  // pixel size of the em square
  Rgb color{0, 0, 0};
  double rotation = 0.0;  // degrees, counter-clockwise, about the text's centre
  double stroke = 0.0;    // pixels the glyph outlines are thickened by on every side (PIL's stroke_width); 0 = none
};

// Where text goes on a canvas: its ink bounding box is centred on (x, y), in
// pixels (fractional positions are honoured with sub-pixel accuracy).
struct TextPlacement {
  double x = 0.0;
  double y = 0.0;
};

// The box of pixels that received ink, [x0, x1) x [y0, y1); empty when nothing was drawn.
struct PixelBox {
  int x0 = 0, y0 = 0, x1 = 0, y1 = 0;
  bool empty() const { return x1 <= x0 || y1 <= y0; }
  int width() const { return x1 - x0; }
  int height() const { return y1 - y0; }
};

// Owns a FreeType library and the faces it has opened. Not thread-safe (FreeType
// faces are not): give every thread its own TextRasterizer.
class TextRasterizer {
 public:
  // font_dir: where face names are looked up; empty means $CLIPSCOPE_FONT_DIR (a
  // colon-separated list), else Debian's DejaVu, Liberation and Noto folders
  // (/usr/share/fonts/truetype/{dejavu,liberation,noto}), in that order.
  explicit TextRasterizer(std::filesystem::path font_dir = {});
  ~TextRasterizer();
  TextRasterizer(TextRasterizer&&) noexcept;
  TextRasterizer& operator=(TextRasterizer&&) noexcept;

  // Face names available in the font directories (file stems, sorted), e.g. "DejaVuSans".
  std::vector<std::string> available_fonts() const;

  // The characters of `utf8` that `font` has no glyph for (they would draw as
  // boxes), each once, in order; U+FFFD stands for malformed UTF-8 and comes first.
  std::vector<char32_t> missing_glyphs(std::string_view utf8, const std::string& font);

  // The ink box the text would have (after rotation), in pixels relative to the
  // pen origin of its first glyph (y down); what matters is its width() and
  // height(). Unless it clips, draw() gives a box of the same size to within a
  // pixel at any placement (sub-pixel shifts move the anti-aliased fringe).
  // Empty for empty or whitespace-only text. Throws Error like draw().
  PixelBox measure(std::string_view utf8, const TextStyle& style);

  // Blends the text onto the canvas with anti-aliased coverage c (unhinted
  // outlines, so sub-pixel positions and rotations are exact): each inked pixel
  // becomes bg + (colour - bg) * c / 255, rounded (the canvas keeps
  // its pixels where there is no ink; ink outside the canvas is clipped) and
  // returns the box of pixels that received ink, clipped to the canvas.
  // Without stroke every glyph is blended in turn; with stroke, the glyphs'
  // coverages are combined by their maximum and blended once (as PIL does), so
  // neighbours that the stroke makes overlap do not darken each other.
  // Throws Error naming the font when it cannot be found or opened.
  PixelBox draw(Image& canvas, std::string_view utf8, const TextStyle& style, TextPlacement where);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Outlined text (the typographic attack's style: white letters with a dark edge):
// the text stroked `outline_width` pixels on every side in `outline`, then filled
// in style.color over it (style.stroke is ignored). Returns the fill's ink box; the
// outline extends it by about outline_width on every side.
PixelBox draw_outlined(TextRasterizer& raster, Image& canvas, std::string_view utf8, const TextStyle& style,
                       Rgb outline, double outline_width, TextPlacement where);

// A new canvas of the given size and background colour.
Image blank_image(int width, int height, Rgb background);

}  // namespace clipscope
