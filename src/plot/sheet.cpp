// Contact sheets: tiles are resized with clipscope's own bicubic resampler and
// copied into the cairo canvas pixel for pixel (no cairo scaling, so a tile's
// colours survive exactly); outlines, captions and the title are drawn on top.
#include "plot/sheet.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "core/image/preprocess.h"
#include "plot/canvas.h"

namespace clipscope::plot {
namespace {

using namespace detail;

constexpr std::array<uint8_t, 3> kInk{20, 20, 20};
constexpr int kOutlineThickness = 2;

std::vector<std::string> caption_lines(const std::string& caption) {
  std::vector<std::string> lines;
  if (caption.empty()) return lines;
  std::istringstream in(caption);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

void validate(const std::filesystem::path& png, const std::vector<Tile>& tiles, int columns, int tile_size) {
  auto fail = [&](const std::string& problem) {
    throw Error(fmt::format("{}: contact sheet: {}", png.string(), problem));
  };
  if (tiles.empty()) fail("no tiles");
  if (columns < 1) fail(fmt::format("columns must be >= 1 (got {})", columns));
  if (tile_size < 1 || tile_size > 4096) fail(fmt::format("tile_size must be in [1, 4096] (got {})", tile_size));
  for (size_t i = 0; i < tiles.size(); ++i) {
    const Image& image = tiles[i].image;
    if (image.width < 1 || image.height < 1) fail(fmt::format("tile {} has an empty image", i));
    if (image.rgb.size() != static_cast<size_t>(image.width) * image.height * 3)
      fail(
          fmt::format("tile {} has {} bytes of RGB for a {}x{} image", i, image.rgb.size(), image.width, image.height));
    if (const auto& box = tiles[i].outline; box && (box->width < 1 || box->height < 1))
      fail(fmt::format("tile {} has an outline of size {}x{}", i, box->width, box->height));
  }
}

// The largest size with the image's aspect ratio that fits a side x side square.
std::pair<int, int> fitted_size(const Image& image, int side) {
  double scale = std::min(static_cast<double>(side) / image.width, static_cast<double>(side) / image.height);
  int width = std::clamp(static_cast<int>(std::lround(image.width * scale)), 1, side);
  int height = std::clamp(static_cast<int>(std::lround(image.height * scale)), 1, side);
  return {width, height};
}

// Copies RGB pixels into the canvas at (x, y); the image must lie inside it.
void blit(Canvas& canvas, const Image& image, int x, int y) {
  cairo_surface_t* surface = canvas.surface.get();
  cairo_surface_flush(surface);  // finish cairo's pending drawing before touching memory
  unsigned char* data = cairo_image_surface_get_data(surface);
  int stride = cairo_image_surface_get_stride(surface);
  for (int row = 0; row < image.height; ++row) {
    auto* out = reinterpret_cast<uint32_t*>(data + static_cast<size_t>(y + row) * stride) + x;
    for (int col = 0; col < image.width; ++col) {
      const uint8_t* p = image.pixel(col, row);
      out[col] = 0xFF000000u | (uint32_t{p[0]} << 16) | (uint32_t{p[1]} << 8) | p[2];  // RGB24, native-endian
    }
  }
  cairo_surface_mark_dirty(surface);
}

// The outline box mapped from source-image pixels onto the placed tile, drawn
// as four solid bands just inside it.
void draw_outline(cairo_t* cr, Box box, const Image& source, int x, int y, int width, int height) {
  double sx = static_cast<double>(width) / source.width, sy = static_cast<double>(height) / source.height;
  int x0 = std::clamp(static_cast<int>(std::lround(box.x * sx)), 0, width);
  int y0 = std::clamp(static_cast<int>(std::lround(box.y * sy)), 0, height);
  int x1 = std::clamp(static_cast<int>(std::lround((box.x + box.width) * sx)), 0, width);
  int y1 = std::clamp(static_cast<int>(std::lround((box.y + box.height) * sy)), 0, height);
  if (x1 <= x0 || y1 <= y0) return;  // the box lies outside the image: nothing of it to show
  int tx = std::min(kOutlineThickness, x1 - x0), ty = std::min(kOutlineThickness, y1 - y0);
  set_colour(cr, outline_colour());
  fill_pixels(cr, x + x0, y + y0, x1 - x0, ty);
  fill_pixels(cr, x + x0, y + y1 - ty, x1 - x0, ty);
  fill_pixels(cr, x + x0, y + y0, tx, y1 - y0);
  fill_pixels(cr, x + x1 - tx, y + y0, tx, y1 - y0);
}

// Caption lines under a cell, centred when they fit and clipped to the cell otherwise.
void draw_caption(cairo_t* cr, const std::vector<std::string>& lines, int x, int y, int width) {
  cairo_save(cr);
  cairo_rectangle(cr, x, y, width, static_cast<double>(lines.size()) * caption_line_height);
  cairo_clip(cr);
  set_colour(cr, kInk);
  set_font(cr, 11);
  for (size_t i = 0; i < lines.size(); ++i) {
    double baseline = y + 12 + static_cast<double>(i) * caption_line_height;
    if (text_width(cr, lines[i]) <= width)
      draw_text(cr, lines[i], x + width / 2.0, baseline, Align::centre);
    else
      draw_text(cr, lines[i], x, baseline);
  }
  cairo_restore(cr);
}

}  // namespace

Image crop(const Image& image, Box box) {
  int x0 = std::max(box.x, 0), y0 = std::max(box.y, 0);
  int x1 = std::min(box.x + box.width, image.width), y1 = std::min(box.y + box.height, image.height);
  if (x1 <= x0 || y1 <= y0)
    throw Error(fmt::format("crop: box ({}, {}, {}x{}) misses the {}x{} image", box.x, box.y, box.width, box.height,
                            image.width, image.height));
  Image out;
  out.width = x1 - x0;
  out.height = y1 - y0;
  out.nearest_resize = image.nearest_resize;
  out.rgb.reserve(static_cast<size_t>(out.width) * out.height * 3);
  for (int y = y0; y < y1; ++y) out.rgb.insert(out.rgb.end(), image.pixel(x0, y), image.pixel(x0, y) + out.width * 3);
  if (image.alpha.size() == static_cast<size_t>(image.width) * image.height) {
    for (int y = y0; y < y1; ++y) {
      auto row = image.alpha.begin() + static_cast<ptrdiff_t>(y) * image.width;
      out.alpha.insert(out.alpha.end(), row + x0, row + x1);
    }
  }
  return out;
}

void write_contact_sheet(const std::filesystem::path& png, const std::vector<Tile>& tiles, int columns, int tile_size,
                         const std::string& title) {
  validate(png, tiles, columns, tile_size);
  size_t most_lines = 0;
  for (const Tile& tile : tiles) most_lines = std::max(most_lines, caption_lines(tile.caption).size());
  const int caption_height = static_cast<int>(most_lines) * caption_line_height;
  const int used_columns = std::min(columns, static_cast<int>(tiles.size()));
  const int rows = (static_cast<int>(tiles.size()) + used_columns - 1) / used_columns;
  const int title_height = title.empty() ? 0 : sheet_title_height;
  const int width = sheet_gap + used_columns * (tile_size + sheet_gap);
  const int height = title_height + sheet_gap + rows * (tile_size + caption_height + sheet_gap);

  Canvas canvas = make_canvas(png, width, height);
  cairo_t* cr = canvas.cr.get();
  for (size_t i = 0; i < tiles.size(); ++i) {
    const Tile& tile = tiles[i];
    int cell_x = sheet_gap + static_cast<int>(i) % used_columns * (tile_size + sheet_gap);
    int cell_y =
        title_height + sheet_gap + static_cast<int>(i) / used_columns * (tile_size + caption_height + sheet_gap);
    auto [fit_width, fit_height] = fitted_size(tile.image, tile_size);
    bool same_size = fit_width == tile.image.width && fit_height == tile.image.height;
    Image scaled = same_size ? tile.image : resize_bicubic(tile.image, fit_width, fit_height);
    int x = cell_x + (tile_size - fit_width) / 2, y = cell_y + (tile_size - fit_height) / 2;
    blit(canvas, scaled, x, y);
    if (tile.outline) draw_outline(cr, *tile.outline, tile.image, x, y, fit_width, fit_height);
    draw_caption(cr, caption_lines(tile.caption), cell_x, cell_y + tile_size, tile_size);
  }
  if (!title.empty()) {
    set_colour(cr, kInk);
    set_font(cr, 14, true);
    draw_text(cr, title, width / 2.0, 20, Align::centre);
  }
  write_canvas(canvas, png);
}

}  // namespace clipscope::plot
