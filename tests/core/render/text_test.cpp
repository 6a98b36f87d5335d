// Text rasterization: placement, size, colour, rotation, fonts, clipping, errors.
// Needs FreeType and the DejaVu fonts (fonts-dejavu-core, installed by scripts/install-deps.sh).
#include "core/render/text.h"

#include <gtest/gtest.h>

#include <cstdlib>

#include "support/shared_data.h"

namespace fs = std::filesystem;
using clipscope::blank_image;
using clipscope::Error;
using clipscope::Image;
using clipscope::parse_color;
using clipscope::PixelBox;
using clipscope::Rgb;
using clipscope::TextPlacement;
using clipscope::TextRasterizer;
using clipscope::TextStyle;
using clipscope::testing::error_message;

namespace {

const fs::path kDejaVu = "/usr/share/fonts/truetype/dejavu";
const Rgb kWhite{255, 255, 255};

TextStyle style(const std::string& font, double size, Rgb color = {0, 0, 0}, double rotation = 0.0) {
  TextStyle s;
  s.font = font;
  s.size = size;
  s.color = color;
  s.rotation = rotation;
  return s;
}

// The rasterizer of the default font directory (fails loudly when DejaVu is missing).
TextRasterizer rasterizer() {
  TextRasterizer r(kDejaVu);
  return r;
}

bool same_pixel(const Image& img, int x, int y, Rgb c) {
  const uint8_t* p = img.pixel(x, y);
  return p[0] == c[0] && p[1] == c[1] && p[2] == c[2];
}

// Every pixel outside `box` still has colour `bg`; returns how many do not.
int changed_outside(const Image& img, const PixelBox& box, Rgb bg) {
  int changed = 0;
  for (int y = 0; y < img.height; ++y)
    for (int x = 0; x < img.width; ++x) {
      const bool inside = x >= box.x0 && x < box.x1 && y >= box.y0 && y < box.y1;
      if (!inside && !same_pixel(img, x, y, bg)) ++changed;
    }
  return changed;
}

// The bounding box of pixels that differ from `bg` (may be smaller than the ink
// box: faint coverage can round back to the background).
PixelBox changed_box(const Image& img, Rgb bg) {
  PixelBox b{img.width, img.height, 0, 0};
  for (int y = 0; y < img.height; ++y)
    for (int x = 0; x < img.width; ++x)
      if (!same_pixel(img, x, y, bg)) {
        b.x0 = std::min(b.x0, x), b.y0 = std::min(b.y0, y);
        b.x1 = std::max(b.x1, x + 1), b.y1 = std::max(b.y1, y + 1);
      }
  return b;
}

// Darkness-weighted centroid of black-on-white ink, in continuous pixel coordinates.
std::pair<double, double> ink_centroid(const Image& img) {
  double sum = 0, sx = 0, sy = 0;
  for (int y = 0; y < img.height; ++y)
    for (int x = 0; x < img.width; ++x) {
      const double w = 255.0 - img.pixel(x, y)[0];
      sum += w, sx += w * (x + 0.5), sy += w * (y + 0.5);
    }
  return {sx / sum, sy / sum};
}

}  // namespace

TEST(TextRender, BoxIsCentredOnThePlacement) {
  auto r = rasterizer();
  for (auto [x, y] : {std::pair{80.0, 50.0}, {80.5, 50.25}, {61.3, 47.9}}) {
    Image img = blank_image(160, 100, kWhite);
    const PixelBox box = r.draw(img, "Hello", style("DejaVuSans", 24), {x, y});
    ASSERT_FALSE(box.empty());
    EXPECT_GT(box.width(), 30);
    EXPECT_GT(box.height(), 12);
    EXPECT_NEAR(0.5 * (box.x0 + box.x1), x, 1.0) << x;
    EXPECT_NEAR(0.5 * (box.y0 + box.y1), y, 1.0) << y;
    EXPECT_EQ(changed_outside(img, box, kWhite), 0);
    const PixelBox changed = changed_box(img, kWhite);
    EXPECT_GE(changed.x0, box.x0);
    EXPECT_LE(changed.x1, box.x1);
    EXPECT_GE(changed.y0, box.y0);
    EXPECT_LE(changed.y1, box.y1);
    EXPECT_GT(changed.width(), box.width() - 3);  // the box is not much bigger than the visible ink
  }
}

TEST(TextRender, MeasureMatchesTheDrawnBox) {
  auto r = rasterizer();
  const auto s = style("DejaVuSerif", 20);
  const PixelBox m = r.measure("Typography", s);
  Image img = blank_image(200, 80, kWhite);
  const PixelBox d = r.draw(img, "Typography", s, {100, 40});
  ASSERT_FALSE(m.empty());
  EXPECT_NEAR(m.width(), d.width(), 1);
  EXPECT_NEAR(m.height(), d.height(), 1);
}

TEST(TextRender, SubPixelPlacementMovesTheInk) {
  auto r = rasterizer();
  const auto s = style("DejaVuSans", 18);
  Image a = blank_image(96, 64, kWhite), b = blank_image(96, 64, kWhite);
  r.draw(a, "moon", s, {48.0, 32.0});
  r.draw(b, "moon", s, {48.25, 32.5});
  EXPECT_NE(a.rgb, b.rgb);
  const auto [ax, ay] = ink_centroid(a);
  const auto [bx, by] = ink_centroid(b);
  EXPECT_NEAR(bx - ax, 0.25, 0.06);
  EXPECT_NEAR(by - ay, 0.5, 0.06);
}

TEST(TextRender, LargerSizeGivesLargerBox) {
  auto r = rasterizer();
  const PixelBox small = r.measure("apple", style("DejaVuSans", 16));
  const PixelBox big = r.measure("apple", style("DejaVuSans", 32));
  ASSERT_FALSE(small.empty());
  EXPECT_GT(big.width(), small.width() * 3 / 2);
  EXPECT_GT(big.height(), small.height() * 3 / 2);
  EXPECT_NEAR(big.width(), 2 * small.width(), 3);
}

TEST(TextRender, InkHasTheRequestedColourAndBackgroundIsUntouched) {
  auto r = rasterizer();
  const Rgb bg{10, 200, 30}, fg{200, 30, 160};
  Image img = blank_image(128, 128, bg);
  const PixelBox box = r.draw(img, "I", style("DejaVuSans-Bold", 80, fg), {64, 64});
  ASSERT_FALSE(box.empty());
  EXPECT_GE(box.width(), 8);   // a bold stem at 80 px is about 12 px wide
  EXPECT_GE(box.height(), 50);
  // The middle of the stem is fully covered: exactly the text colour.
  const int cx = (box.x0 + box.x1) / 2, cy = (box.y0 + box.y1) / 2;
  for (int dy = -20; dy <= 20; dy += 5)
    EXPECT_TRUE(same_pixel(img, cx, cy + dy, fg)) << "y " << cy + dy;
  EXPECT_EQ(changed_outside(img, box, bg), 0);
  // Inside the box every channel lies between background and text colour.
  for (int y = box.y0; y < box.y1; ++y)
    for (int x = box.x0; x < box.x1; ++x)
      for (int k = 0; k < 3; ++k) {
        const int v = img.pixel(x, y)[k];
        EXPECT_GE(v, std::min(bg[k], fg[k]));
        EXPECT_LE(v, std::max(bg[k], fg[k]));
      }
}

TEST(TextRender, RotationBy90SwapsWidthAndHeight) {
  auto r = rasterizer();
  const PixelBox flat = r.measure("Hello world", style("DejaVuSans", 24));
  const PixelBox up = r.measure("Hello world", style("DejaVuSans", 24, {0, 0, 0}, 90));
  const PixelBox tilted = r.measure("Hello world", style("DejaVuSans", 24, {0, 0, 0}, 30));
  ASSERT_FALSE(flat.empty());
  EXPECT_GT(flat.width(), 2 * flat.height());
  EXPECT_NEAR(up.width(), flat.height(), 2);
  EXPECT_NEAR(up.height(), flat.width(), 2);
  EXPECT_GT(tilted.height(), flat.height() + 20);
  EXPECT_LT(tilted.width(), flat.width());

  // Drawn rotated, the box is still centred.
  Image img = blank_image(100, 240, kWhite);
  const PixelBox box = r.draw(img, "Hello world", style("DejaVuSans", 24, {0, 0, 0}, 90), {50, 120});
  EXPECT_NEAR(box.width(), up.width(), 1);
  EXPECT_NEAR(box.height(), up.height(), 1);
  EXPECT_NEAR(0.5 * (box.x0 + box.x1), 50, 1.0);
  EXPECT_NEAR(0.5 * (box.y0 + box.y1), 120, 1.0);

  // Counter-clockwise: an "L" (stem on the left, foot at the bottom) turns into
  // a shape with its stem along the bottom and its foot up the right side.
  Image l = blank_image(80, 80, kWhite);
  const PixelBox lb = r.draw(l, "L", style("DejaVuSans-Bold", 48, {0, 0, 0}, 90), {40, 40});
  ASSERT_FALSE(lb.empty());
  auto dark_fraction = [&](bool row, int at) {
    int dark = 0, n = 0;
    for (int i = row ? lb.x0 : lb.y0; i < (row ? lb.x1 : lb.y1); ++i, ++n)
      dark += (row ? l.pixel(i, at) : l.pixel(at, i))[0] < 128;
    return static_cast<double>(dark) / n;
  };
  auto edge = [&](bool row, int from, int step) {  // the darkest of the 3 lines at an edge
    double best = 0;
    for (int k = 0; k < 3; ++k) best = std::max(best, dark_fraction(row, from + k * step));
    return best;
  };
  EXPECT_GT(edge(true, lb.y1 - 1, -1), 0.8);   // bottom rows: the stem
  EXPECT_LT(edge(true, lb.y0, 1), 0.5);        // top rows: the foot's end only
  EXPECT_GT(edge(false, lb.x1 - 1, -1), 0.8);  // right columns: the foot
  EXPECT_LT(edge(false, lb.x0, 1), 0.5);       // left columns: the stem's end only
}

TEST(TextRender, DifferentFontsGiveDifferentPixels) {
  auto r = rasterizer();
  Image sans = blank_image(160, 64, kWhite), serif = blank_image(160, 64, kWhite), mono = blank_image(160, 64, kWhite);
  r.draw(sans, "banana", style("DejaVuSans", 24), {80, 32});
  r.draw(serif, "banana", style("DejaVuSerif", 24), {80, 32});
  r.draw(mono, "banana", style("DejaVuSansMono", 24), {80, 32});
  EXPECT_NE(sans.rgb, serif.rgb);
  EXPECT_NE(sans.rgb, mono.rgb);
  EXPECT_NE(serif.rgb, mono.rgb);
}

TEST(TextRender, FontByPathEqualsFontByName) {
  auto r = rasterizer();
  Image by_name = blank_image(96, 64, kWhite), by_path = blank_image(96, 64, kWhite);
  r.draw(by_name, "cat", style("DejaVuSerif-Bold", 20), {48, 32});
  r.draw(by_path, "cat", style((kDejaVu / "DejaVuSerif-Bold.ttf").string(), 20), {48, 32});
  EXPECT_EQ(by_name.rgb, by_path.rgb);
}

TEST(TextRender, UnknownFontIsAnErrorNamingIt) {
  auto r = rasterizer();
  Image img = blank_image(64, 64, kWhite);
  const std::string msg = error_message([&] { r.draw(img, "x", style("DejaVuFoo", 16), {32, 32}); });
  EXPECT_NE(msg.find("font DejaVuFoo: not found in " + kDejaVu.string()), std::string::npos) << msg;
  EXPECT_NE(msg.find("DejaVuSans-Bold"), std::string::npos) << msg;  // lists what there is
  EXPECT_EQ(msg.find('\n'), std::string::npos);
  const std::string path_msg = error_message([&] { r.measure("x", style("/nonexistent/Foo.ttf", 16)); });
  EXPECT_NE(path_msg.find("/nonexistent/Foo.ttf"), std::string::npos) << path_msg;
  // A file that is not a font.
  const auto dir = clipscope::testing::temp_dir("clipscope-render");
  clipscope::testing::write_file(dir / "Broken.ttf", "this is not a font");
  const std::string broken = error_message([&] { r.measure("x", style((dir / "Broken.ttf").string(), 16)); });
  EXPECT_NE(broken.find("Broken.ttf: cannot be opened"), std::string::npos) << broken;
  EXPECT_TRUE(changed_box(img, kWhite).empty());
  // Bad sizes.
  EXPECT_NE(error_message([&] { r.measure("x", style("DejaVuSans", 0)); }).find("size"), std::string::npos);
}

TEST(TextRender, FontDirectoryAndAvailableFonts) {
  auto r = rasterizer();
  const auto fonts = r.available_fonts();
  EXPECT_TRUE(std::is_sorted(fonts.begin(), fonts.end()));
  for (const char* name : {"DejaVuSans", "DejaVuSans-Bold", "DejaVuSerif", "DejaVuSansMono"})
    EXPECT_NE(std::find(fonts.begin(), fonts.end(), name), fonts.end()) << name;

  // $CLIPSCOPE_FONT_DIR replaces the default directory.
  const auto empty = clipscope::testing::temp_dir("clipscope-fonts");
  ::setenv("CLIPSCOPE_FONT_DIR", empty.c_str(), 1);
  TextRasterizer from_env;
  ::unsetenv("CLIPSCOPE_FONT_DIR");
  EXPECT_TRUE(from_env.available_fonts().empty());
  const std::string msg = error_message([&] { from_env.measure("x", style("DejaVuSans", 16)); });
  EXPECT_NE(msg.find("font DejaVuSans: not found in " + empty.string()), std::string::npos) << msg;
  TextRasterizer dflt;
  EXPECT_FALSE(dflt.measure("x", style("DejaVuSans", 16)).empty());
}

TEST(TextRender, ParseColor) {
  EXPECT_EQ(parse_color("black"), (Rgb{0, 0, 0}));
  EXPECT_EQ(parse_color("white"), (Rgb{255, 255, 255}));
  EXPECT_EQ(parse_color("red"), (Rgb{255, 0, 0}));
  EXPECT_EQ(parse_color("green"), (Rgb{0, 128, 0}));
  EXPECT_EQ(parse_color("lime"), (Rgb{0, 255, 0}));
  EXPECT_EQ(parse_color("orange"), (Rgb{255, 165, 0}));
  EXPECT_EQ(parse_color("pink"), (Rgb{255, 192, 203}));
  EXPECT_EQ(parse_color("Grey"), parse_color("gray"));
  EXPECT_EQ(parse_color("#1a2B3c"), (Rgb{26, 43, 60}));
  EXPECT_EQ(parse_color("10,20,255"), (Rgb{10, 20, 255}));
  EXPECT_EQ(parse_color(" 10, 20 ,30 "), (Rgb{10, 20, 30}));
  for (const char* bad : {"blurple", "#12345", "#12345g", "1,2", "1,2,3,4", "256,0,0", "1,,2", "", "#"}) {
    const std::string msg = error_message([&] { parse_color(bad); });
    EXPECT_EQ(msg, std::string("colour \"") + bad + "\": not a colour name, #rrggbb or r,g,b") << bad;
  }
}

TEST(TextRender, Deterministic) {
  auto r1 = rasterizer();
  TextRasterizer r2(kDejaVu);
  const auto s = style("DejaVuSans-Oblique", 17.5, {30, 60, 90}, 17);
  Image a = blank_image(96, 96, kWhite), b = blank_image(96, 96, kWhite), c = blank_image(96, 96, kWhite);
  const PixelBox ba = r1.draw(a, "Stroop", s, {47.3, 45.8});
  r1.draw(c, "other", style("DejaVuSerif", 12), {40, 40});  // switching faces and sizes in between
  c = blank_image(96, 96, kWhite);
  const PixelBox bc = r1.draw(c, "Stroop", s, {47.3, 45.8});
  const PixelBox bb = r2.draw(b, "Stroop", s, {47.3, 45.8});
  EXPECT_EQ(a.rgb, b.rgb);
  EXPECT_EQ(a.rgb, c.rgb);
  EXPECT_EQ(ba.x0, bb.x0);
  EXPECT_EQ(ba.y1, bc.y1);
}

TEST(TextRender, ClipsAtTheCanvasEdge) {
  // A single round letter: ink is continuous across its box (words have gaps between letters).
  auto r = rasterizer();
  Image img = blank_image(64, 64, kWhite);
  const PixelBox full = r.measure("O", style("DejaVuSans-Bold", 40));
  const PixelBox box = r.draw(img, "O", style("DejaVuSans-Bold", 40), {2, 3});
  ASSERT_FALSE(box.empty());
  EXPECT_EQ(box.x0, 0);
  EXPECT_EQ(box.y0, 0);
  EXPECT_NEAR(box.x1, 2 + full.width() / 2.0, 1.0);
  EXPECT_NEAR(box.y1, 3 + full.height() / 2.0, 1.0);
  EXPECT_EQ(changed_outside(img, box, kWhite), 0);
  // Bottom-right corner too, rotated.
  Image img2 = blank_image(64, 64, kWhite);
  const PixelBox box2 = r.draw(img2, "O", style("DejaVuSans-Bold", 40, {0, 0, 0}, 45), {62.5, 63});
  ASSERT_FALSE(box2.empty());
  EXPECT_EQ(box2.x1, 64);
  EXPECT_EQ(box2.y1, 64);
  EXPECT_LT(box2.x0, 62 - 5);
  EXPECT_EQ(changed_outside(img2, box2, kWhite), 0);
  // A word running off both sides stays inside the canvas.
  Image img4 = blank_image(64, 64, kWhite);
  const PixelBox box4 = r.draw(img4, "supercalifragilistic", style("DejaVuSans", 30), {32, 32});
  EXPECT_GE(box4.x0, 0);
  EXPECT_LE(box4.x1, 64);
  EXPECT_GT(box4.width(), 55);
  // Entirely outside: nothing drawn.
  Image img3 = blank_image(64, 64, kWhite);
  EXPECT_TRUE(r.draw(img3, "away", style("DejaVuSans", 30), {-500, 20}).empty());
  EXPECT_TRUE(r.draw(img3, "away", style("DejaVuSans", 30), {20, 1e6}).empty());
  EXPECT_TRUE(changed_box(img3, kWhite).empty());
}

TEST(TextRender, EmptyAndWhitespaceTextDrawNothing) {
  auto r = rasterizer();
  Image img = blank_image(64, 64, kWhite);
  for (const char* text : {"", " ", "   \t", "\n"}) {
    EXPECT_TRUE(r.draw(img, text, style("DejaVuSans", 20), {32, 32}).empty()) << "'" << text << "'";
    EXPECT_TRUE(r.measure(text, style("DejaVuSans", 20)).empty());
  }
  EXPECT_TRUE(changed_box(img, kWhite).empty());
  // Spaces count in the layout between words: "a b" is wider than "ab".
  EXPECT_GT(r.measure("a b", style("DejaVuSans", 20)).width(), r.measure("ab", style("DejaVuSans", 20)).width() + 3);
}

TEST(TextRender, Utf8AndKerning) {
  auto r = rasterizer();
  // Non-ASCII letters have glyphs in DejaVu and draw like their look-alikes.
  const PixelBox e = r.measure("e", style("DejaVuSans", 40));
  const PixelBox e_acute = r.measure("\xC3\xA9", style("DejaVuSans", 40));  // é
  EXPECT_NEAR(e_acute.width(), e.width(), 1);
  EXPECT_GT(e_acute.height(), e.height());
  // DejaVu kerns "AV": the pair is narrower than its letters' advances suggest.
  const PixelBox av = r.measure("AV", style("DejaVuSans", 60));
  const PixelBox a = r.measure("A", style("DejaVuSans", 60));
  const PixelBox v = r.measure("V", style("DejaVuSans", 60));
  EXPECT_LT(av.width(), a.width() + v.width());
  // Malformed UTF-8 does not crash.
  EXPECT_FALSE(r.measure(std::string("ab\xFF\xC3", 4), style("DejaVuSans", 20)).empty());
}

TEST(TextRender, BlankImage) {
  const Image img = blank_image(7, 5, {1, 2, 3});
  EXPECT_EQ(img.width, 7);
  EXPECT_EQ(img.height, 5);
  ASSERT_EQ(img.rgb.size(), 7u * 5 * 3);
  for (int y = 0; y < 5; ++y)
    for (int x = 0; x < 7; ++x) EXPECT_TRUE(same_pixel(img, x, y, {1, 2, 3}));
  EXPECT_NE(error_message([] { blank_image(-1, 5, {0, 0, 0}); }).find("-1"), std::string::npos);
}
