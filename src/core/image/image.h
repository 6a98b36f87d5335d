#pragma once
// 8-bit RGB images: decoding (libjpeg-turbo, libpng — the decoders PIL uses) with
// PIL's convert("RGB") semantics (grayscale expands, alpha and tRNS are dropped,
// palettes expand, 16-bit samples keep their high byte, CMYK JPEGs convert with
// PIL's formula), and PNG/JPEG writing.
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

namespace clipscope {

struct Image {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> rgb;  // height * width * 3, row-major, interleaved RGB

  // CLIP's pipeline resizes in the file's own PIL mode and converts to RGB only
  // after cropping, so two facts about the source survive decoding:
  // the alpha plane (height * width) of PNGs with an alpha channel, because PIL
  // resizes RGBA/LA premultiplied (empty otherwise; it never affects `rgb`), and
  std::vector<uint8_t> alpha;
  // whether the file was a palette or 1-bit PNG (PIL modes "P"/"1"), which PIL
  // resizes with NEAREST whatever filter is asked for.
  bool nearest_resize = false;

  uint8_t* pixel(int x, int y) { return rgb.data() + (static_cast<size_t>(y) * width + x) * 3; }
  const uint8_t* pixel(int x, int y) const { return rgb.data() + (static_cast<size_t>(y) * width + x) * 3; }
};

// Decodes a JPEG or PNG file, detected by its signature. Throws Error naming the
// file and the problem (missing, unsupported format, corrupt/truncated data).
Image read_image(const std::filesystem::path& path);
Image decode_image(std::span<const uint8_t> bytes, const std::string& name = "<memory>");

// Write the RGB pixels (alpha is not written); throw Error naming the file on failure.
void write_png(const std::filesystem::path& path, const Image& image);
void write_jpeg(const std::filesystem::path& path, const Image& image, int quality = 90);
// A JPEG file's bytes, in memory (for serving); `name` is used in errors.
std::vector<uint8_t> encode_jpeg(const Image& image, int quality = 90, const std::string& name = "<memory>");

}  // namespace clipscope
