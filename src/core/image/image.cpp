#include "core/image/image.h"

// jpeglib.h needs FILE and size_t declared first.
#include <csetjmp>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <jerror.h>
#include <jpeglib.h>
#include <png.h>

#include <cerrno>
#include <fstream>

#include "core/util/error.h"

// libjpeg and libpng report errors by calling a handler that must not return.
// Both handlers here longjmp back to the decoding function, which then throws
// clipscope::Error; no C++ exception ever crosses the C libraries' frames, and
// every C++ object those functions own is declared before their setjmp (so a
// longjmp skips no destructor). Warnings are swallowed, as PIL does.

namespace clipscope {
namespace {

[[noreturn]] void fail(const std::string& name, const std::string& problem) { throw Error(name + ": " + problem); }

// PIL refuses images above twice Image.MAX_IMAGE_PIXELS as decompression bombs;
// the same limit protects us from absurd headers in corrupt files.
constexpr uint64_t kMaxPixels = 2ull * 89'478'485;

void check_dimensions(const std::string& name, uint64_t width, uint64_t height) {
  if (width == 0 || height == 0) fail(name, "image has no pixels");
  if (width * height > kMaxPixels) {
    fail(name, "image too large (" + std::to_string(width) + " x " + std::to_string(height) + " pixels)");
  }
}

void allocate(Image& image, int width, int height) {
  image.width = width;
  image.height = height;
  image.rgb.assign(static_cast<size_t>(width) * height * 3, 0);
}

// ---------------------------------------------------------------------------
// PNG

constexpr uint8_t kPngSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

struct PngReadState {
  const uint8_t* data = nullptr;
  size_t size = 0;
  size_t offset = 0;
  bool truncated = false;
  char message[256] = {};
};

void png_read_from_memory(png_structp png, png_bytep out, size_t count) {
  auto* state = static_cast<PngReadState*>(png_get_io_ptr(png));
  if (count > state->size - state->offset) {
    state->truncated = true;
    png_error(png, "image file is truncated");
  }
  std::memcpy(out, state->data + state->offset, count);
  state->offset += count;
}

void png_on_error(png_structp png, png_const_charp message) {
  auto* state = static_cast<PngReadState*>(png_get_error_ptr(png));
  std::snprintf(state->message, sizeof state->message, "%s", message);
  png_longjmp(png, 1);
}

// PIL ignores ancillary problems (bad iCCP profiles, odd chunks); so do we.
void png_on_warning(png_structp, png_const_charp) {}

struct PngReadGuard {
  png_structp png = nullptr;
  png_infop info = nullptr;
  ~PngReadGuard() { png_destroy_read_struct(&png, info ? &info : nullptr, nullptr); }
};

// One row as libpng delivers it (after the transforms set in decode_png) into
// image's RGB (and alpha, when the image has an alpha plane).
void png_row_to_rgb(const uint8_t* in, int color_type, int channels, const png_color* palette, int palette_size,
                    Image& image, int y) {
  const auto width = static_cast<size_t>(image.width);
  uint8_t* out = image.pixel(0, y);
  uint8_t* alpha_out = image.alpha.empty() ? nullptr : image.alpha.data() + static_cast<size_t>(y) * width;
  for (size_t x = 0; x < width; ++x, in += channels, out += 3) {
    switch (color_type) {
      case PNG_COLOR_TYPE_GRAY:
      case PNG_COLOR_TYPE_GRAY_ALPHA:
        out[0] = out[1] = out[2] = in[0];
        break;
      case PNG_COLOR_TYPE_PALETTE:
        // PIL's palette has 256 entries, zero (black) beyond those PLTE gives.
        if (in[0] < palette_size) {
          out[0] = palette[in[0]].red;
          out[1] = palette[in[0]].green;
          out[2] = palette[in[0]].blue;
        }
        break;
      default:  // RGB, RGBA
        out[0] = in[0];
        out[1] = in[1];
        out[2] = in[2];
        break;
    }
    if (alpha_out) alpha_out[x] = in[channels - 1];
  }
}

Image decode_png(std::span<const uint8_t> bytes, const std::string& name) {
  PngReadState state;
  state.data = bytes.data();
  state.size = bytes.size();
  PngReadGuard guard;
  Image image;
  std::vector<uint8_t> decoded;  // rows as libpng delivers them, before conversion
  std::vector<png_bytep> rows;

  guard.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &state, png_on_error, png_on_warning);
  if (!guard.png) fail(name, "cannot decode PNG: out of memory");
  guard.info = png_create_info_struct(guard.png);
  if (!guard.info) fail(name, "cannot decode PNG: out of memory");
  if (setjmp(png_jmpbuf(guard.png))) {
    if (state.truncated) fail(name, "image file is truncated");
    fail(name, std::string("cannot decode PNG: ") + state.message);
  }

  png_set_read_fn(guard.png, &state, png_read_from_memory);
  png_read_info(guard.png, guard.info);
  png_uint_32 width = 0, height = 0;
  int bit_depth = 0, color_type = 0, interlace = 0;
  png_get_IHDR(guard.png, guard.info, &width, &height, &bit_depth, &color_type, &interlace, nullptr, nullptr);
  check_dimensions(name, width, height);

  // PIL reads 16-bit RGB(A) and gray+alpha through "…;16B" raw modes that keep
  // the high byte, which is exactly what strip_16 does. 16-bit gray is PIL's
  // odd one out: it opens as "I;16" and convert("RGB") clips values above 255
  // to white; we keep the high byte there too, a faithful rendering of the photo
  // rather than of that quirk. tRNS is not expanded: convert("RGB") ignores it.
  if (bit_depth == 16) png_set_strip_16(guard.png);
  if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth < 8) png_set_expand_gray_1_2_4_to_8(guard.png);
  // Palette indices are expanded below from PLTE, so that tRNS stays ignored
  // (png_set_palette_to_rgb would turn it into an alpha channel).
  if (color_type == PNG_COLOR_TYPE_PALETTE && bit_depth < 8) png_set_packing(guard.png);
  if (interlace != PNG_INTERLACE_NONE) png_set_interlace_handling(guard.png);
  png_read_update_info(guard.png, guard.info);

  const size_t row_bytes = png_get_rowbytes(guard.png, guard.info);
  const int channels = png_get_channels(guard.png, guard.info);
  decoded.resize(row_bytes * height);
  rows.resize(height);
  for (png_uint_32 y = 0; y < height; ++y) rows[y] = decoded.data() + y * row_bytes;
  png_read_image(guard.png, rows.data());
  // png_read_end is skipped: like PIL, tolerate a file whose image data is
  // complete but whose trailing chunks (or IEND) are missing.

  png_colorp palette = nullptr;
  int palette_size = 0;
  if (color_type == PNG_COLOR_TYPE_PALETTE) png_get_PLTE(guard.png, guard.info, &palette, &palette_size);

  allocate(image, static_cast<int>(width), static_cast<int>(height));
  const bool has_alpha = color_type == PNG_COLOR_TYPE_GRAY_ALPHA || color_type == PNG_COLOR_TYPE_RGB_ALPHA;
  if (has_alpha) image.alpha.resize(static_cast<size_t>(width) * height);
  // PIL opens these as "P" and "1", which Image.resize() samples with NEAREST.
  image.nearest_resize = color_type == PNG_COLOR_TYPE_PALETTE || (color_type == PNG_COLOR_TYPE_GRAY && bit_depth == 1);

  for (png_uint_32 y = 0; y < height; ++y)
    png_row_to_rgb(rows[y], color_type, channels, palette, palette_size, image, static_cast<int>(y));
  return image;
}

// ---------------------------------------------------------------------------
// JPEG

struct JpegErrorState {
  jpeg_error_mgr manager;  // first member: libjpeg hands back a pointer to it
  std::jmp_buf jump;
  bool truncated = false;
  char message[JMSG_LENGTH_MAX] = {};
};

void jpeg_on_error(j_common_ptr cinfo) {
  auto* state = reinterpret_cast<JpegErrorState*>(cinfo->err);
  state->truncated = cinfo->err->msg_code == JERR_INPUT_EOF;
  cinfo->err->format_message(cinfo, state->message);
  std::longjmp(state->jump, 1);
}

// Warnings (e.g. "extraneous bytes before marker") are counted, never printed:
// PIL decodes such files silently.
void jpeg_on_message(j_common_ptr cinfo, int level) {
  if (level < 0) cinfo->err->num_warnings++;
}
void jpeg_on_output(j_common_ptr) {}

// A memory source whose end is an error (PIL: "image file is truncated"),
// where jpeg_mem_src would insert a fake EOI and return a half-grey image.
void jpeg_source_init(j_decompress_ptr) {}
boolean jpeg_source_fill(j_decompress_ptr cinfo) {
  ERREXIT(cinfo, JERR_INPUT_EOF);
  return FALSE;
}
void jpeg_source_skip(j_decompress_ptr cinfo, long count) {
  if (count <= 0) return;
  jpeg_source_mgr* source = cinfo->src;
  if (static_cast<unsigned long>(count) > source->bytes_in_buffer) ERREXIT(cinfo, JERR_INPUT_EOF);
  source->next_input_byte += count;
  source->bytes_in_buffer -= static_cast<size_t>(count);
}
void jpeg_source_term(j_decompress_ptr) {}

struct JpegDecompressGuard {
  jpeg_decompress_struct cinfo{};
  ~JpegDecompressGuard() { jpeg_destroy_decompress(&cinfo); }  // safe in any state, even uncreated (mem == NULL)
};

// PIL reads CMYK JPEGs with raw mode "CMYK;I" (it always assumes Adobe's
// inverted polarity) and converts to RGB with cmyk2rgb: nk = 255 - k,
// r = nk - nk * c / 255 (rounded like MULDIV255). On the stored, inverted
// samples that is r = K - round((255 - C) * K / 255).
uint8_t pil_cmyk_channel(uint8_t stored_color, uint8_t stored_black) {
  const int nk = stored_black;
  const int c = 255 - stored_color;
  int product = c * nk + 128;
  product = ((product >> 8) + product) >> 8;
  const int value = nk - product;
  return static_cast<uint8_t>(value < 0 ? 0 : value > 255 ? 255 : value);
}

Image decode_jpeg(std::span<const uint8_t> bytes, const std::string& name) {
  JpegErrorState errors;
  JpegDecompressGuard guard;
  jpeg_source_mgr source{};
  Image image;
  std::vector<uint8_t> row;
  j_decompress_ptr cinfo = &guard.cinfo;

  cinfo->err = jpeg_std_error(&errors.manager);
  errors.manager.error_exit = jpeg_on_error;
  errors.manager.emit_message = jpeg_on_message;
  errors.manager.output_message = jpeg_on_output;
  if (setjmp(errors.jump)) {
    if (errors.truncated) fail(name, "image file is truncated");
    fail(name, std::string("cannot decode JPEG: ") + errors.message);
  }

  jpeg_create_decompress(cinfo);
  source.next_input_byte = bytes.data();
  source.bytes_in_buffer = bytes.size();
  source.init_source = jpeg_source_init;
  source.fill_input_buffer = jpeg_source_fill;
  source.skip_input_data = jpeg_source_skip;
  source.resync_to_restart = jpeg_resync_to_restart;
  source.term_source = jpeg_source_term;
  cinfo->src = &source;
  jpeg_read_header(cinfo, TRUE);

  // libjpeg's defaults are PIL's (no draft mode): ISLOW DCT, fancy upsampling,
  // the colour space guessed from JFIF/Adobe markers.
  switch (cinfo->num_components) {
    case 1:
      cinfo->out_color_space = JCS_GRAYSCALE;
      break;
    case 3:
      cinfo->out_color_space = JCS_RGB;
      break;
    case 4:
      cinfo->out_color_space = JCS_CMYK;
      break;  // libjpeg turns YCCK into CMYK
    default:
      fail(name, "cannot handle " + std::to_string(cinfo->num_components) + "-layer JPEG images");
  }
  check_dimensions(name, cinfo->image_width, cinfo->image_height);
  jpeg_start_decompress(cinfo);

  allocate(image, static_cast<int>(cinfo->output_width), static_cast<int>(cinfo->output_height));
  const int components = cinfo->output_components;
  row.resize(static_cast<size_t>(cinfo->output_width) * components);
  while (cinfo->output_scanline < cinfo->output_height) {
    JSAMPROW row_pointer = row.data();
    const int y = static_cast<int>(cinfo->output_scanline);
    jpeg_read_scanlines(cinfo, &row_pointer, 1);
    uint8_t* out = image.pixel(0, y);
    const uint8_t* in = row.data();
    for (int x = 0; x < image.width; ++x, in += components, out += 3) {
      if (components == 1) {
        out[0] = out[1] = out[2] = in[0];
      } else if (components == 3) {
        out[0] = in[0];
        out[1] = in[1];
        out[2] = in[2];
      } else {
        out[0] = pil_cmyk_channel(in[0], in[3]);
        out[1] = pil_cmyk_channel(in[1], in[3]);
        out[2] = pil_cmyk_channel(in[2], in[3]);
      }
    }
  }
  // No jpeg_finish_decompress: like PIL, do not insist on reading up to EOI
  // once every row is out. (A file cut right before EOI usually still fails
  // above, because libjpeg's Huffman decoder reads ahead; PIL fails there too.)
  return image;
}

// ---------------------------------------------------------------------------
// Writing

struct File {
  std::FILE* handle = nullptr;
  ~File() {
    if (handle) std::fclose(handle);
  }
};

void open_for_writing(File& file, const std::filesystem::path& path, const Image& image) {
  if (image.width <= 0 || image.height <= 0 ||
      image.rgb.size() != static_cast<size_t>(image.width) * image.height * 3) {
    fail(path.string(), "cannot write an empty or inconsistent image (" + std::to_string(image.width) + " x " +
                            std::to_string(image.height) + ", " + std::to_string(image.rgb.size()) + " bytes)");
  }
  file.handle = std::fopen(path.c_str(), "wb");
  if (!file.handle) fail(path.string(), std::string("cannot open for writing: ") + std::strerror(errno));
}

void close_after_writing(File& file, const std::filesystem::path& path) {
  const bool write_failed = std::ferror(file.handle) != 0;
  const bool close_failed = std::fclose(file.handle) != 0;
  file.handle = nullptr;
  if (write_failed || close_failed) fail(path.string(), "write failed (disk full?)");
}

struct PngWriteGuard {
  png_structp png = nullptr;
  png_infop info = nullptr;
  ~PngWriteGuard() { png_destroy_write_struct(&png, info ? &info : nullptr); }
};

struct JpegCompressGuard {
  jpeg_compress_struct cinfo{};
  ~JpegCompressGuard() { jpeg_destroy_compress(&cinfo); }
};

}  // namespace

Image decode_image(std::span<const uint8_t> bytes, const std::string& name) {
  if (bytes.size() >= sizeof kPngSignature && std::memcmp(bytes.data(), kPngSignature, sizeof kPngSignature) == 0) {
    return decode_png(bytes, name);
  }
  if (bytes.size() >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF) {
    return decode_jpeg(bytes, name);
  }
  fail(name, "not a JPEG or PNG image");
}

Image read_image(const std::filesystem::path& path) {
  const std::string name = path.string();
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (!std::filesystem::exists(status)) fail(name, "no such file");
  if (std::filesystem::is_directory(status)) fail(name, "is a directory, not an image");
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(name, std::string("cannot open: ") + std::strerror(errno));
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  if (size < 0) fail(name, "cannot read");
  in.seekg(0, std::ios::beg);
  std::vector<uint8_t> bytes(static_cast<size_t>(size));
  if (!bytes.empty() && !in.read(reinterpret_cast<char*>(bytes.data()), size)) fail(name, "cannot read");
  return decode_image(bytes, name);
}

void write_png(const std::filesystem::path& path, const Image& image) {
  PngReadState state;  // only its message buffer is used when writing
  File file;
  PngWriteGuard guard;
  std::vector<png_bytep> rows;
  open_for_writing(file, path, image);

  guard.png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &state, png_on_error, png_on_warning);
  if (!guard.png) fail(path.string(), "cannot write PNG: out of memory");
  guard.info = png_create_info_struct(guard.png);
  if (!guard.info) fail(path.string(), "cannot write PNG: out of memory");
  if (setjmp(png_jmpbuf(guard.png))) fail(path.string(), std::string("cannot write PNG: ") + state.message);

  png_init_io(guard.png, file.handle);
  png_set_IHDR(guard.png, guard.info, static_cast<png_uint_32>(image.width), static_cast<png_uint_32>(image.height), 8,
               PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(guard.png, guard.info);
  rows.resize(static_cast<size_t>(image.height));
  for (int y = 0; y < image.height; ++y) rows[y] = const_cast<png_bytep>(image.pixel(0, y));
  png_write_image(guard.png, rows.data());
  png_write_end(guard.png, nullptr);
  close_after_writing(file, path);
}

std::vector<uint8_t> encode_jpeg(const Image& image, int quality, const std::string& name) {
  if (quality < 1 || quality > 100) fail(name, "JPEG quality must be 1..100, got " + std::to_string(quality));
  if (image.width <= 0 || image.height <= 0 ||
      image.rgb.size() != static_cast<size_t>(image.width) * image.height * 3) {
    fail(name, "cannot encode an empty or inconsistent image (" + std::to_string(image.width) + " x " +
                   std::to_string(image.height) + ", " + std::to_string(image.rgb.size()) + " bytes)");
  }
  JpegErrorState errors;
  JpegCompressGuard guard;
  j_compress_ptr cinfo = &guard.cinfo;
  // libjpeg allocates the output with malloc and grows it; freed below whatever happens.
  struct Output {
    unsigned char* data = nullptr;
    unsigned long size = 0;
    ~Output() { std::free(data); }
  } output;

  cinfo->err = jpeg_std_error(&errors.manager);
  errors.manager.error_exit = jpeg_on_error;
  errors.manager.emit_message = jpeg_on_message;
  errors.manager.output_message = jpeg_on_output;
  if (setjmp(errors.jump)) fail(name, std::string("cannot write JPEG: ") + errors.message);

  jpeg_create_compress(cinfo);
  jpeg_mem_dest(cinfo, &output.data, &output.size);
  cinfo->image_width = static_cast<JDIMENSION>(image.width);
  cinfo->image_height = static_cast<JDIMENSION>(image.height);
  cinfo->input_components = 3;
  cinfo->in_color_space = JCS_RGB;
  jpeg_set_defaults(cinfo);
  jpeg_set_quality(cinfo, quality, TRUE);
  jpeg_start_compress(cinfo, TRUE);
  while (cinfo->next_scanline < cinfo->image_height) {
    JSAMPROW row_pointer = const_cast<JSAMPROW>(image.pixel(0, static_cast<int>(cinfo->next_scanline)));
    jpeg_write_scanlines(cinfo, &row_pointer, 1);
  }
  jpeg_finish_compress(cinfo);
  return std::vector<uint8_t>(output.data, output.data + output.size);
}

void write_jpeg(const std::filesystem::path& path, const Image& image, int quality) {
  const std::vector<uint8_t> bytes = encode_jpeg(image, quality, path.string());
  File file;
  open_for_writing(file, path, image);
  std::fwrite(bytes.data(), 1, bytes.size(), file.handle);
  close_after_writing(file, path);
}

}  // namespace clipscope
