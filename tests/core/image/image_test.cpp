// Decoding with PIL's convert("RGB") semantics, writing, and error reporting.
#include "core/image/image.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>

#include "core/image/test_images.h"
#include "core/util/error.h"
#include "support/shared_data.h"

#if __has_include(<jpeglib.h>)
#include <jpeglib.h>
#include <cstdio>
#define CLIPSCOPE_TEST_HAS_JPEGLIB 1
#endif

namespace clipscope {
namespace {

namespace fs = std::filesystem;
using clipscope::testing::random_image;

// --- A minimal PNG encoder (stored deflate blocks), so that the tests can build
// every colour type / bit depth byte by byte, independently of libpng.

uint32_t crc32(const uint8_t* data, size_t size, uint32_t crc = 0) {
  crc = ~crc;
  for (size_t i = 0; i < size; ++i) {
    crc ^= data[i];
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

void put_u32(std::vector<uint8_t>& out, uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(value >> shift));
}

void put_chunk(std::vector<uint8_t>& png, const char type[4], const std::vector<uint8_t>& data) {
  put_u32(png, static_cast<uint32_t>(data.size()));
  std::vector<uint8_t> typed(type, type + 4);
  typed.insert(typed.end(), data.begin(), data.end());
  png.insert(png.end(), typed.begin(), typed.end());
  put_u32(png, crc32(typed.data(), typed.size()));
}

struct PngSpec {
  int width = 1;
  int height = 1;
  int bit_depth = 8;
  int color_type = 2;                      // 0 gray, 2 RGB, 3 palette, 4 gray+alpha, 6 RGBA
  std::vector<std::vector<uint8_t>> rows;  // packed scanlines, without the filter byte
  std::vector<uint8_t> palette;            // PLTE payload
  std::vector<uint8_t> transparency;       // tRNS payload
};

std::vector<uint8_t> make_png(const PngSpec& spec) {
  std::vector<uint8_t> png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  std::vector<uint8_t> header;
  put_u32(header, static_cast<uint32_t>(spec.width));
  put_u32(header, static_cast<uint32_t>(spec.height));
  header.insert(header.end(), {static_cast<uint8_t>(spec.bit_depth), static_cast<uint8_t>(spec.color_type), 0, 0, 0});
  put_chunk(png, "IHDR", header);
  if (!spec.palette.empty()) put_chunk(png, "PLTE", spec.palette);
  if (!spec.transparency.empty()) put_chunk(png, "tRNS", spec.transparency);

  std::vector<uint8_t> raw;
  for (const auto& row : spec.rows) {
    raw.push_back(0);  // filter: none
    raw.insert(raw.end(), row.begin(), row.end());
  }
  std::vector<uint8_t> zlib = {0x78, 0x01};
  size_t offset = 0;
  do {
    const size_t length = std::min<size_t>(raw.size() - offset, 65535);
    const bool final = offset + length == raw.size();
    zlib.push_back(final ? 1 : 0);
    zlib.insert(zlib.end(), {static_cast<uint8_t>(length), static_cast<uint8_t>(length >> 8),
                             static_cast<uint8_t>(~length), static_cast<uint8_t>(~length >> 8)});
    zlib.insert(zlib.end(), raw.begin() + offset, raw.begin() + offset + length);
    offset += length;
  } while (offset < raw.size());
  uint32_t a = 1, b = 0;
  for (uint8_t byte : raw) {
    a = (a + byte) % 65521;
    b = (b + a) % 65521;
  }
  put_u32(zlib, (b << 16) | a);
  put_chunk(png, "IDAT", zlib);
  put_chunk(png, "IEND", {});
  return png;
}

std::array<int, 3> rgb_at(const Image& image, int x, int y) {
  const uint8_t* p = image.pixel(x, y);
  return {p[0], p[1], p[2]};
}

std::vector<uint8_t> read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const fs::path& path, const std::vector<uint8_t>& bytes, size_t count) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(std::min(count, bytes.size())));
}

// Runs `action`, expects an Error whose message names `name` and contains `problem`.
template <typename Action>
void expect_error(Action&& action, const std::string& name, const std::string& problem) {
  try {
    action();
    ADD_FAILURE() << "expected an Error about " << problem << " for " << name;
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find(name), std::string::npos) << message;
    EXPECT_NE(message.find(problem), std::string::npos) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << "message must be one line: " << message;
  }
}

// --- PNG colour types

TEST(DecodePng, Gray8ExpandsToEqualChannels) {
  const Image image =
      decode_image(make_png({.width = 3, .height = 1, .bit_depth = 8, .color_type = 0, .rows = {{0, 0x7f, 0xff}}}));
  ASSERT_EQ(image.width, 3);
  ASSERT_EQ(image.height, 1);
  EXPECT_EQ(rgb_at(image, 0, 0), (std::array<int, 3>{0, 0, 0}));
  EXPECT_EQ(rgb_at(image, 1, 0), (std::array<int, 3>{0x7f, 0x7f, 0x7f}));
  EXPECT_EQ(rgb_at(image, 2, 0), (std::array<int, 3>{0xff, 0xff, 0xff}));
  EXPECT_TRUE(image.alpha.empty());
  EXPECT_FALSE(image.nearest_resize);
}

TEST(DecodePng, Gray2And4BitScaleToFullRange) {
  const Image two =
      decode_image(make_png({.width = 4, .height = 1, .bit_depth = 2, .color_type = 0, .rows = {{0b00'01'10'11}}}));
  EXPECT_EQ(rgb_at(two, 0, 0)[0], 0);
  EXPECT_EQ(rgb_at(two, 1, 0)[0], 85);
  EXPECT_EQ(rgb_at(two, 2, 0)[0], 170);
  EXPECT_EQ(rgb_at(two, 3, 0), (std::array<int, 3>{255, 255, 255}));
  const Image four =
      decode_image(make_png({.width = 2, .height = 1, .bit_depth = 4, .color_type = 0, .rows = {{0x3c}}}));
  EXPECT_EQ(rgb_at(four, 0, 0), (std::array<int, 3>{0x33, 0x33, 0x33}));
  EXPECT_EQ(rgb_at(four, 1, 0), (std::array<int, 3>{0xcc, 0xcc, 0xcc}));
  EXPECT_FALSE(four.nearest_resize);
}

TEST(DecodePng, OneBitIsBlackAndWhiteAndResizedNearestLikePil) {
  const Image image = decode_image(
      make_png({.width = 10, .height = 1, .bit_depth = 1, .color_type = 0, .rows = {{0b10100000, 0b01000000}}}));
  ASSERT_EQ(image.width, 10);
  const int expected[10] = {255, 0, 255, 0, 0, 0, 0, 0, 0, 255};
  for (int x = 0; x < 10; ++x) EXPECT_EQ(rgb_at(image, x, 0)[1], expected[x]) << x;
  EXPECT_TRUE(image.nearest_resize);  // PIL mode "1"
}

TEST(DecodePng, Gray16KeepsHighByte) {
  const Image image = decode_image(
      make_png({.width = 2, .height = 1, .bit_depth = 16, .color_type = 0, .rows = {{0x12, 0x34, 0xff, 0x01}}}));
  EXPECT_EQ(rgb_at(image, 0, 0), (std::array<int, 3>{0x12, 0x12, 0x12}));
  EXPECT_EQ(rgb_at(image, 1, 0), (std::array<int, 3>{0xff, 0xff, 0xff}));
}

TEST(DecodePng, Rgb16KeepsHighByteAndTrnsIsIgnored) {
  const Image image = decode_image(make_png({.width = 1,
                                             .height = 1,
                                             .bit_depth = 16,
                                             .color_type = 2,
                                             .rows = {{0xab, 0xff, 0x01, 0x00, 0x80, 0x80}},
                                             .transparency = {0xab, 0xff, 0x01, 0x00, 0x80, 0x80}}));
  EXPECT_EQ(rgb_at(image, 0, 0), (std::array<int, 3>{0xab, 0x01, 0x80}));
  EXPECT_TRUE(image.alpha.empty());
}

TEST(DecodePng, RgbaDropsAlphaWithoutCompositing) {
  const Image image = decode_image(
      make_png({.width = 2, .height = 1, .bit_depth = 8, .color_type = 6, .rows = {{10, 20, 30, 0, 40, 50, 60, 128}}}));
  EXPECT_EQ(rgb_at(image, 0, 0), (std::array<int, 3>{10, 20, 30}));  // fully transparent, colour kept
  EXPECT_EQ(rgb_at(image, 1, 0), (std::array<int, 3>{40, 50, 60}));
  EXPECT_EQ(image.alpha, (std::vector<uint8_t>{0, 128}));  // kept aside for PIL-style resizing only
}

TEST(DecodePng, Rgba16AndGrayAlpha) {
  const Image rgba16 = decode_image(
      make_png({.width = 1, .height = 1, .bit_depth = 16, .color_type = 6, .rows = {{1, 2, 3, 4, 5, 6, 7, 8}}}));
  EXPECT_EQ(rgb_at(rgba16, 0, 0), (std::array<int, 3>{1, 3, 5}));
  EXPECT_EQ(rgba16.alpha, (std::vector<uint8_t>{7}));
  const Image gray_alpha =
      decode_image(make_png({.width = 2, .height = 1, .bit_depth = 8, .color_type = 4, .rows = {{90, 255, 200, 3}}}));
  EXPECT_EQ(rgb_at(gray_alpha, 0, 0), (std::array<int, 3>{90, 90, 90}));
  EXPECT_EQ(rgb_at(gray_alpha, 1, 0), (std::array<int, 3>{200, 200, 200}));
  EXPECT_EQ(gray_alpha.alpha, (std::vector<uint8_t>{255, 3}));
}

TEST(DecodePng, PaletteExpandsIgnoresTrnsAndOutOfRangeIsBlack) {
  const Image image = decode_image(make_png({.width = 3,
                                             .height = 1,
                                             .bit_depth = 4,
                                             .color_type = 3,
                                             .rows = {{0x01, 0x50}},
                                             .palette = {255, 0, 0, 0, 0, 255},
                                             .transparency = {0}}));
  EXPECT_EQ(rgb_at(image, 0, 0), (std::array<int, 3>{255, 0, 0}));
  EXPECT_EQ(rgb_at(image, 1, 0), (std::array<int, 3>{0, 0, 255}));
  EXPECT_EQ(rgb_at(image, 2, 0), (std::array<int, 3>{0, 0, 0}));  // index 5 beyond PLTE
  EXPECT_TRUE(image.alpha.empty());
  EXPECT_TRUE(image.nearest_resize);  // PIL mode "P"
}

TEST(DecodePng, MissingIendIsTolerated) {
  auto png = make_png({.width = 1, .height = 1, .bit_depth = 8, .color_type = 2, .rows = {{1, 2, 3}}});
  png.resize(png.size() - 12);  // drop the IEND chunk
  EXPECT_EQ(rgb_at(decode_image(png), 0, 0), (std::array<int, 3>{1, 2, 3}));
}

// --- Round trips

TEST(WriteImage, PngRoundTripIsExact) {
  const fs::path path = testing::temp_dir() / "round trip.png";
  const Image original = random_image(37, 23, 1);
  write_png(path, original);
  const Image decoded = read_image(path);
  EXPECT_EQ(decoded.width, original.width);
  EXPECT_EQ(decoded.height, original.height);
  EXPECT_EQ(decoded.rgb, original.rgb);
}

TEST(WriteImage, JpegRoundTripIsClose) {
  const fs::path path = testing::temp_dir() / "gradient.jpg";
  Image original;
  original.width = 64;
  original.height = 48;
  original.rgb.resize(64 * 48 * 3);
  for (int y = 0; y < 48; ++y) {
    for (int x = 0; x < 64; ++x) {
      uint8_t* p = original.pixel(x, y);
      p[0] = static_cast<uint8_t>(x * 4);
      p[1] = static_cast<uint8_t>(y * 5);
      p[2] = static_cast<uint8_t>(128 + (x - y));
    }
  }
  write_jpeg(path, original, 95);
  const Image decoded = read_image(path);
  ASSERT_EQ(decoded.width, 64);
  ASSERT_EQ(decoded.height, 48);
  double total = 0;
  int worst = 0;
  for (size_t i = 0; i < original.rgb.size(); ++i) {
    const int diff = std::abs(int(original.rgb[i]) - int(decoded.rgb[i]));
    total += diff;
    worst = std::max(worst, diff);
  }
  EXPECT_LT(total / original.rgb.size(), 2.0);
  EXPECT_LT(worst, 24);
}

TEST(WriteImage, ErrorsNameTheFile) {
  const fs::path path = testing::temp_dir() / "no-such-dir" / "out.png";
  expect_error([&] { write_png(path, random_image(2, 2, 3)); }, path.string(), "cannot open for writing");
  expect_error([&] { write_jpeg(path, random_image(2, 2, 3)); }, path.string(), "cannot open for writing");
  const fs::path ok = testing::temp_dir() / "out.jpg";
  expect_error([&] { write_jpeg(ok, random_image(2, 2, 3), 0); }, ok.string(), "quality");
  expect_error([&] { write_png(ok, Image{}); }, ok.string(), "empty");
}

#ifdef CLIPSCOPE_TEST_HAS_JPEGLIB
// Adobe CMYK JPEGs store inverted samples; PIL assumes that polarity and
// converts with r = (255 - k) - (255 - k) * c / 255 on the un-inverted values.
TEST(DecodeJpeg, CmykConvertsAsPilDoes) {
  const fs::path path = testing::temp_dir() / "cmyk.jpg";
  // Stored (inverted) CMYK: C = 255 (no cyan), M = 128, Y = 0 (full yellow), K = 255 (no black).
  const std::array<uint8_t, 4> stored = {255, 128, 0, 255};
  {
    std::FILE* file = std::fopen(path.c_str(), "wb");
    ASSERT_NE(file, nullptr);
    jpeg_compress_struct cinfo{};
    jpeg_error_mgr errors{};
    cinfo.err = jpeg_std_error(&errors);
    jpeg_create_compress(&cinfo);
    jpeg_stdio_dest(&cinfo, file);
    cinfo.image_width = 16;
    cinfo.image_height = 16;
    cinfo.input_components = 4;
    cinfo.in_color_space = JCS_CMYK;
    jpeg_set_defaults(&cinfo);  // writes an Adobe marker, as Photoshop does
    jpeg_set_quality(&cinfo, 100, TRUE);
    jpeg_start_compress(&cinfo, TRUE);
    std::vector<uint8_t> row(16 * 4);
    for (int x = 0; x < 16; ++x) std::copy(stored.begin(), stored.end(), row.begin() + x * 4);
    while (cinfo.next_scanline < cinfo.image_height) {
      JSAMPROW pointer = row.data();
      jpeg_write_scanlines(&cinfo, &pointer, 1);
    }
    jpeg_finish_compress(&cinfo);
    jpeg_destroy_compress(&cinfo);
    std::fclose(file);
  }
  const Image image = read_image(path);
  ASSERT_EQ(image.width, 16);
  const auto rgb = rgb_at(image, 8, 8);
  EXPECT_NEAR(rgb[0], 255, 2);
  EXPECT_NEAR(rgb[1], 128, 2);
  EXPECT_NEAR(rgb[2], 0, 2);
}
#endif

// --- Bad input

TEST(DecodeErrors, MissingFile) {
  const fs::path path = testing::temp_dir() / "absent.png";
  expect_error([&] { read_image(path); }, path.string(), "no such file");
}

TEST(DecodeErrors, DirectoryAndEmptyAndTextFiles) {
  const fs::path dir = testing::temp_dir();
  expect_error([&] { read_image(dir); }, dir.string(), "directory");
  write_bytes(dir / "empty.jpg", {}, 0);
  expect_error([&] { read_image(dir / "empty.jpg"); }, (dir / "empty.jpg").string(), "not a JPEG or PNG image");
  const std::string text = "hello, this is not an image\n";
  write_bytes(dir / "notes.txt", std::vector<uint8_t>(text.begin(), text.end()), text.size());
  expect_error([&] { read_image(dir / "notes.txt"); }, (dir / "notes.txt").string(), "not a JPEG or PNG image");
  expect_error(
      [&] {
        decode_image(std::vector<uint8_t>{'G', 'I', 'F', '8', '9', 'a'}, "anim.gif");
      },
      "anim.gif", "not a JPEG or PNG image");
}

TEST(DecodeErrors, TruncatedPng) {
  const fs::path dir = testing::temp_dir();
  write_png(dir / "whole.png", random_image(50, 40, 4));  // random pixels: little compression
  const auto bytes = read_bytes(dir / "whole.png");
  for (size_t keep : {size_t{20}, size_t{40}, bytes.size() / 2, bytes.size() - 20}) {
    const fs::path cut = dir / ("cut-" + std::to_string(keep) + ".png");
    write_bytes(cut, bytes, keep);
    expect_error([&] { read_image(cut); }, cut.string(), "truncated");
  }
}

TEST(DecodeErrors, CorruptPng) {
  auto png = make_png({.width = 1, .height = 1, .bit_depth = 8, .color_type = 2, .rows = {{1, 2, 3}}});
  png[20] ^= 0xFF;  // inside IHDR: its CRC no longer matches
  expect_error([&] { decode_image(png, "bad-crc.png"); }, "bad-crc.png", "cannot decode PNG");
  auto bad_depth = make_png({.width = 1, .height = 1, .bit_depth = 3, .color_type = 2, .rows = {{1}}});
  expect_error([&] { decode_image(bad_depth, "depth.png"); }, "depth.png", "cannot decode PNG");
}

TEST(DecodeErrors, TruncatedJpeg) {
  const fs::path dir = testing::temp_dir();
  write_jpeg(dir / "whole.jpg", random_image(64, 64, 5), 90);
  const auto bytes = read_bytes(dir / "whole.jpg");
  // Even a file missing only its EOI marker is truncated: libjpeg reads ahead
  // past the last entropy-coded byte, and PIL's suspended decoder then raises.
  ASSERT_EQ(bytes[bytes.size() - 2], 0xFF);
  ASSERT_EQ(bytes[bytes.size() - 1], 0xD9);
  for (size_t keep : {size_t{3}, size_t{100}, bytes.size() / 2, bytes.size() - 40, bytes.size() - 2}) {
    const fs::path cut = dir / ("cut-" + std::to_string(keep) + ".jpg");
    write_bytes(cut, bytes, keep);
    expect_error([&] { read_image(cut); }, cut.string(), "image file is truncated");
  }
}

TEST(DecodeErrors, CorruptJpegHeader) {
  const fs::path dir = testing::temp_dir();
  write_jpeg(dir / "whole.jpg", random_image(16, 16, 6), 90);
  auto bytes = read_bytes(dir / "whole.jpg");
  // Turn the APP0 marker after SOI into a frame header: its JFIF payload then
  // reads as a nonsensical sample precision.
  ASSERT_EQ(bytes[2], 0xFF);
  bytes[3] = 0xC0;
  expect_error([&] { decode_image(bytes, "bogus.jpg"); }, "bogus.jpg", "cannot decode JPEG");
}

// --- Reference files in ../shared

TEST(DecodeShared, FixtureImages) {
  CLIPSCOPE_REQUIRE_SHARED(shared);
  const fs::path fixtures = shared / "fixtures";

  const Image gray = read_image(fixtures / "img_gray.png");
  EXPECT_EQ(gray.width, 40);
  EXPECT_EQ(gray.height, 40);
  bool varies = false;
  for (int y = 0; y < gray.height; ++y) {
    for (int x = 0; x < gray.width; ++x) {
      const auto p = rgb_at(gray, x, y);
      ASSERT_EQ(p[0], p[1]);
      ASSERT_EQ(p[1], p[2]);
      varies |= p[0] != rgb_at(gray, 0, 0)[0];
    }
  }
  EXPECT_TRUE(varies);

  const Image rgba = read_image(fixtures / "img_rgba.png");
  EXPECT_EQ(rgba.width, 300);
  EXPECT_EQ(rgba.height, 200);
  EXPECT_EQ(rgba.alpha.size(), 300u * 200u);

  const Image tall = read_image(fixtures / "img_tall_rgb.jpg");
  EXPECT_EQ(tall.width, 150);
  EXPECT_EQ(tall.height, 233);
  EXPECT_TRUE(tall.alpha.empty());

  const Image tiny = read_image(fixtures / "img_tiny.png");
  EXPECT_EQ(tiny.width, 7);
  EXPECT_EQ(tiny.height, 9);
}

TEST(DecodeShared, ImageNetSampleJpegs) {
  CLIPSCOPE_REQUIRE_SHARED(shared);
  const fs::path dir = shared / "data" / "images" / "imagenet-sample";
  const Image tench = read_image(dir / "n01440764_tench.JPEG");
  EXPECT_GT(tench.width, 100);
  EXPECT_GT(tench.height, 100);
  EXPECT_FALSE(std::all_of(tench.rgb.begin(), tench.rgb.end(), [&](uint8_t v) { return v == tench.rgb[0]; }));
  bool colourful = false;
  for (int i = 0; i < tench.width * tench.height && !colourful; ++i) {
    colourful = tench.rgb[i * 3] != tench.rgb[i * 3 + 1];
  }
  EXPECT_TRUE(colourful);

  // The one grayscale JPEG in the sample: one component, expanded to equal channels.
  const Image gray = read_image(dir / "n03908714_pencil_sharpener.JPEG");
  EXPECT_EQ(gray.width, 333);
  EXPECT_EQ(gray.height, 500);
  for (int i = 0; i < gray.width * gray.height; ++i) {
    ASSERT_EQ(gray.rgb[i * 3], gray.rgb[i * 3 + 1]);
    ASSERT_EQ(gray.rgb[i * 3], gray.rgb[i * 3 + 2]);
  }
}

}  // namespace
}  // namespace clipscope
