#pragma once
// Colour emoji as pictures: Debian's Noto Color Emoji (fonts-noto-color-emoji,
// CBDT bitmaps at one fixed strike) shaped with HarfBuzz, so that sequences
// (flags, ZWJ sequences, keycaps) become the one glyph the font draws for them,
// and scaled down by area averaging. The synthetic world draws its objects,
// faces, flags and symbols with it.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string_view>
#include <vector>

namespace clipscope {

// An 8-bit RGBA picture with premultiplied alpha (rgba[i * 4 + 3] = coverage).
struct RgbaImage {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> rgba;
};

// Owns a FreeType face and a HarfBuzz font of the colour emoji font. Not
// thread-safe: give every thread its own EmojiRasterizer.
class EmojiRasterizer {
 public:
  // font: empty means $CLIPSCOPE_EMOJI_FONT, else
  // /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf. Throws Error naming the file
  // when it is missing or not a colour bitmap font.
  explicit EmojiRasterizer(std::filesystem::path font = {});
  ~EmojiRasterizer();
  EmojiRasterizer(EmojiRasterizer&&) noexcept;
  EmojiRasterizer& operator=(EmojiRasterizer&&) noexcept;

  // Whether the font draws the UTF-8 sequence as a single glyph of its own.
  bool has(std::string_view utf8);
  // The emoji at the font's strike (136 x 128 px for Noto), then scaled so that its
  // larger side is `max_side` pixels (<= the strike; 0 keeps the strike).
  // Throws Error naming the sequence when the font has no single glyph for it.
  RgbaImage render(std::string_view utf8, int max_side = 0);
  // The pixel size of the font's bitmap strike (its em square).
  int strike_size() const;
  const std::filesystem::path& font() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Area-averaging downscale of a premultiplied RGBA picture to width x height
// (each output pixel the mean of the source area it covers).
RgbaImage downscale(const RgbaImage& source, int width, int height);

}  // namespace clipscope
