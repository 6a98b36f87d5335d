#pragma once
// Internal to src/plot: the cairo canvas the charts and contact sheets draw on,
// its PNG output, and text drawn with cairo's toy API in DejaVu Sans. Included
// only by the .cpp files, so cairo stays a private dependency of clipscope_plot.
#include <cairo.h>
#include <fmt/format.h>

#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "core/util/error.h"

namespace clipscope::plot::detail {

struct Canvas {
  std::unique_ptr<cairo_surface_t, decltype(&cairo_surface_destroy)> surface{nullptr, cairo_surface_destroy};
  std::unique_ptr<cairo_t, decltype(&cairo_destroy)> cr{nullptr, cairo_destroy};
  int width = 0, height = 0;
};

// A white RGB canvas (RGB24: the PNG has no alpha channel, so pixels read back
// exactly as drawn).
inline Canvas make_canvas(const std::filesystem::path& png, int width, int height) {
  if (width < 1 || height < 1 || width > 32767 || height > 32767)
    throw Error(fmt::format("{}: image size {}x{} is out of range", png.string(), width, height));
  Canvas canvas;
  canvas.surface.reset(cairo_image_surface_create(CAIRO_FORMAT_RGB24, width, height));
  canvas.cr.reset(cairo_create(canvas.surface.get()));
  if (cairo_status(canvas.cr.get()) != CAIRO_STATUS_SUCCESS)
    throw Error(fmt::format("{}: cannot create a {}x{} canvas ({})", png.string(), width, height,
                            cairo_status_to_string(cairo_status(canvas.cr.get()))));
  canvas.width = width;
  canvas.height = height;
  cairo_set_source_rgb(canvas.cr.get(), 1, 1, 1);
  cairo_paint(canvas.cr.get());
  return canvas;
}

inline void write_canvas(Canvas& canvas, const std::filesystem::path& png) {
  cairo_surface_flush(canvas.surface.get());
  cairo_status_t status = cairo_surface_write_to_png(canvas.surface.get(), png.c_str());
  if (status != CAIRO_STATUS_SUCCESS)
    throw Error(fmt::format("{}: cannot write ({})", png.string(), cairo_status_to_string(status)));
}

// x/255 maps back to exactly x in cairo's 8-bit surfaces, so fills keep palette colours.
inline void set_colour(cairo_t* cr, const std::array<uint8_t, 3>& rgb) {
  cairo_set_source_rgb(cr, rgb[0] / 255.0, rgb[1] / 255.0, rgb[2] / 255.0);
}

// A solid rectangle on whole pixels without antialiasing: every pixel inside is
// exactly the source colour (the tests look for exact colours).
inline void fill_pixels(cairo_t* cr, int x, int y, int width, int height) {
  if (width <= 0 || height <= 0) return;
  cairo_save(cr);
  cairo_set_antialias(cr, CAIRO_ANTIALIAS_NONE);
  cairo_rectangle(cr, x, y, width, height);
  cairo_fill(cr);
  cairo_restore(cr);
}

inline void set_font(cairo_t* cr, double size, bool bold = false) {
  cairo_select_font_face(cr, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL,
                         bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size(cr, size);
}

inline double text_width(cairo_t* cr, const std::string& text) {
  cairo_text_extents_t extents;
  cairo_text_extents(cr, text.c_str(), &extents);
  return extents.x_advance;
}

enum class Align { left, centre, right };

// Draws text with its baseline at y; x is its left edge, centre or right edge.
inline void draw_text(cairo_t* cr, const std::string& text, double x, double y, Align align = Align::left) {
  if (text.empty()) return;
  double width = text_width(cr, text);
  if (align == Align::centre) x -= width / 2;
  if (align == Align::right) x -= width;
  cairo_move_to(cr, x, y);
  cairo_show_text(cr, text.c_str());
}

// Text read bottom-to-top (a y-axis label), centred on (x, y); baseline on the right of x.
inline void draw_vertical_text(cairo_t* cr, const std::string& text, double x, double y) {
  if (text.empty()) return;
  cairo_save(cr);
  cairo_translate(cr, x, y);
  cairo_rotate(cr, -1.5707963267948966);
  draw_text(cr, text, 0, 0, Align::centre);
  cairo_restore(cr);
}

}  // namespace clipscope::plot::detail
