#pragma once
// Internal to src/plot: the frame shared by the charts — a plot area, linear
// scales from data to pixels, round-number ticks, gridlines, axis labels and
// the title. Included only by the .cpp files (it needs cairo).
#include <cairo.h>

#include <string>
#include <vector>

#include "plot/chart.h"

namespace clipscope::plot::detail {

constexpr Rgb kInk{20, 20, 20};
constexpr Rgb kGrid{228, 228, 228};

// Data value -> pixel, linear between two anchors.
struct Scale {
  double d0, d1, p0, p1;
  double operator()(double v) const { return p0 + (v - d0) / (d1 - d0) * (p1 - p0); }
};

// The plot area in canvas pixels, [left, right) x [top, bottom).
struct Area {
  int left, top, right, bottom;
  int width() const { return right - left; }
  int height() const { return bottom - top; }
};

struct Tick {
  double value;
  std::string label;
};

// Enough decimals to tell ticks `step` apart, and never "-0".
std::string format_tick(double value, double step);
// nice_ticks(lo, hi) with their labels.
std::vector<Tick> linear_ticks(double lo, double hi);
// The width of the widest label in the current font.
double widest_label(cairo_t* cr, const std::vector<Tick>& ticks);

// Bold, centred, baseline at `baseline`.
void draw_title(cairo_t* cr, const std::string& title, int width, double baseline = 22);
// Horizontal gridlines with labels left of the area, and the y-axis label.
void draw_y_axis(cairo_t* cr, const Area& area, const std::vector<Tick>& ticks, const Scale& y,
                 const std::string& label);
// Tick marks and labels under the area, and the x-axis label with its baseline at label_baseline.
void draw_x_axis(cairo_t* cr, const Area& area, const std::vector<Tick>& ticks, const Scale& x,
                 const std::string& label, int label_baseline);
// The left and bottom axis lines.
void draw_frame(cairo_t* cr, const Area& area);

}  // namespace clipscope::plot::detail
