// Axis drawing shared by the charts, and the round-number tick rule.
#include "plot/axes.h"

#include <algorithm>
#include <cmath>

#include "plot/canvas.h"

namespace clipscope::plot {

std::vector<double> nice_ticks(double lo, double hi, int target) {
  if (!std::isfinite(lo) || !std::isfinite(hi))
    throw Error(fmt::format("nice_ticks: non-finite range [{}, {}]", lo, hi));
  if (hi < lo) std::swap(lo, hi);
  if (hi == lo) hi = lo + (lo == 0 ? 1 : std::abs(lo));  // a flat range still needs an axis
  double raw = (hi - lo) / std::max(1, target);
  double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  double norm = raw / magnitude;
  double step = (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 5 ? 5 : 10) * magnitude;
  // Multiples of step are computed as k * step so they print as round numbers.
  auto first = static_cast<long long>(std::floor(lo / step + 1e-9));
  auto last = static_cast<long long>(std::ceil(hi / step - 1e-9));
  std::vector<double> ticks;
  for (long long k = first; k <= last; ++k) ticks.push_back(k == 0 ? 0.0 : k * step);
  return ticks;
}

namespace detail {

std::string format_tick(double value, double step) {
  int decimals = std::max(0, static_cast<int>(std::ceil(-std::log10(step) - 1e-9)));
  if (std::abs(value) < step * 1e-6) value = 0;
  return fmt::format("{:.{}f}", value, decimals);
}

std::vector<Tick> linear_ticks(double lo, double hi) {
  std::vector<double> values = nice_ticks(lo, hi);
  double step = values.size() > 1 ? values[1] - values[0] : 1;
  std::vector<Tick> ticks;
  for (double v : values) ticks.push_back({v, format_tick(v, step)});
  return ticks;
}

double widest_label(cairo_t* cr, const std::vector<Tick>& ticks) {
  double widest = 0;
  for (const Tick& t : ticks) widest = std::max(widest, text_width(cr, t.label));
  return widest;
}

void draw_title(cairo_t* cr, const std::string& title, int width, double baseline) {
  set_colour(cr, kInk);
  set_font(cr, 15, true);
  draw_text(cr, title, width / 2.0, baseline, Align::centre);
}

void draw_y_axis(cairo_t* cr, const Area& area, const std::vector<Tick>& ticks, const Scale& y,
                 const std::string& label) {
  set_font(cr, 11);
  for (const Tick& t : ticks) {
    double py = std::round(y(t.value)) + 0.5;  // centre of a pixel row: a crisp 1px line
    set_colour(cr, kGrid);
    cairo_move_to(cr, area.left, py);
    cairo_line_to(cr, area.right, py);
    cairo_set_line_width(cr, 1);
    cairo_stroke(cr);
    set_colour(cr, kInk);
    draw_text(cr, t.label, area.left - 6, py + 4, Align::right);
  }
  set_font(cr, 12);
  draw_vertical_text(cr, label, 16, (area.top + area.bottom) / 2.0);
}

void draw_x_axis(cairo_t* cr, const Area& area, const std::vector<Tick>& ticks, const Scale& x,
                 const std::string& label, int label_baseline) {
  set_colour(cr, kInk);
  set_font(cr, 11);
  for (const Tick& t : ticks) {
    double px = std::round(x(t.value)) + 0.5;
    cairo_move_to(cr, px, area.bottom);
    cairo_line_to(cr, px, area.bottom + 4);
    cairo_set_line_width(cr, 1);
    cairo_stroke(cr);
    draw_text(cr, t.label, px, area.bottom + 16, Align::centre);
  }
  set_font(cr, 12);
  draw_text(cr, label, (area.left + area.right) / 2.0, label_baseline, Align::centre);
}

void draw_frame(cairo_t* cr, const Area& area) {
  set_colour(cr, kInk);
  cairo_set_line_width(cr, 1);
  cairo_move_to(cr, area.left - 0.5, area.top);
  cairo_line_to(cr, area.left - 0.5, area.bottom + 0.5);
  cairo_line_to(cr, area.right, area.bottom + 0.5);
  cairo_stroke(cr);
}

}  // namespace detail
}  // namespace clipscope::plot
