#include "core/raster/text.h"

#include <ft2build.h>
#include FT_FREETYPE_H
#include FT_ADVANCES_H
#include FT_GLYPH_H
#include FT_STROKER_H

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <numbers>
#include <unordered_map>

#include "core/util/error.h"
#include "core/util/strings.h"

// Layout is done once per call in unrotated 26.6 pen coordinates (advances from
// the hmtx table, unhinted, plus 'kern' pairs). Every glyph is then loaded with
// FT_Set_Transform carrying the rotation and the glyph's rotated pen position, so
// FreeType rasterizes the outline exactly where it lands and sub-pixel positions
// change the anti-aliasing rather than being rounded away. Hinting is off for the
// same reason (hinted outlines snap to the unrotated pixel grid).
//
// draw() does two passes: a measuring pass at the pen origin that finds the ink
// box (pixels with nonzero coverage), then the drawing pass with every glyph moved
// by placement - box centre, in 26.6, so the ink's centre lands on the placement.
//
// Stroke follows PIL: each glyph's transformed outline is stroked (round caps and
// joins, both sides), and the stroke's bitmap is combined with the plain fill's by
// maximum; the stroke alone is a ring that leaves wide stems hollow. Stroking the
// already rotated and placed outline keeps placement and centring as without it.
// As in PIL, where the stroke exceeds half a thin feature (serif hairlines at 20 px
// and stroke 2; not DejaVuSans there) the stroker's inner border turns inside out
// and can leave faint specks in the ink.

namespace clipscope {
namespace {

constexpr FT_Int32 kLoadFlags = FT_LOAD_NO_HINTING | FT_LOAD_NO_BITMAP;

// Debian's fonts-dejavu-core, fonts-liberation and fonts-noto-core, searched in this order.
const std::vector<std::filesystem::path> kDefaultFontDirs = {
    "/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/truetype/liberation", "/usr/share/fonts/truetype/noto"};

std::string freetype_problem(FT_Error err) {
  const char* s = FT_Error_String(err);  // NULL unless FreeType was built with error strings
  if (s) return fmt::format("{} (FreeType error {})", s, err);
  return fmt::format("FreeType error {}", err);
}

bool ends_with_ci(std::string_view s, std::string_view suffix) {
  if (s.size() < suffix.size()) return false;
  for (size_t i = 0; i < suffix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(s[s.size() - suffix.size() + i])) != suffix[i]) return false;
  }
  return true;
}

bool is_font_file_name(std::string_view s) { return ends_with_ci(s, ".ttf") || ends_with_ci(s, ".otf"); }

// Decodes one UTF-8 sequence at s[i], advancing i; malformed input gives U+FFFD.
char32_t next_code_point(std::string_view s, size_t& i) {
  const auto b0 = static_cast<unsigned char>(s[i++]);
  if (b0 < 0x80) return b0;
  int extra;
  char32_t cp, min;
  if ((b0 & 0xE0) == 0xC0)
    extra = 1, cp = b0 & 0x1F, min = 0x80;
  else if ((b0 & 0xF0) == 0xE0)
    extra = 2, cp = b0 & 0x0F, min = 0x800;
  else if ((b0 & 0xF8) == 0xF0)
    extra = 3, cp = b0 & 0x07, min = 0x10000;
  else
    return 0xFFFD;
  for (int k = 0; k < extra; ++k) {
    if (i >= s.size() || (static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) return 0xFFFD;
    cp = (cp << 6) | (static_cast<unsigned char>(s[i++]) & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0xFFFD;
  return cp;
}

// Box accumulation in canvas pixel coordinates (y down).
struct BoxAcc {
  int x0 = INT_MAX, y0 = INT_MAX, x1 = INT_MIN, y1 = INT_MIN;
  void add(int ax0, int ay0, int ax1, int ay1) {
    x0 = std::min(x0, ax0), y0 = std::min(y0, ay0);
    x1 = std::max(x1, ax1), y1 = std::max(y1, ay1);
  }
  bool empty() const { return x1 <= x0 || y1 <= y0; }
  PixelBox box() const { return empty() ? PixelBox{} : PixelBox{x0, y0, x1, y1}; }
};

// px = bg + (fg - bg) * a / 255 per channel, rounded to nearest (the numerator is
// never negative).
void blend(uint8_t* px, const int fg[3], int a) {
  for (int k = 0; k < 3; ++k) {
    const int v = px[k] * 255 + (fg[k] - px[k]) * a;
    px[k] = static_cast<uint8_t>((v + 127) / 255);
  }
}

}  // namespace

struct TextRasterizer::Impl {
  struct Face {
    FT_Face face = nullptr;
    FT_F26Dot6 size = -1;  // char size currently set, 26.6
    bool kerning = false;
  };
  struct Glyph {
    FT_UInt index;
    FT_Pos pen;  // unrotated x of the glyph origin, 26.6
  };

  FT_Library library = nullptr;
  std::vector<std::filesystem::path> font_dirs;
  std::unordered_map<std::string, std::unique_ptr<Face>> by_path;  // resolved path -> face
  std::unordered_map<std::string, Face*> by_spec;                  // style.font -> face
  std::string last_spec;
  Face* last_face = nullptr;
  std::vector<Glyph> glyphs;      // scratch, reused across calls
  FT_Stroker stroker = nullptr;   // made on first use
  std::vector<uint8_t> coverage;  // scratch for stroked draws

  ~Impl() {
    if (stroker) FT_Stroker_Done(stroker);
    for (auto& [path, f] : by_path) FT_Done_Face(f->face);
    if (library) FT_Done_FreeType(library);
  }

  std::string available_list() const {
    std::string list;
    for (const auto& name : available()) list += (list.empty() ? "" : ", ") + name;
    return list;
  }

  std::vector<std::string> available() const {
    std::vector<std::string> names;
    std::error_code ec;
    for (const auto& dir : font_dirs) {
      ec.clear();
      for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        const auto name = it->path().filename().string();
        if (is_font_file_name(name) && it->is_regular_file(ec)) names.push_back(it->path().stem().string());
      }
    }
    std::sort(names.begin(), names.end());
    names.erase(std::unique(names.begin(), names.end()), names.end());
    return names;
  }

  std::filesystem::path resolve(const std::string& spec) const {
    if (spec.empty()) throw Error("font \"\": empty font name");
    if (spec.find('/') != std::string::npos || is_font_file_name(spec)) {
      std::error_code ec;
      if (!std::filesystem::is_regular_file(spec, ec)) throw Error(fmt::format("font {}: no such file", spec));
      return spec;
    }
    std::string searched;
    for (const auto& dir : font_dirs) {
      for (const char* ext : {".ttf", ".otf"}) {
        auto p = dir / (spec + ext);
        std::error_code ec;
        if (std::filesystem::is_regular_file(p, ec)) return p;
      }
      searched += (searched.empty() ? "" : ":") + dir.string();
    }
    const auto list = available_list();
    throw Error(fmt::format("font {}: not found in {} ({})", spec, searched,
                            list.empty() ? "no .ttf or .otf fonts there" : "available: " + list));
  }

  Face& face_for(const std::string& spec) {
    if (last_face && spec == last_spec) return *last_face;
    Face* f;
    if (auto it = by_spec.find(spec); it != by_spec.end()) {
      f = it->second;
    } else {
      const auto path = resolve(spec).string();
      auto& slot = by_path[path];
      if (!slot) {
        auto fresh = std::make_unique<Face>();
        if (FT_Error err = FT_New_Face(library, path.c_str(), 0, &fresh->face)) {
          by_path.erase(path);
          throw Error(fmt::format("font {}: cannot be opened ({})", spec, freetype_problem(err)));
        }
        if (!FT_IS_SCALABLE(fresh->face)) {
          FT_Done_Face(fresh->face);
          by_path.erase(path);
          throw Error(fmt::format("font {}: not a scalable (outline) font", spec));
        }
        fresh->kerning = FT_HAS_KERNING(fresh->face);
        slot = std::move(fresh);
      }
      f = slot.get();
      by_spec[spec] = f;
    }
    last_spec = spec;
    last_face = f;
    return *f;
  }

  // Opens the face, sets its size and lays the text out into `glyphs`.
  FT_Face prepare(std::string_view utf8, const TextStyle& style) {
    if (!(style.size > 0) || !std::isfinite(style.size) || style.size > 10000)
      throw Error(fmt::format("text size {}: must be a positive number of pixels", style.size));
    if (!std::isfinite(style.rotation))
      throw Error(fmt::format("text rotation {}: must be a finite angle", style.rotation));
    if (!(style.stroke >= 0) || !(style.stroke <= 10000))
      throw Error(fmt::format("stroke {}: must be >= 0 and at most 10000 pixels", style.stroke));
    Face& f = face_for(style.font);
    FT_Face face = f.face;
    const auto size = static_cast<FT_F26Dot6>(std::lround(style.size * 64));
    if (size != f.size) {
      if (FT_Error err = FT_Set_Char_Size(face, 0, std::max<FT_F26Dot6>(size, 1), 72, 72)) {
        f.size = -1;
        throw Error(
            fmt::format("font {}: cannot be set to size {} ({})", style.font, style.size, freetype_problem(err)));
      }
      f.size = size;
    }
    glyphs.clear();
    FT_Pos pen = 0;
    FT_UInt previous = 0;
    for (size_t i = 0; i < utf8.size();) {
      const char32_t cp = next_code_point(utf8, i);
      if (cp < 0x20 || (cp >= 0x7F && cp < 0xA0)) continue;  // control characters draw nothing
      const FT_UInt index = FT_Get_Char_Index(face, cp);
      if (f.kerning && previous && index) {
        FT_Vector k;
        if (!FT_Get_Kerning(face, previous, index, FT_KERNING_UNFITTED, &k)) pen += k.x;
      }
      glyphs.push_back({index, pen});
      FT_Fixed advance = 0;  // 16.16 pixels
      if (!FT_Get_Advance(face, index, kLoadFlags, &advance)) pen += (advance + 512) >> 10;
      previous = index;
    }
    return face;
  }

  // The stroke radius in 26.6; 0 (no stroke) also for strokes under 1/128 pixel,
  // which would not change the pixels.
  static FT_Fixed stroke_radius(const TextStyle& style) {
    return static_cast<FT_Fixed>(std::lround(style.stroke * 64.0));
  }

  // Renders every glyph of `glyphs` rotated and moved by (dx, dy) (26.6, canvas
  // coordinates: y down), stroked by `stroke` (26.6) when it is positive, and
  // calls fn(bitmap, left, top) with the bitmap's top-left pixel in canvas
  // coordinates: once per glyph, or with stroke twice (stroke, then fill) for
  // fn to combine by maximum.
  template <typename Fn>
  void render(FT_Face face, double rotation_deg, FT_Fixed stroke, FT_Pos dx, FT_Pos dy, Fn&& fn) {
    if (stroke > 0) {
      if (!stroker) {
        if (FT_Error err = FT_Stroker_New(library, &stroker)) {
          stroker = nullptr;
          throw Error("FreeType: cannot make a stroker (" + freetype_problem(err) + ")");
        }
      }
      FT_Stroker_Set(stroker, stroke, FT_STROKER_LINECAP_ROUND, FT_STROKER_LINEJOIN_ROUND, 0);
    }
    const auto emit = [&](const FT_Bitmap& bm, int left, int top) {
      if (bm.rows == 0 || bm.width == 0 || bm.pixel_mode != FT_PIXEL_MODE_GRAY) return;
      fn(bm, left, top);
    };
    const double a = rotation_deg * (std::numbers::pi / 180.0);
    const double c = std::cos(a), s = std::sin(a);
    FT_Matrix m;
    m.xx = static_cast<FT_Fixed>(std::lround(c * 65536.0));
    m.xy = static_cast<FT_Fixed>(std::lround(-s * 65536.0));
    m.yx = static_cast<FT_Fixed>(std::lround(s * 65536.0));
    m.yy = m.xx;
    for (const auto& g : glyphs) {
      // FreeType's y axis points up; the canvas's points down.
      FT_Vector delta;
      delta.x = static_cast<FT_Pos>(std::lround(c * static_cast<double>(g.pen))) + dx;
      delta.y = static_cast<FT_Pos>(std::lround(s * static_cast<double>(g.pen))) - dy;
      FT_Set_Transform(face, &m, &delta);
      if (stroke <= 0) {
        if (FT_Load_Glyph(face, g.index, kLoadFlags | FT_LOAD_RENDER)) continue;  // a broken glyph draws nothing
        emit(face->glyph->bitmap, face->glyph->bitmap_left, -face->glyph->bitmap_top);
        continue;
      }
      // Loading applies the transform to the slot's outline, so the copy is already placed.
      if (FT_Load_Glyph(face, g.index, kLoadFlags)) continue;
      FT_GlyphSlot slot = face->glyph;
      if (slot->format != FT_GLYPH_FORMAT_OUTLINE) continue;
      FT_Glyph glyph;
      if (!FT_Get_Glyph(slot, &glyph)) {
        // Both replace (and free) the glyph only when they succeed, so one Done suffices.
        if (!FT_Glyph_Stroke(&glyph, stroker, 1) && !FT_Glyph_To_Bitmap(&glyph, FT_RENDER_MODE_NORMAL, nullptr, 1)) {
          const auto* bitmap = reinterpret_cast<FT_BitmapGlyph>(glyph);
          emit(bitmap->bitmap, bitmap->left, -bitmap->top);
        }
        FT_Done_Glyph(glyph);
      }
      if (!FT_Render_Glyph(slot, FT_RENDER_MODE_NORMAL)) emit(slot->bitmap, slot->bitmap_left, -slot->bitmap_top);
    }
    FT_Set_Transform(face, nullptr, nullptr);
  }

  // The ink box with the pen origin at (dx, dy).
  BoxAcc ink_box(FT_Face face, double rotation, FT_Fixed stroke, FT_Pos dx, FT_Pos dy) {
    BoxAcc acc;
    render(face, rotation, stroke, dx, dy, [&](const FT_Bitmap& bm, int left, int top) {
      int r0 = INT_MAX, r1 = INT_MIN, c0 = INT_MAX, c1 = INT_MIN;
      for (int r = 0; r < static_cast<int>(bm.rows); ++r) {
        const unsigned char* row = bm.buffer + static_cast<ptrdiff_t>(r) * bm.pitch;
        int first = 0, last = static_cast<int>(bm.width) - 1;
        while (first <= last && row[first] == 0) ++first;
        if (first > last) continue;
        while (row[last] == 0) --last;
        r0 = std::min(r0, r), r1 = std::max(r1, r);
        c0 = std::min(c0, first), c1 = std::max(c1, last);
      }
      if (r0 <= r1) acc.add(left + c0, top + r0, left + c1 + 1, top + r1 + 1);
    });
    return acc;
  }

  // Stroked neighbours overlap, so coverage is gathered by maximum and blended once.
  // The mask spans the measured box moved by (dx, dy), widened for the sub-pixel
  // part of the move. Returns the inked box.
  BoxAcc draw_stroked(Image& canvas, FT_Face face, const TextStyle& style, FT_Fixed stroke, const BoxAcc& measured,
                      FT_Pos dx, FT_Pos dy) {
    const int fg[3] = {style.color[0], style.color[1], style.color[2]};
    const int mx0 = std::max(0, measured.x0 + static_cast<int>(std::floor(dx / 64.0)) - 2);
    const int my0 = std::max(0, measured.y0 + static_cast<int>(std::floor(dy / 64.0)) - 2);
    const int mx1 = std::min(canvas.width, measured.x1 + static_cast<int>(std::ceil(dx / 64.0)) + 2);
    const int my1 = std::min(canvas.height, measured.y1 + static_cast<int>(std::ceil(dy / 64.0)) + 2);
    BoxAcc inked;
    if (mx1 <= mx0 || my1 <= my0) return inked;
    const int mw = mx1 - mx0;
    coverage.assign(static_cast<size_t>(mw) * (my1 - my0), 0);
    render(face, style.rotation, stroke, dx, dy, [&](const FT_Bitmap& bm, int left, int top) {
      const int r_begin = std::max(0, my0 - top), r_end = std::min(static_cast<int>(bm.rows), my1 - top);
      const int c_begin = std::max(0, mx0 - left), c_end = std::min(static_cast<int>(bm.width), mx1 - left);
      for (int r = r_begin; r < r_end; ++r) {
        const unsigned char* cov = bm.buffer + static_cast<ptrdiff_t>(r) * bm.pitch;
        uint8_t* m = coverage.data() + static_cast<size_t>(top + r - my0) * mw + (left - mx0);
        for (int c = c_begin; c < c_end; ++c) m[c] = std::max<uint8_t>(m[c], cov[c]);
      }
    });
    for (int y = my0; y < my1; ++y) {
      const uint8_t* cov = coverage.data() + static_cast<size_t>(y - my0) * mw;
      uint8_t* px = canvas.pixel(mx0, y);
      for (int x = mx0; x < mx1; ++x, px += 3) {
        const int a = cov[x - mx0];
        if (a == 0) continue;
        inked.add(x, y, x + 1, y + 1);
        blend(px, fg, a);
      }
    }
    return inked;
  }
};

TextRasterizer::TextRasterizer(std::filesystem::path font_dir) : impl_(std::make_unique<Impl>()) {
  if (!font_dir.empty()) {
    impl_->font_dirs = {std::move(font_dir)};
  } else if (const char* env = std::getenv("CLIPSCOPE_FONT_DIR"); env && *env) {
    for (const auto& dir : split(env, ':'))
      if (!dir.empty()) impl_->font_dirs.emplace_back(dir);
  } else {
    impl_->font_dirs = kDefaultFontDirs;
  }
  if (FT_Error err = FT_Init_FreeType(&impl_->library)) {
    impl_->library = nullptr;
    throw Error("FreeType: cannot be initialized (" + freetype_problem(err) + ")");
  }
}

TextRasterizer::~TextRasterizer() = default;
TextRasterizer::TextRasterizer(TextRasterizer&&) noexcept = default;
TextRasterizer& TextRasterizer::operator=(TextRasterizer&&) noexcept = default;

std::vector<std::string> TextRasterizer::available_fonts() const { return impl_->available(); }

std::vector<char32_t> TextRasterizer::missing_glyphs(std::string_view utf8, const std::string& font) {
  FT_Face face = impl_->face_for(font).face;
  std::vector<char32_t> missing;
  for (size_t i = 0; i < utf8.size();) {
    const char32_t cp = next_code_point(utf8, i);
    if (cp < 0x20 || (cp >= 0x7F && cp < 0xA0)) continue;  // control characters are not drawn
    if ((cp == 0xFFFD || FT_Get_Char_Index(face, cp) == 0) &&
        std::find(missing.begin(), missing.end(), cp) == missing.end())
      missing.push_back(cp);
  }
  // Malformed UTF-8 first: it is the more basic problem.
  std::stable_partition(missing.begin(), missing.end(), [](char32_t cp) { return cp == 0xFFFD; });
  return missing;
}

PixelBox TextRasterizer::measure(std::string_view utf8, const TextStyle& style) {
  FT_Face face = impl_->prepare(utf8, style);
  return impl_->ink_box(face, style.rotation, Impl::stroke_radius(style), 0, 0).box();
}

PixelBox TextRasterizer::draw(Image& canvas, std::string_view utf8, const TextStyle& style, TextPlacement where) {
  if (canvas.width < 0 || canvas.height < 0 ||
      canvas.rgb.size() != static_cast<size_t>(canvas.width) * canvas.height * 3)
    throw Error(fmt::format("text canvas: {} x {} image with {} bytes of pixels", canvas.width, canvas.height,
                            canvas.rgb.size()));
  if (!std::isfinite(where.x) || !std::isfinite(where.y) || std::abs(where.x) > 1e7 || std::abs(where.y) > 1e7)
    throw Error(fmt::format("text placement ({}, {}): not a usable position", where.x, where.y));
  FT_Face face = impl_->prepare(utf8, style);
  const FT_Fixed stroke = Impl::stroke_radius(style);
  const BoxAcc measured = impl_->ink_box(face, style.rotation, stroke, 0, 0);
  if (measured.empty() || canvas.width == 0 || canvas.height == 0) return {};

  // Move the ink's centre onto the placement, to 1/64 pixel.
  const double cx = 0.5 * (measured.x0 + measured.x1), cy = 0.5 * (measured.y0 + measured.y1);
  const auto dx = static_cast<FT_Pos>(std::lround((where.x - cx) * 64.0));
  const auto dy = static_cast<FT_Pos>(std::lround((where.y - cy) * 64.0));

  if (stroke > 0) return impl_->draw_stroked(canvas, face, style, stroke, measured, dx, dy).box();
  const int fg[3] = {style.color[0], style.color[1], style.color[2]};
  const int W = canvas.width, H = canvas.height;
  BoxAcc inked;
  impl_->render(face, style.rotation, 0, dx, dy, [&](const FT_Bitmap& bm, int left, int top) {
    const int r_begin = std::max(0, -top), r_end = std::min(static_cast<int>(bm.rows), H - top);
    const int c_begin = std::max(0, -left), c_end = std::min(static_cast<int>(bm.width), W - left);
    int r0 = INT_MAX, r1 = INT_MIN, c0 = INT_MAX, c1 = INT_MIN;
    for (int r = r_begin; r < r_end; ++r) {
      const unsigned char* cov = bm.buffer + static_cast<ptrdiff_t>(r) * bm.pitch;
      uint8_t* px = canvas.pixel(left + c_begin, top + r);
      bool any = false;
      for (int c = c_begin; c < c_end; ++c, px += 3) {
        const int a = cov[c];
        if (a == 0) continue;
        if (!any) c0 = std::min(c0, c), any = true;
        c1 = std::max(c1, c);
        blend(px, fg, a);
      }
      if (any) r0 = std::min(r0, r), r1 = std::max(r1, r);
    }
    if (r0 <= r1) inked.add(left + c0, top + r0, left + c1 + 1, top + r1 + 1);
  });
  return inked.box();
}

PixelBox draw_outlined(TextRasterizer& raster, Image& canvas, std::string_view utf8, const TextStyle& style,
                       Rgb outline, double outline_width, TextPlacement where) {
  TextStyle edge = style;
  edge.color = outline;
  edge.stroke = outline_width;
  raster.draw(canvas, utf8, edge, where);
  TextStyle fill = style;
  fill.stroke = 0;
  return raster.draw(canvas, utf8, fill, where);
}

Image blank_image(int width, int height, Rgb background) {
  if (width < 0 || height < 0 || static_cast<int64_t>(width) * height > (int64_t{1} << 28))
    throw Error(fmt::format("blank image {} x {}: not a usable size", width, height));
  Image image;
  image.width = width;
  image.height = height;
  image.rgb.resize(static_cast<size_t>(width) * height * 3);
  for (size_t i = 0; i < image.rgb.size(); i += 3) {
    image.rgb[i] = background[0];
    image.rgb[i + 1] = background[1];
    image.rgb[i + 2] = background[2];
  }
  return image;
}

namespace {

struct NamedColor {
  const char* name;
  Rgb rgb;
};

// CSS's basic and common extended names.
constexpr NamedColor kColors[] = {
    {"black", {0, 0, 0}},          {"white", {255, 255, 255}},     {"red", {255, 0, 0}},
    {"green", {0, 128, 0}},        {"lime", {0, 255, 0}},          {"blue", {0, 0, 255}},
    {"yellow", {255, 255, 0}},     {"cyan", {0, 255, 255}},        {"aqua", {0, 255, 255}},
    {"magenta", {255, 0, 255}},    {"fuchsia", {255, 0, 255}},     {"purple", {128, 0, 128}},
    {"orange", {255, 165, 0}},     {"pink", {255, 192, 203}},      {"gray", {128, 128, 128}},
    {"grey", {128, 128, 128}},     {"silver", {192, 192, 192}},    {"maroon", {128, 0, 0}},
    {"olive", {128, 128, 0}},      {"navy", {0, 0, 128}},          {"teal", {0, 128, 128}},
    {"brown", {165, 42, 42}},      {"violet", {238, 130, 238}},    {"indigo", {75, 0, 130}},
    {"gold", {255, 215, 0}},       {"beige", {245, 245, 220}},     {"tan", {210, 180, 140}},
    {"turquoise", {64, 224, 208}}, {"lightgray", {211, 211, 211}}, {"lightgrey", {211, 211, 211}},
    {"darkgray", {169, 169, 169}}, {"darkgrey", {169, 169, 169}},
};

}  // namespace

Rgb parse_color(std::string_view spec) {
  const auto fail = [&] { return Error(fmt::format("colour \"{}\": not a colour name, #rrggbb or r,g,b", spec)); };
  const std::string s = lower_ascii(trim(spec));
  if (s.empty()) throw fail();
  Rgb out{};
  if (s[0] == '#') {  // #rrggbb
    if (s.size() != 7) throw fail();
    for (size_t i = 1; i < 7; ++i) {
      const char ch = s[i];
      if (!std::isxdigit(static_cast<unsigned char>(ch))) throw fail();
      const int v = ch <= '9' ? ch - '0' : ch - 'a' + 10;
      out[(i - 1) / 2] = static_cast<uint8_t>(out[(i - 1) / 2] * 16 + v);
    }
    return out;
  }
  if (s.find(',') != std::string::npos) {  // r,g,b
    std::string_view rest = s;
    for (int k = 0; k < 3; ++k) {
      const size_t comma = rest.find(',');
      if ((k < 2) != (comma != std::string_view::npos)) throw fail();
      const std::string_view part = trim(rest.substr(0, comma));
      if (part.empty() || part.size() > 3) throw fail();
      int v = 0;
      for (char ch : part) {
        if (!std::isdigit(static_cast<unsigned char>(ch))) throw fail();
        v = v * 10 + (ch - '0');
      }
      if (v > 255) throw fail();
      out[k] = static_cast<uint8_t>(v);
      rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
    }
    return out;
  }
  for (const auto& c : kColors) {
    if (s == c.name) return c.rgb;
  }
  throw fail();
}

}  // namespace clipscope
