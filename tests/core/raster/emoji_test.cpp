// Colour emoji: HarfBuzz shapes sequences into the font's one glyph, FreeType
// reads its colour bitmap, and the picture is scaled by area averaging.
#include <gtest/gtest.h>

#include "core/raster/emoji.h"
#include "support/shared_data.h"

namespace clipscope {
namespace {

using clipscope::testing::error_message;

// Mean of the premultiplied channels over the picture.
std::array<double, 4> mean(const RgbaImage& p) {
  std::array<double, 4> m{};
  for (size_t i = 0; i < p.rgba.size(); ++i) m[i % 4] += p.rgba[i];
  for (double& v : m) v /= static_cast<double>(p.width) * p.height;
  return m;
}

TEST(Emoji, RendersAColourBitmapAtTheStrike) {
  EmojiRasterizer font;
  EXPECT_GE(font.strike_size(), 100);
  const RgbaImage face = font.render("\U0001F600");  // grinning face
  EXPECT_GE(face.width, 100);
  EXPECT_GE(face.height, 100);
  // Transparent corners, an opaque yellow middle.
  EXPECT_EQ(face.rgba[3], 0);
  const size_t mid = (static_cast<size_t>(face.height / 2) * face.width + face.width / 4) * 4;
  EXPECT_EQ(face.rgba[mid + 3], 255);
  EXPECT_GT(face.rgba[mid], 200);
  EXPECT_GT(face.rgba[mid + 1], 150);
  EXPECT_LT(face.rgba[mid + 2], 100);
  for (size_t i = 0; i < face.rgba.size(); i += 4)
    for (int k = 0; k < 3; ++k) ASSERT_LE(face.rgba[i + k], face.rgba[i + 3]);  // premultiplied
}

TEST(Emoji, SequencesBecomeOneGlyph) {
  EmojiRasterizer font;
  EXPECT_TRUE(font.has("\U0001F1EF\U0001F1F5"));        // flag: Japan (regional indicators)
  EXPECT_TRUE(font.has("\U0001F9D1\u200D\U0001F680"));  // astronaut (ZWJ sequence)
  EXPECT_TRUE(font.has("\u2764\uFE0F"));                // red heart with the variation selector
  EXPECT_FALSE(font.has("ab"));
  EXPECT_FALSE(font.has(""));
  EXPECT_FALSE(font.has("\U0001F1EF\U0001F1F5\U0001F600"));  // two glyphs
  const std::string message = error_message([&] { font.render("ab"); });
  EXPECT_NE(message.find("'ab'"), std::string::npos) << message;
  EXPECT_NE(message.find("6162"), std::string::npos) << message;
}

TEST(Emoji, DownscaleAveragesAreas) {
  EmojiRasterizer font;
  const RgbaImage big = font.render("\U0001F34E");  // red apple
  const RgbaImage small = font.render("\U0001F34E", 32);
  EXPECT_EQ(std::max(small.width, small.height), 32);
  const auto a = mean(big), b = mean(small);
  for (int k = 0; k < 4; ++k) EXPECT_NEAR(a[static_cast<size_t>(k)], b[static_cast<size_t>(k)], 2.0) << k;
  EXPECT_NE(error_message([] { downscale(RgbaImage{}, 4, 4); }).find("positive"), std::string::npos);
}

TEST(Emoji, AMissingFontIsNamed) {
  const std::string message = error_message([] { EmojiRasterizer font("/nonexistent/Emoji.ttf"); });
  EXPECT_NE(message.find("/nonexistent/Emoji.ttf"), std::string::npos) << message;
  const std::string not_colour =
      error_message([] { EmojiRasterizer font("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"); });
  EXPECT_NE(not_colour.find("colour"), std::string::npos) << not_colour;
}

}  // namespace
}  // namespace clipscope
