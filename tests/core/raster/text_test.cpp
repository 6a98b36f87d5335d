// Text rasterization: placement, size, colour, rotation, fonts, clipping, errors.
// Needs FreeType and the DejaVu fonts (fonts-dejavu-core, installed by scripts/install-deps.sh).
#include "core/raster/text.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <tuple>

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
  EXPECT_GE(box.width(), 8);  // a bold stem at 80 px is about 12 px wide
  EXPECT_GE(box.height(), 50);
  // The middle of the stem is fully covered: exactly the text colour.
  const int cx = (box.x0 + box.x1) / 2, cy = (box.y0 + box.y1) / 2;
  for (int dy = -20; dy <= 20; dy += 5) EXPECT_TRUE(same_pixel(img, cx, cy + dy, fg)) << "y " << cy + dy;
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

namespace {

TextStyle stroked(TextStyle s, double stroke) {
  s.stroke = stroke;
  return s;
}

int inked_pixels(const Image& img, Rgb bg) {
  int n = 0;
  for (int y = 0; y < img.height; ++y)
    for (int x = 0; x < img.width; ++x) n += !same_pixel(img, x, y, bg);
  return n;
}

// Draws the text unstroked and stroked with the same pen origin (draw() centres
// each ink box, and the two boxes' centres may differ by half a pixel).
std::pair<Image, Image> plain_and_stroked(TextRasterizer& r, const std::string& text, const TextStyle& s, double stroke,
                                          int w, int h) {
  const PixelBox mu = r.measure(text, s), ms = r.measure(text, stroked(s, stroke));
  Image plain = blank_image(w, h, kWhite), thick = blank_image(w, h, kWhite);
  r.draw(plain, text, s, {w / 2.0, h / 2.0});
  r.draw(thick, text, stroked(s, stroke),
         {w / 2.0 + 0.5 * (ms.x0 + ms.x1 - mu.x0 - mu.x1), h / 2.0 + 0.5 * (ms.y0 + ms.y1 - mu.y0 - mu.y1)});
  return {std::move(plain), std::move(thick)};
}

}  // namespace

TEST(TextStroke, ThickensTheInkOnEverySide) {
  auto r = rasterizer();
  const auto s = style("DejaVuSans", 20);
  const PixelBox m0 = r.measure("hello", s), m2 = r.measure("hello", stroked(s, 2));
  ASSERT_FALSE(m0.empty());
  EXPECT_NEAR(m2.width() - m0.width(), 4, 1);
  EXPECT_NEAR(m2.height() - m0.height(), 4, 1);

  Image a = blank_image(224, 224, kWhite), b = blank_image(224, 224, kWhite);
  const PixelBox d0 = r.draw(a, "hello", s, {112, 112});
  const PixelBox d2 = r.draw(b, "hello", stroked(s, 2), {112, 112});
  EXPECT_NEAR(d2.width() - d0.width(), 4, 1);
  EXPECT_NEAR(d2.height() - d0.height(), 4, 1);
  EXPECT_NEAR(d2.width(), m2.width(), 1);
  EXPECT_NEAR(d2.height(), m2.height(), 1);
  EXPECT_GT(inked_pixels(b, kWhite), inked_pixels(a, kWhite) * 3 / 2);
  EXPECT_EQ(changed_outside(b, d2, kWhite), 0);
}

TEST(TextStroke, InkLiesWithinTheStrokeOfTheGlyphsAndCoversIt) {
  // The published setting (black DejaVuSans 20 px, stroke 2): every pixel whose
  // square lies within the stroke of a fully inked glyph pixel is fully inked (no
  // specks where the stroke closes counters or gaps), and no ink lies farther out
  // than the stroke and the anti-aliased fringe.
  auto r = rasterizer();
  const double stroke = 2;
  for (double rotation : {0.0, 30.0})
    for (const char* text : {"abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "0123456789@&%$#?!"}) {
      auto [plain, thick] = plain_and_stroked(r, text, style("DejaVuSans", 20, {0, 0, 0}, rotation), stroke, 400, 224);
      int hollow = 0, stray = 0;
      const int R = 4;
      for (int y = R; y < plain.height - R; ++y)
        for (int x = R; x < plain.width - R; ++x) {
          const int v = thick.pixel(x, y)[0];
          double nearest = 1e9;  // to the centre of a plain pixel with any ink / with full ink
          bool full_near = false;
          for (int dy = -R; dy <= R; ++dy)
            for (int dx = -R; dx <= R; ++dx) {
              const int p = plain.pixel(x + dx, y + dy)[0];
              if (p == 255) continue;
              const double dist = std::hypot(dx, dy);
              nearest = std::min(nearest, dist);
              if (p == 0 && dist <= stroke - 0.75) full_near = true;
            }
          hollow += full_near && v != 0;
          stray += v != 255 && nearest > stroke + 1.5;
        }
      EXPECT_EQ(hollow, 0) << text << " at " << rotation;
      EXPECT_EQ(stray, 0) << text << " at " << rotation;
      EXPECT_EQ(changed_box(plain, kWhite).x0 - changed_box(thick, kWhite).x0, 2) << text << " at " << rotation;
    }
}

TEST(TextStroke, StaysCentredOnThePlacement) {
  auto r = rasterizer();
  for (double rotation : {0.0, 30.0, 90.0})
    for (auto [x, y] : {std::pair{112.0, 112.0}, {100.5, 120.25}, {97.3, 104.9}}) {
      const auto s = stroked(style("DejaVuSans", 20, {0, 0, 0}, rotation), 2);
      Image img = blank_image(224, 224, kWhite);
      const PixelBox box = r.draw(img, "neuron", s, {x, y});
      ASSERT_FALSE(box.empty());
      EXPECT_NEAR(0.5 * (box.x0 + box.x1), x, 1.0) << rotation << " " << x;
      EXPECT_NEAR(0.5 * (box.y0 + box.y1), y, 1.0) << rotation << " " << y;
      const PixelBox m = r.measure("neuron", s);
      EXPECT_NEAR(box.width(), m.width(), 1) << rotation;
      EXPECT_NEAR(box.height(), m.height(), 1) << rotation;
      EXPECT_EQ(changed_outside(img, box, kWhite), 0);
    }
  // Rotation by 90 degrees swaps the stroked box's sides too.
  const auto s = stroked(style("DejaVuSans", 24), 2);
  const PixelBox flat = r.measure("Hello world", s);
  const PixelBox up = r.measure("Hello world", stroked(style("DejaVuSans", 24, {0, 0, 0}, 90), 2));
  EXPECT_NEAR(up.width(), flat.height(), 2);
  EXPECT_NEAR(up.height(), flat.width(), 2);
}

TEST(TextStroke, StrokedGlyphIsSolid) {
  auto r = rasterizer();
  const Rgb fg{200, 30, 160};
  // A stroke alone is a ring along the outline: the bold 80 px stem (about 12 px)
  // is solid only because the glyph's fill is drawn too.
  for (auto [font, size, letter] :
       {std::tuple{"DejaVuSans", 40.0, "l"}, {"DejaVuSans", 40.0, "I"}, {"DejaVuSans-Bold", 80.0, "I"}}) {
    Image img = blank_image(96, 96, kWhite), plain = blank_image(96, 96, kWhite);
    const PixelBox box = r.draw(img, letter, stroked(style(font, size, fg), 2), {48, 48});
    const PixelBox plain_box = r.draw(plain, letter, style(font, size, fg), {48, 48});
    ASSERT_FALSE(box.empty());
    EXPECT_NEAR(box.width(), plain_box.width() + 4, 1);
    const int cx = (box.x0 + box.x1) / 2, cy = (box.y0 + box.y1) / 2;
    EXPECT_TRUE(same_pixel(img, cx, cy, fg)) << letter;
    // Across the stem, the stroke and the fill leave no gap: the run of full ink
    // is about 4 px longer than without stroke.
    int run = 0, plain_run = 0;
    for (int x = 0; x < 96; ++x) run += same_pixel(img, x, cy, fg), plain_run += same_pixel(plain, x, cy, fg);
    EXPECT_GE(plain_run, 2) << letter;
    EXPECT_GE(run, plain_run + 3) << letter;
    // Every channel lies between background and ink colour.
    for (int y = box.y0; y < box.y1; ++y)
      for (int x = box.x0; x < box.x1; ++x)
        for (int k = 0; k < 3; ++k) {
          EXPECT_GE(img.pixel(x, y)[k], std::min(kWhite[k], fg[k]));
          EXPECT_LE(img.pixel(x, y)[k], std::max(kWhite[k], fg[k]));
        }
  }
}

TEST(TextStroke, ZeroStrokeDrawsAsBefore) {
  auto r = rasterizer();
  const auto s = style("DejaVuSerif", 19.5, {20, 40, 60}, 17);
  Image a = blank_image(128, 96, kWhite), b = blank_image(128, 96, kWhite), c = blank_image(128, 96, kWhite);
  r.draw(a, "Stroop", s, {63.3, 47.6});
  r.draw(b, "Stroop", stroked(s, 0), {63.3, 47.6});
  r.draw(c, "Stroop", stroked(s, 0.001), {63.3, 47.6});  // under 1/128 pixel: no stroke
  EXPECT_EQ(a.rgb, b.rgb);
  EXPECT_EQ(a.rgb, c.rgb);
  Image d = blank_image(128, 96, kWhite);
  r.draw(d, "Stroop", stroked(s, 0.5), {63.3, 47.6});
  EXPECT_NE(a.rgb, d.rgb);
}

TEST(TextStroke, ClipsAtTheCanvasEdge) {
  auto r = rasterizer();
  const auto s = stroked(style("DejaVuSans-Bold", 40), 3);
  const PixelBox full = r.measure("O", s);
  Image img = blank_image(64, 64, kWhite);
  const PixelBox box = r.draw(img, "O", s, {2, 3});
  ASSERT_FALSE(box.empty());
  EXPECT_EQ(box.x0, 0);
  EXPECT_EQ(box.y0, 0);
  EXPECT_NEAR(box.x1, 2 + full.width() / 2.0, 1.0);
  EXPECT_NEAR(box.y1, 3 + full.height() / 2.0, 1.0);
  EXPECT_EQ(changed_outside(img, box, kWhite), 0);
  Image img2 = blank_image(64, 64, kWhite);
  const PixelBox box2 = r.draw(img2, "O", stroked(style("DejaVuSans-Bold", 40, {0, 0, 0}, 45), 3), {62.5, 63});
  EXPECT_EQ(box2.x1, 64);
  EXPECT_EQ(box2.y1, 64);
  EXPECT_EQ(changed_outside(img2, box2, kWhite), 0);
  Image img3 = blank_image(64, 64, kWhite);
  EXPECT_TRUE(r.draw(img3, "away", s, {-500, 20}).empty());
  EXPECT_TRUE(changed_box(img3, kWhite).empty());
  EXPECT_TRUE(r.draw(img3, " ", s, {32, 32}).empty());
}

TEST(TextStroke, BadStrokeIsAnErrorNamingIt) {
  auto r = rasterizer();
  Image img = blank_image(64, 64, kWhite);
  const auto s = style("DejaVuSans", 20);
  const std::string msg = error_message([&] { r.draw(img, "x", stroked(s, -1), {32, 32}); });
  EXPECT_NE(msg.find("stroke -1: must be >= 0"), std::string::npos) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos);
  for (double bad : {-0.5, std::nan(""), HUGE_VAL, -HUGE_VAL, 1e6}) {
    EXPECT_NE(error_message([&] { r.measure("x", stroked(s, bad)); }).find("stroke "), std::string::npos) << bad;
    EXPECT_NE(error_message([&] {
                r.draw(img, "x", stroked(s, bad), {32, 32});
              }).find("stroke "),
              std::string::npos)
        << bad;
  }
  EXPECT_TRUE(changed_box(img, kWhite).empty());
}

TEST(TextStroke, OverlappingNeighboursCombineByMaximum) {
  // DejaVuSansMono's equal advances put "m " and " m" where "mm" has its letters;
  // drawn from the same pen origin, the word's coverage (255 - value, black ink on
  // white) is the larger of its letters', not their blend over each other.
  auto r = rasterizer();
  const auto s = stroked(style("DejaVuSansMono", 30), 3);
  auto at_origin = [&](const std::string& text) {
    const PixelBox m = r.measure(text, s);
    Image img = blank_image(128, 96, kWhite);
    r.draw(img, text, s, {40.25 + 0.5 * (m.x0 + m.x1), 50.5 + 0.5 * (m.y0 + m.y1)});
    return img;
  };
  const Image word = at_origin("mm"), first = at_origin("m "), second = at_origin(" m");
  int shared_fringe = 0, wrong = 0;
  for (size_t i = 0; i < word.rgb.size(); i += 3) {
    const int a = 255 - first.rgb[i], b = 255 - second.rgb[i];
    shared_fringe += a > 0 && b > 0 && (a < 255 || b < 255) && std::min(a, b) < 255;
    wrong += 255 - word.rgb[i] != std::max(a, b);
  }
  EXPECT_GT(shared_fringe, 5);  // the letters' strokes do overlap with partial coverage
  EXPECT_EQ(wrong, 0);
}

namespace clipscope {
namespace {

TEST(TextRasterizerGlyphs, MissingGlyphsAreListedOnceMalformedFirst) {
  TextRasterizer raster;
  EXPECT_TRUE(raster.missing_glyphs("naïve café", "DejaVuSans").empty());
  EXPECT_EQ(raster.missing_glyphs("a\u4e2db\u4e2d\u6587", "DejaVuSans"), (std::vector<char32_t>{0x4E2D, 0x6587}));
  EXPECT_EQ(raster.missing_glyphs("x\u4e2d\xff", "DejaVuSans"), (std::vector<char32_t>{0xFFFD, 0x4E2D}));
}

}  // namespace
}  // namespace clipscope
