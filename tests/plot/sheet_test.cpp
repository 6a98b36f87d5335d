// Contact sheets: geometry, tile placement, outlines and captions, read back
// from the PNG; crop() on a small image whose pixels encode their position.
#include <gtest/gtest.h>

#include "core/image/image.h"
#include "plot/sheet.h"
#include "support/shared_data.h"

namespace fs = std::filesystem;
using namespace clipscope;
using clipscope::testing::error_message;

namespace {

fs::path temp_png(const std::string& name) {
  static const fs::path dir = clipscope::testing::temp_dir("clipscope-sheet");
  return dir / (name + ".png");
}

Image solid(int width, int height, std::array<uint8_t, 3> colour) {
  Image image{.width = width, .height = height};
  for (int i = 0; i < width * height; ++i) image.rgb.insert(image.rgb.end(), colour.begin(), colour.end());
  return image;
}

bool is(const Image& image, int x, int y, std::array<uint8_t, 3> c) {
  const uint8_t* p = image.pixel(x, y);
  return p[0] == c[0] && p[1] == c[1] && p[2] == c[2];
}

int count(const Image& image, std::array<uint8_t, 3> c, int x0, int y0, int x1, int y1) {
  int n = 0;
  for (int y = y0; y < y1; ++y)
    for (int x = x0; x < x1; ++x) n += is(image, x, y, c);
  return n;
}

// Pixel (x, y) of a 4x3 image holds (10x, 10y, 7).
Image coordinates() {
  Image image{.width = 4, .height = 3};
  for (int y = 0; y < 3; ++y)
    for (int x = 0; x < 4; ++x) image.rgb.insert(image.rgb.end(), {uint8_t(10 * x), uint8_t(10 * y), 7});
  return image;
}

constexpr std::array<uint8_t, 3> kRed{255, 0, 0}, kGrey{128, 128, 128};

}  // namespace

TEST(ContactSheet, SizeFollowsTilesColumnsCaptionsAndTitle) {
  std::vector<plot::Tile> tiles(7, plot::Tile{.image = solid(30, 20, kGrey)});
  plot::write_contact_sheet(temp_png("size"), tiles, 3, 50);
  Image image = read_image(temp_png("size"));
  EXPECT_EQ(image.width, 8 + 3 * 58);
  EXPECT_EQ(image.height, 8 + 3 * 58);

  tiles[2].caption = "#3  12.4\nimg 1023";  // two lines: every cell gets room for two
  plot::write_contact_sheet(temp_png("size-captions"), tiles, 3, 50, "neuron 7");
  image = read_image(temp_png("size-captions"));
  EXPECT_EQ(image.width, 8 + 3 * 58);
  EXPECT_EQ(image.height, plot::sheet_title_height + 8 + 3 * (50 + 2 * plot::caption_line_height + 8));

  tiles.resize(2);  // fewer tiles than columns: no empty columns
  plot::write_contact_sheet(temp_png("size-short"), tiles, 5, 40);
  image = read_image(temp_png("size-short"));
  EXPECT_EQ(image.width, 8 + 2 * 48);
  EXPECT_EQ(image.height, 8 + 48);
}

TEST(ContactSheet, RedTileLandsInItsCell) {
  std::vector<plot::Tile> tiles(6, plot::Tile{.image = solid(40, 40, kGrey)});
  tiles[4].image = solid(100, 50, kRed);  // row 1, column 1; scaled to 50x25, centred vertically
  fs::path png = temp_png("red");
  plot::write_contact_sheet(png, tiles, 3, 50);
  Image image = read_image(png);
  int cell = 8 + 58;
  EXPECT_EQ(count(image, kRed, cell, cell + 12, cell + 50, cell + 37), 50 * 25);
  EXPECT_EQ(count(image, kRed, 0, 0, image.width, image.height), 50 * 25);  // nowhere else
  // The grey tiles keep their exact colour too (scaled 40 -> 50, a constant stays constant).
  EXPECT_EQ(count(image, kGrey, 8, 8, 58, 58), 50 * 50);
}

TEST(ContactSheet, OutlineSurroundsTheScaledBox) {
  std::vector<plot::Tile> tiles{{.image = solid(100, 100, kGrey), .outline = plot::Box{20, 20, 40, 40}}};
  fs::path png = temp_png("outline");
  plot::write_contact_sheet(png, tiles, 5, 50);
  Image image = read_image(png);
  auto colour = plot::outline_colour();
  int x = 8 + 10, y = 8 + 10;                      // box scaled by 0.5: [10, 30) in the tile
  EXPECT_TRUE(is(image, x, y + 10, colour));       // left edge
  EXPECT_TRUE(is(image, x + 19, y + 10, colour));  // right edge
  EXPECT_TRUE(is(image, x + 10, y, colour));       // top edge
  EXPECT_TRUE(is(image, x + 10, y + 19, colour));  // bottom edge
  EXPECT_TRUE(is(image, x + 10, y + 10, kGrey));   // inside stays the image
  EXPECT_TRUE(is(image, x - 1, y + 10, kGrey));    // outside too
  EXPECT_EQ(count(image, colour, 0, 0, image.width, image.height), 20 * 20 - 16 * 16);
}

TEST(ContactSheet, CaptionIsDrawnUnderTheTile) {
  std::vector<plot::Tile> tiles{{.image = solid(50, 50, kGrey), .caption = "#1  9.5  img 12"}};
  fs::path png = temp_png("caption");
  plot::write_contact_sheet(png, tiles, 5, 50);
  Image image = read_image(png);
  int dark = 0;
  for (int y = 58; y < 58 + plot::caption_line_height; ++y)
    for (int x = 8; x < 58; ++x) dark += image.pixel(x, y)[0] < 100;
  EXPECT_GT(dark, 20);
}

TEST(ContactSheet, BadInputIsAClearError) {
  fs::path png = temp_png("bad");
  std::vector<plot::Tile> one{{.image = solid(4, 4, kRed)}};
  std::string m = error_message([&] { plot::write_contact_sheet(png, {}); });
  EXPECT_NE(m.find(png.string() + ": contact sheet: no tiles"), std::string::npos) << m;
  EXPECT_NE(error_message([&] { plot::write_contact_sheet(png, one, 0); }).find("columns"), std::string::npos);
  EXPECT_NE(error_message([&] { plot::write_contact_sheet(png, {plot::Tile{}}); }).find("tile 0 has an empty image"),
            std::string::npos);
  std::vector<plot::Tile> bad_box{{.image = solid(4, 4, kRed), .outline = plot::Box{0, 0, 0, 3}}};
  EXPECT_NE(error_message([&] { plot::write_contact_sheet(png, bad_box); }).find("outline"), std::string::npos);

  fs::path unwritable = "/nonexistent-clipscope-dir/sheet.png";
  m = error_message([&] { plot::write_contact_sheet(unwritable, one); });
  EXPECT_NE(m.find(unwritable.string() + ": cannot write"), std::string::npos) << m;
  EXPECT_FALSE(fs::exists(unwritable));
}

TEST(Crop, ReturnsTheBoxPixels) {
  Image image = coordinates();
  Image part = plot::crop(image, {1, 1, 2, 2});
  ASSERT_EQ(part.width, 2);
  ASSERT_EQ(part.height, 2);
  for (int y = 0; y < 2; ++y)
    for (int x = 0; x < 2; ++x) EXPECT_TRUE(is(part, x, y, {uint8_t(10 * (x + 1)), uint8_t(10 * (y + 1)), 7}));
}

TEST(Crop, ClampsToTheImage) {
  Image image = coordinates();
  Image part = plot::crop(image, {-2, 1, 4, 10});  // columns [0, 2), rows [1, 3)
  ASSERT_EQ(part.width, 2);
  ASSERT_EQ(part.height, 2);
  EXPECT_TRUE(is(part, 0, 0, {0, 10, 7}));
  EXPECT_TRUE(is(part, 1, 1, {10, 20, 7}));
  image.alpha.assign(12, 0);
  image.alpha[4 * 2 + 1] = 99;  // pixel (1, 2) -> (1, 1) in the crop
  part = plot::crop(image, {-2, 1, 4, 10});
  ASSERT_EQ(part.alpha.size(), 4u);
  EXPECT_EQ(part.alpha[3], 99);
}

TEST(Crop, BoxOutsideTheImageIsAnError) {
  Image image = coordinates();
  EXPECT_NE(error_message([&] { plot::crop(image, {4, 0, 2, 2}); }).find("misses the 4x3 image"), std::string::npos);
  EXPECT_NE(error_message([&] { plot::crop(image, {-5, -5, 5, 5}); }), "");
  EXPECT_NE(error_message([&] { plot::crop(image, {1, 1, 0, 1}); }), "");
}
