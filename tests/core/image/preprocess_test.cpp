// CLIP preprocessing: PIL bicubic resize, torchvision Resize/CenterCrop, normalization.
#include "core/image/preprocess.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>

#include "core/image/test_images.h"
#include "core/util/error.h"
#include "core/util/npy.h"
#include "support/shared_data.h"

namespace clipscope {
namespace {

namespace fs = std::filesystem;
using clipscope::testing::random_image;

Image filled(int width, int height, uint8_t r, uint8_t g, uint8_t b) {
  Image image;
  image.width = width;
  image.height = height;
  image.rgb.resize(static_cast<size_t>(width) * height * 3);
  for (size_t i = 0; i < image.rgb.size(); i += 3) {
    image.rgb[i] = r;
    image.rgb[i + 1] = g;
    image.rgb[i + 2] = b;
  }
  return image;
}

// Pixel (x, y) holds (x, y, 7): crops can be located from their content.
Image coordinates(int width, int height) {
  Image image;
  image.width = width;
  image.height = height;
  image.rgb.resize(static_cast<size_t>(width) * height * 3);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      uint8_t* p = image.pixel(x, y);
      p[0] = uint8_t(x);
      p[1] = uint8_t(y);
      p[2] = 7;
    }
  }
  return image;
}

// --- Parity with CLIP's own preprocessing (PIL + torchvision) on the fixtures.

struct ParityCase {
  const char* file;       // in ../shared/fixtures
  const char* reference;  // manifest.json "images" key
};
constexpr ParityCase kParityCases[] = {
    {"img_wide_rgb.png", "wide_rgb.png"}, {"img_tall_rgb.jpg", "tall_rgb.jpg"}, {"img_gray.png", "gray.png"},
    {"img_rgba.png", "rgba.png"},         {"img_tiny.png", "tiny.png"},
};

TEST(ClipPreprocess, MatchesOpenAiReferenceWithinOneLevel) {
  CLIPSCOPE_REQUIRE_SHARED(shared);
  const fs::path fixtures = shared / "fixtures";
  for (const ParityCase& c : kParityCases) {
    const Image image = read_image(fixtures / c.file);
    for (int n_px : {64, 32}) {
      SCOPED_TRACE(std::string(c.file) + " @ " + std::to_string(n_px));
      const NpyArray reference = read_npy(fixtures / ("pre" + std::to_string(n_px) + "_" + c.reference + ".npy"));
      ASSERT_EQ(reference.shape, (std::vector<int64_t>{3, n_px, n_px}));
      const std::vector<float> expected = reference.as_float();
      const std::vector<float> actual = clip_preprocess(image, n_px);
      ASSERT_EQ(actual.size(), expected.size());
      const size_t plane = static_cast<size_t>(n_px) * n_px;
      double worst = 0;  // in units of the unnormalized [0, 1] pixel
      size_t differing = 0;
      for (size_t i = 0; i < actual.size(); ++i) {
        const double error = std::abs(double(actual[i]) - double(expected[i])) * kClipStd[i / plane];
        worst = std::max(worst, error);
        differing += error > 1e-6;
      }
      std::printf("[ parity   ] %-17s %2d px: max error %.3g of a level (%.3g), %zu of %zu values differ\n", c.file,
                  n_px, worst * 255, worst, differing, actual.size());
      EXPECT_LE(worst, 1.0 / 255 + 1e-6);
      // PNG decoding is lossless and decoder-independent, so there the resize
      // itself must be bit-exact; JPEGs may vary by a level with the libjpeg build.
      if (std::string(c.file).ends_with(".png")) {
        EXPECT_EQ(differing, 0u) << "PIL's fixed-point bicubic should be reproduced exactly";
      }
    }
  }
}

// --- resize_bicubic

TEST(ResizeBicubic, SameSizeIsANoOp) {
  Image image = random_image(13, 7, 1);
  image.alpha.assign(13 * 7, 100);  // would round-trip lossily through premultiplication
  const Image same = resize_bicubic(image, 13, 7);
  EXPECT_EQ(same.rgb, image.rgb);
  EXPECT_EQ(same.alpha, image.alpha);
}

TEST(ResizeBicubic, OutputSizes) {
  const Image image = random_image(97, 61, 2);
  for (auto [w, h] : {std::pair{1, 1}, {97, 30}, {40, 61}, {200, 3}, {3, 200}, {98, 62}}) {
    const Image out = resize_bicubic(image, w, h);
    EXPECT_EQ(out.width, w);
    EXPECT_EQ(out.height, h);
    EXPECT_EQ(out.rgb.size(), size_t(w) * h * 3);
  }
}

TEST(ResizeBicubic, ConstantImagesStayConstant) {
  // The fixed-point weights of each output sum to 1 within rounding, too little to move a level.
  const Image image = filled(31, 17, 0, 128, 255);
  for (auto [w, h] : {std::pair{64, 64}, {5, 3}, {31, 40}, {10, 17}}) {
    const Image out = resize_bicubic(image, w, h);
    for (int i = 0; i < w * h; ++i) {
      ASSERT_EQ(out.rgb[i * 3 + 0], 0);
      ASSERT_EQ(out.rgb[i * 3 + 1], 128);
      ASSERT_EQ(out.rgb[i * 3 + 2], 255);
    }
  }
}

// An independent floating-point rendering of the same filter (every input
// sample weighed, no fixed point): PIL's integer path may differ by one level.
std::vector<uint8_t> reference_pass(const std::vector<uint8_t>& in, int lines, int in_len, int out_len,
                                    bool along_rows) {
  auto cubic = [](double x) {
    x = std::abs(x);
    if (x < 1) return 1.5 * x * x * x - 2.5 * x * x + 1;
    if (x < 2) return -0.5 * x * x * x + 2.5 * x * x - 4 * x + 2;
    return 0.0;
  };
  const double scale = double(in_len) / out_len;
  const double stretch = std::max(scale, 1.0);
  std::vector<uint8_t> out(static_cast<size_t>(lines) * out_len * 3);
  for (int line = 0; line < lines; ++line) {
    for (int o = 0; o < out_len; ++o) {
      const double center = (o + 0.5) * scale;
      double sum[3] = {0, 0, 0}, total = 0;
      for (int i = 0; i < in_len; ++i) {
        const double w = cubic((i + 0.5 - center) / stretch);
        if (w == 0) continue;
        total += w;
        const size_t at = along_rows ? (size_t(line) * in_len + i) * 3 : (size_t(i) * lines + line) * 3;
        for (int c = 0; c < 3; ++c) sum[c] += w * in[at + c];
      }
      const size_t to = along_rows ? (size_t(line) * out_len + o) * 3 : (size_t(o) * lines + line) * 3;
      for (int c = 0; c < 3; ++c) out[to + c] = uint8_t(std::clamp(std::lround(sum[c] / total), 0L, 255L));
    }
  }
  return out;
}

TEST(ResizeBicubic, AgreesWithFloatingPointReference) {
  const Image image = random_image(23, 19, 3);
  for (auto [w, h] : {std::pair{9, 7}, {50, 41}, {23, 8}, {31, 19}, {11, 30}}) {
    SCOPED_TRACE(std::to_string(w) + "x" + std::to_string(h));
    std::vector<uint8_t> expected = image.rgb;
    if (w != image.width) expected = reference_pass(expected, image.height, image.width, w, true);
    if (h != image.height) expected = reference_pass(expected, w, image.height, h, false);
    const Image out = resize_bicubic(image, w, h);
    ASSERT_EQ(out.rgb.size(), expected.size());
    int worst = 0;
    for (size_t i = 0; i < expected.size(); ++i) worst = std::max(worst, std::abs(int(out.rgb[i]) - int(expected[i])));
    EXPECT_LE(worst, 1);
  }
}

TEST(ResizeBicubic, PremultipliesAlphaSoTransparentColourDoesNotBleed) {
  Image image = filled(2, 1, 0, 0, 0);
  uint8_t* left = image.pixel(0, 0);
  left[0] = 200;  // opaque red
  uint8_t* right = image.pixel(1, 0);
  right[1] = 255;  // fully transparent green
  image.alpha = {255, 0};
  const Image out = resize_bicubic(image, 6, 1);
  ASSERT_EQ(out.alpha.size(), 6u);
  EXPECT_EQ(out.alpha.front(), 255);
  EXPECT_EQ(out.alpha.back(), 0);
  int partly_transparent = 0;
  for (int x = 0; x < 6; ++x) {
    EXPECT_EQ(out.pixel(x, 0)[1], 0) << "green leaked at " << x;
    // Un-premultiplied back to the opaque neighbour's red. (Where the kernel
    // overshoots, alpha clips at 255 and the red overshoots with it, as in PIL.)
    if (out.alpha[x] > 0 && out.alpha[x] < 255) {
      ++partly_transparent;
      EXPECT_NEAR(out.pixel(x, 0)[0], 200, 2) << x;
    }
  }
  EXPECT_GT(partly_transparent, 0);
  // Without alpha the green does bleed in.
  image.alpha.clear();
  const Image plain = resize_bicubic(image, 6, 1);
  EXPECT_GT(plain.pixel(2, 0)[1], 0);
}

TEST(ResizeBicubic, PaletteImagesUseNearestLikePil) {
  Image image = filled(4, 1, 0, 0, 0);
  for (int x = 0; x < 4; ++x) image.pixel(x, 0)[0] = uint8_t(10 * (x + 1));
  image.nearest_resize = true;
  const Image down = resize_bicubic(image, 2, 1);  // samples x = 1.0, 3.0
  EXPECT_EQ(down.pixel(0, 0)[0], 20);
  EXPECT_EQ(down.pixel(1, 0)[0], 40);
  // Samples x = 0.2, 0.6, 1.0, ... accumulated in double as PIL does, so the
  // eighth lands on 2.9999999999999996 and reads pixel 2, not 3.
  const Image up = resize_bicubic(image, 10, 1);
  const int expected[10] = {10, 10, 20, 20, 20, 30, 30, 30, 40, 40};
  for (int x = 0; x < 10; ++x) EXPECT_EQ(up.pixel(x, 0)[0], expected[x]) << x;
  EXPECT_TRUE(up.nearest_resize);
}

TEST(ResizeBicubic, VeryTallImagesShrinkVerticallyFirst) {
  // Pillow >= 12.2 resizes images taller than 100 widths in two calls.
  const Image tall = random_image(3, 400, 4);
  const Image direct = resize_bicubic(tall, 2, 50);
  const Image stepwise = resize_bicubic(resize_bicubic(tall, 3, 50), 2, 50);
  EXPECT_EQ(direct.rgb, stepwise.rgb);
}

TEST(ResizeBicubic, RejectsBadSizes) {
  const Image image = random_image(4, 4, 5);
  EXPECT_THROW(resize_bicubic(image, 0, 4), Error);
  EXPECT_THROW(resize_bicubic(image, 4, -1), Error);
  EXPECT_THROW(resize_bicubic(Image{}, 4, 4), Error);
  Image inconsistent = image;
  inconsistent.rgb.pop_back();
  EXPECT_THROW(resize_bicubic(inconsistent, 2, 2), Error);
}

// --- resize_shorter_side (torchvision Resize(int))

TEST(ResizeShorterSide, SizesTruncateTheLongSide) {
  struct Case {
    int width, height, size, expected_width, expected_height;
  };
  const Case cases[] = {
      {97, 61, 64, 101, 64},   // 64 * 97 / 61 = 101.77
      {150, 233, 64, 64, 99},  // 64 * 233 / 150 = 99.41
      {7, 9, 32, 32, 41},      // 32 * 9 / 7 = 41.14: upscaling
      {300, 200, 32, 48, 32},  // exact
      {40, 40, 64, 64, 64},    // square
      {1, 1000, 5, 5, 5000},
  };
  for (const Case& c : cases) {
    const Image out = resize_shorter_side(random_image(c.width, c.height, 6), c.size);
    EXPECT_EQ(out.width, c.expected_width) << c.width << "x" << c.height << " -> " << c.size;
    EXPECT_EQ(out.height, c.expected_height) << c.width << "x" << c.height << " -> " << c.size;
  }
}

TEST(ResizeShorterSide, AlreadyThatSizeIsANoOp) {
  const Image image = random_image(64, 90, 7);
  EXPECT_EQ(resize_shorter_side(image, 64).rgb, image.rgb);
}

// --- center_crop (torchvision CenterCrop)

TEST(CenterCrop, OffsetsRoundHalfToEven) {
  struct Case {
    int width, crop, left;
  };
  const Case cases[] = {
      {101, 64, 18},  // (101 - 64) / 2 = 18.5 -> 18
      {99, 64, 18},   // 17.5 -> 18
      {65, 64, 0},    // 0.5 -> 0
      {67, 64, 2},    // 1.5 -> 2
      {66, 64, 1},   {64, 64, 0},
  };
  for (const Case& c : cases) {
    const Image out = center_crop(coordinates(c.width, c.width), c.crop, c.crop);
    ASSERT_EQ(out.width, c.crop);
    ASSERT_EQ(out.height, c.crop);
    EXPECT_EQ(out.pixel(0, 0)[0], c.left) << "width " << c.width;
    EXPECT_EQ(out.pixel(0, 0)[1], c.left) << "height " << c.width;
    EXPECT_EQ(out.pixel(c.crop - 1, c.crop - 1)[0], c.left + c.crop - 1);
  }
}

TEST(CenterCrop, NonSquareCrop) {
  const Image out = center_crop(coordinates(10, 20), 4, 7);  // left 3, top int(round(6.5)) = 6
  ASSERT_EQ(out.width, 4);
  ASSERT_EQ(out.height, 7);
  EXPECT_EQ(out.pixel(0, 0)[0], 3);
  EXPECT_EQ(out.pixel(0, 0)[1], 6);
}

TEST(CenterCrop, PadsWithZerosWhenSmaller) {
  // torchvision pads left/top by (crop - size) // 2 and the rest right/bottom.
  Image image = coordinates(3, 2);
  image.alpha.assign(6, 255);
  const Image out = center_crop(image, 6, 5);
  ASSERT_EQ(out.width, 6);
  ASSERT_EQ(out.height, 5);
  for (int y = 0; y < 5; ++y) {
    for (int x = 0; x < 6; ++x) {
      const bool inside = x >= 1 && x < 4 && y >= 1 && y < 3;
      const uint8_t* p = out.pixel(x, y);
      if (inside) {
        EXPECT_EQ(p[0], x - 1);
        EXPECT_EQ(p[1], y - 1);
        EXPECT_EQ(p[2], 7);
      } else {
        EXPECT_EQ(p[0] + p[1] + p[2], 0) << x << "," << y;
      }
      EXPECT_EQ(out.alpha[y * 6 + x], inside ? 255 : 0);
    }
  }
  // Padding on one axis, cropping on the other: 8 wide -> 4 (left 2), 2 high -> 4 (top pad 1).
  const Image mixed = center_crop(coordinates(8, 2), 4, 4);
  EXPECT_EQ(mixed.pixel(0, 1)[0], 2);
  EXPECT_EQ(mixed.pixel(0, 1)[1], 0);
  EXPECT_EQ(mixed.pixel(0, 0)[2], 0);
  EXPECT_EQ(mixed.pixel(0, 3)[2], 0);
}

// --- tensors

TEST(ClipPreprocess, ShapeLayoutAndNormalization) {
  Image image = filled(50, 30, 0, 128, 255);
  const std::vector<float> tensor = clip_preprocess(image, 16);
  ASSERT_EQ(tensor.size(), 3u * 16 * 16);
  const float values[3] = {0, 128, 255};
  for (int c = 0; c < 3; ++c) {
    const float expected = (values[c] / 255.0f - kClipMean[c]) / kClipStd[c];
    for (int i = 0; i < 256; ++i) ASSERT_FLOAT_EQ(tensor[c * 256 + i], expected) << c;
  }
  EXPECT_THROW(clip_preprocess(image, 0), Error);
}

TEST(ToChwFloat, PlanesInRowMajorOrder) {
  const Image image = coordinates(3, 2);
  const std::vector<float> tensor = to_chw_float(image);
  ASSERT_EQ(tensor.size(), 18u);
  EXPECT_FLOAT_EQ(tensor[0 * 6 + 1 * 3 + 2], 2 / 255.0f);  // R plane, (x 2, y 1)
  EXPECT_FLOAT_EQ(tensor[1 * 6 + 1 * 3 + 2], 1 / 255.0f);  // G plane
  EXPECT_FLOAT_EQ(tensor[2 * 6 + 0], 7 / 255.0f);          // B plane
}

}  // namespace
}  // namespace clipscope

// The crop-only resampling equals resizing the whole image and cropping, bit for
// bit, over many sizes and aspect ratios (both axes resized, one axis unchanged,
// upscaling, thin images, the alpha and palette paths that fall back).
TEST(ResizeAndCenterCrop, EqualsResizeThenCropExactly) {
  std::mt19937 rng(7);
  int checked = 0;
  for (int w : {1, 3, 17, 64, 65, 100, 223, 224, 225, 333, 500}) {
    for (int h : {1, 5, 31, 64, 224, 375, 501}) {
      clipscope::Image image;
      image.width = w;
      image.height = h;
      image.rgb.resize(static_cast<size_t>(w) * h * 3);
      for (auto& v : image.rgb) v = static_cast<uint8_t>(rng());
      if ((w + h) % 5 == 0) {  // some with alpha, some palette-like
        image.alpha.resize(static_cast<size_t>(w) * h);
        for (auto& a : image.alpha) a = static_cast<uint8_t>(rng());
      } else if ((w + h) % 7 == 0) {
        image.nearest_resize = true;
      }
      for (int n_px : {32, 224}) {
        const auto expected = clipscope::center_crop(clipscope::resize_shorter_side(image, n_px), n_px, n_px);
        const auto actual = clipscope::resize_and_center_crop(image, n_px);
        ASSERT_EQ(actual.rgb, expected.rgb) << w << "x" << h << " -> " << n_px;
        ++checked;
      }
    }
  }
  EXPECT_EQ(checked, 11 * 7 * 2);
}
