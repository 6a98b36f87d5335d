#include "core/raster/emoji.h"

#include <ft2build.h>
#include FT_FREETYPE_H
#include <hb-ft.h>
#include <hb.h>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "core/util/error.h"

namespace clipscope {
namespace {

const char* kDefaultEmojiFont = "/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf";

std::string sequence_text(std::string_view utf8) {
  std::string hex;
  for (unsigned char c : utf8) hex += fmt::format("{:02X}", c);
  return fmt::format("emoji '{}' (UTF-8 {})", utf8, hex);
}

}  // namespace

struct EmojiRasterizer::Impl {
  std::filesystem::path font;
  FT_Library library = nullptr;
  FT_Face face = nullptr;
  hb_font_t* hb_font = nullptr;
  hb_buffer_t* buffer = nullptr;
  int strike = 0;

  ~Impl() {
    if (buffer) hb_buffer_destroy(buffer);
    if (hb_font) hb_font_destroy(hb_font);
    if (face) FT_Done_Face(face);
    if (library) FT_Done_FreeType(library);
  }

  // The glyph of the sequence, or 0 when the font has no single glyph for it.
  unsigned glyph(std::string_view utf8) {
    hb_buffer_reset(buffer);
    hb_buffer_set_flags(buffer, HB_BUFFER_FLAG_REMOVE_DEFAULT_IGNORABLES);
    hb_buffer_add_utf8(buffer, utf8.data(), static_cast<int>(utf8.size()), 0, static_cast<int>(utf8.size()));
    hb_buffer_guess_segment_properties(buffer);
    hb_shape(hb_font, buffer, nullptr, 0);
    unsigned count = 0;
    const hb_glyph_info_t* info = hb_buffer_get_glyph_infos(buffer, &count);
    if (count != 1 || info[0].codepoint == 0) return 0;
    return info[0].codepoint;
  }
};

EmojiRasterizer::EmojiRasterizer(std::filesystem::path font) : impl_(std::make_unique<Impl>()) {
  if (font.empty()) {
    const char* env = std::getenv("CLIPSCOPE_EMOJI_FONT");
    font = env && *env ? std::filesystem::path(env) : std::filesystem::path(kDefaultEmojiFont);
  }
  impl_->font = font;
  std::error_code ec;
  if (!std::filesystem::is_regular_file(font, ec))
    throw Error(
        fmt::format("emoji font {}: no such file (Debian's fonts-noto-color-emoji installs it)", font.string()));
  if (FT_Init_FreeType(&impl_->library)) {
    impl_->library = nullptr;
    throw Error("FreeType: cannot be initialized");
  }
  if (FT_New_Face(impl_->library, font.c_str(), 0, &impl_->face)) {
    impl_->face = nullptr;
    throw Error(fmt::format("emoji font {}: not a font FreeType can open", font.string()));
  }
  if (!FT_HAS_COLOR(impl_->face) || impl_->face->num_fixed_sizes < 1)
    throw Error(fmt::format("emoji font {}: not a colour bitmap font (no CBDT strike)", font.string()));
  // The largest strike (Noto ships one, 109 ppem).
  int best = 0;
  for (int i = 1; i < impl_->face->num_fixed_sizes; ++i)
    if (impl_->face->available_sizes[i].height > impl_->face->available_sizes[best].height) best = i;
  if (FT_Select_Size(impl_->face, best))
    throw Error(fmt::format("emoji font {}: its bitmap strike cannot be selected", font.string()));
  impl_->strike = impl_->face->available_sizes[best].height;
  impl_->hb_font = hb_ft_font_create_referenced(impl_->face);
  impl_->buffer = hb_buffer_create();
}

EmojiRasterizer::~EmojiRasterizer() = default;
EmojiRasterizer::EmojiRasterizer(EmojiRasterizer&&) noexcept = default;
EmojiRasterizer& EmojiRasterizer::operator=(EmojiRasterizer&&) noexcept = default;

bool EmojiRasterizer::has(std::string_view utf8) { return !utf8.empty() && impl_->glyph(utf8) != 0; }

int EmojiRasterizer::strike_size() const { return impl_->strike; }
const std::filesystem::path& EmojiRasterizer::font() const { return impl_->font; }

RgbaImage EmojiRasterizer::render(std::string_view utf8, int max_side) {
  const unsigned gid = utf8.empty() ? 0 : impl_->glyph(utf8);
  if (gid == 0)
    throw Error(fmt::format("{}: {} has no single glyph for it", sequence_text(utf8), impl_->font.filename().string()));
  if (FT_Load_Glyph(impl_->face, gid, FT_LOAD_COLOR) || impl_->face->glyph->bitmap.pixel_mode != FT_PIXEL_MODE_BGRA)
    throw Error(
        fmt::format("{}: {} has no colour bitmap for it", sequence_text(utf8), impl_->font.filename().string()));
  const FT_Bitmap& bm = impl_->face->glyph->bitmap;
  RgbaImage out;
  out.width = static_cast<int>(bm.width);
  out.height = static_cast<int>(bm.rows);
  out.rgba.resize(static_cast<size_t>(out.width) * out.height * 4);
  for (int y = 0; y < out.height; ++y) {
    const uint8_t* row = bm.buffer + static_cast<ptrdiff_t>(y) * bm.pitch;
    uint8_t* dst = out.rgba.data() + static_cast<size_t>(y) * out.width * 4;
    for (int x = 0; x < out.width; ++x) {  // premultiplied BGRA -> premultiplied RGBA
      dst[4 * x + 0] = row[4 * x + 2];
      dst[4 * x + 1] = row[4 * x + 1];
      dst[4 * x + 2] = row[4 * x + 0];
      dst[4 * x + 3] = row[4 * x + 3];
    }
  }
  if (max_side <= 0 || max_side >= std::max(out.width, out.height)) return out;
  const double scale = static_cast<double>(max_side) / std::max(out.width, out.height);
  return downscale(out, std::max(1, static_cast<int>(std::lround(out.width * scale))),
                   std::max(1, static_cast<int>(std::lround(out.height * scale))));
}

RgbaImage downscale(const RgbaImage& src, int width, int height) {
  if (width <= 0 || height <= 0 || src.width <= 0 || src.height <= 0)
    throw Error(fmt::format("downscale {}x{} -> {}x{}: sizes must be positive", src.width, src.height, width, height));
  RgbaImage out{width, height, std::vector<uint8_t>(static_cast<size_t>(width) * height * 4)};
  const double sx = static_cast<double>(src.width) / width, sy = static_cast<double>(src.height) / height;
  std::vector<double> acc(4);
  for (int y = 0; y < height; ++y) {
    const double y0 = y * sy, y1 = (y + 1) * sy;
    for (int x = 0; x < width; ++x) {
      const double x0 = x * sx, x1 = (x + 1) * sx;
      std::fill(acc.begin(), acc.end(), 0.0);
      double area = 0;
      for (int v = static_cast<int>(y0); v < std::min(src.height, static_cast<int>(std::ceil(y1))); ++v) {
        const double wy = std::min(y1, v + 1.0) - std::max(y0, static_cast<double>(v));
        for (int u = static_cast<int>(x0); u < std::min(src.width, static_cast<int>(std::ceil(x1))); ++u) {
          const double w = wy * (std::min(x1, u + 1.0) - std::max(x0, static_cast<double>(u)));
          const uint8_t* p = src.rgba.data() + (static_cast<size_t>(v) * src.width + u) * 4;
          for (int k = 0; k < 4; ++k) acc[k] += w * p[k];
          area += w;
        }
      }
      uint8_t* d = out.rgba.data() + (static_cast<size_t>(y) * width + x) * 4;
      for (int k = 0; k < 4; ++k) d[k] = static_cast<uint8_t>(std::clamp(std::lround(acc[k] / area), 0L, 255L));
    }
  }
  return out;
}

}  // namespace clipscope
