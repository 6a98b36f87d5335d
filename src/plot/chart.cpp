// Charts on a cairo canvas. Layout: a title line, a plot area framed by a left
// and a bottom axis with ticks at round numbers, axis labels outside it. Data
// fills snap to whole pixels (no antialiasing) so their colours are exact.
#include "plot/chart.h"

#include <algorithm>
#include <cmath>

#include "plot/axes.h"
#include "plot/canvas.h"
#include "plot/map.h"

namespace clipscope::plot {
namespace {

using namespace detail;

constexpr Rgb kRangeLine{120, 120, 120};
constexpr Rgb kRowShade{246, 246, 246};
constexpr Rgb kZeroLine{70, 70, 70};

[[noreturn]] void fail(const std::filesystem::path& png, const std::string& problem) {
  throw Error(fmt::format("{}: {}", png.string(), problem));
}

void require_finite(const std::filesystem::path& png, const std::string& what, const std::vector<double>& values) {
  for (size_t i = 0; i < values.size(); ++i)
    if (!std::isfinite(values[i])) fail(png, fmt::format("{}[{}] is not finite ({})", what, i, values[i]));
}

void require_size(const std::filesystem::path& png, const std::string& what, size_t size, size_t expected,
                  const std::string& of) {
  if (size != expected) fail(png, fmt::format("{} has {} entries but there are {} {}", what, size, expected, of));
}

void check_area(const std::filesystem::path& png, const Area& area, int width, int height) {
  if (area.width() < 20 || area.height() < 10)
    fail(png, fmt::format("image size {}x{} is too small for this chart", width, height));
}

void validate(const std::filesystem::path& png, const StackedBars& chart) {
  if (chart.x_ticks.empty()) fail(png, "stacked bars: no x positions");
  if (chart.series.empty()) fail(png, "stacked bars: no series");
  for (const Series& s : chart.series) {
    std::string what = fmt::format("series '{}'", s.name);
    require_size(png, what, s.values.size(), chart.x_ticks.size(), "x positions");
    require_finite(png, what, s.values);
    for (double v : s.values)
      if (v < 0) fail(png, fmt::format("{} has a negative value ({}); stacked bars need values >= 0", what, v));
  }
  if (chart.y_max && !(std::isfinite(*chart.y_max) && *chart.y_max > 0))
    fail(png, fmt::format("stacked bars: y_max must be finite and > 0 (got {})", *chart.y_max));
}

}  // namespace

void write_stacked_bars(const std::filesystem::path& png, const StackedBars& chart, int width, int height) {
  validate(png, chart);
  const size_t positions = chart.x_ticks.size();
  double tallest = 0;
  for (size_t i = 0; i < positions; ++i) {
    double stack = 0;
    for (const Series& s : chart.series) stack += s.values[i];
    tallest = std::max(tallest, stack);
  }
  double y_top = chart.y_max ? *chart.y_max : nice_ticks(0, tallest > 0 ? tallest : 1).back();
  std::vector<Tick> y_ticks;
  for (const Tick& t : linear_ticks(0, y_top))
    if (t.value <= y_top * (1 + 1e-9)) y_ticks.push_back(t);

  Canvas canvas = make_canvas(png, width, height);
  cairo_t* cr = canvas.cr.get();
  set_font(cr, 11);
  int left = static_cast<int>(widest_label(cr, y_ticks)) + 36;
  set_font(cr, 12);
  double legend_width = 0;
  for (const Series& s : chart.series) legend_width = std::max(legend_width, text_width(cr, s.name));
  Area area{left, chart.title.empty() ? 16 : 40, width - static_cast<int>(legend_width) - 46,
            height - (chart.x_label.empty() ? 30 : 50)};
  check_area(png, area, width, height);

  draw_title(cr, chart.title, width);
  Scale y{0, y_top, static_cast<double>(area.bottom), static_cast<double>(area.top)};
  draw_y_axis(cr, area, y_ticks, y, chart.y_label);
  // Stack boundaries are rounded once, so adjacent segments share a pixel edge exactly.
  auto row_of = [&](double v) { return std::clamp(static_cast<int>(std::lround(y(v))), area.top, area.bottom); };
  double slot = static_cast<double>(area.width()) / positions;
  int bar_width = std::max(1, static_cast<int>(std::lround(slot * 0.7)));
  for (size_t i = 0; i < positions; ++i) {
    int x0 = static_cast<int>(std::lround(area.left + slot * (i + 0.5) - bar_width / 2.0));
    double base = 0;
    for (size_t s = 0; s < chart.series.size(); ++s) {
      double top = base + chart.series[s].values[i];
      set_colour(cr, palette()[s % palette().size()]);
      fill_pixels(cr, x0, row_of(top), bar_width, row_of(base) - row_of(top));
      base = top;
    }
  }
  // Category labels; when they would overlap, only every `every`-th is shown.
  set_colour(cr, kInk);
  set_font(cr, 11);
  double widest_tick = 0;
  for (const std::string& t : chart.x_ticks) widest_tick = std::max(widest_tick, text_width(cr, t));
  size_t every = std::max<size_t>(1, static_cast<size_t>(std::ceil((widest_tick + 6) / slot)));
  for (size_t i = 0; i < positions; i += every)
    draw_text(cr, chart.x_ticks[i], area.left + slot * (i + 0.5), area.bottom + 16, Align::centre);
  set_font(cr, 12);
  draw_text(cr, chart.x_label, (area.left + area.right) / 2.0, area.bottom + 38, Align::centre);
  draw_frame(cr, area);

  // Legend, top entry = top of the stack, so it reads like the bars.
  int legend_x = area.right + 16, legend_y = area.top;
  for (size_t s = chart.series.size(); s-- > 0;) {
    set_colour(cr, palette()[s % palette().size()]);
    fill_pixels(cr, legend_x, legend_y, 12, 12);
    set_colour(cr, kInk);
    draw_text(cr, chart.series[s].name, legend_x + 18, legend_y + 11);
    legend_y += 20;
  }
  write_canvas(canvas, png);
}

void write_range_rows(const std::filesystem::path& png, const RangeRows& chart, int width, int height) {
  const size_t rows = chart.categories.size();
  if (rows == 0) fail(png, "range rows: no categories");
  require_size(png, "median", chart.median.size(), rows, "categories");
  require_size(png, "lo", chart.lo.size(), rows, "categories");
  require_size(png, "hi", chart.hi.size(), rows, "categories");
  if (!chart.counts.empty()) require_size(png, "counts", chart.counts.size(), rows, "categories");
  require_finite(png, "median", chart.median);
  require_finite(png, "lo", chart.lo);
  require_finite(png, "hi", chart.hi);
  for (size_t i = 0; i < rows; ++i)
    if (chart.lo[i] > chart.hi[i])
      fail(png, fmt::format("range rows: '{}' has lo {} > hi {}", chart.categories[i], chart.lo[i], chart.hi[i]));

  // The axis always includes 0: the zero line is the reference every row is read against.
  double data_lo = 0, data_hi = 0;
  for (size_t i = 0; i < rows; ++i) {
    data_lo = std::min({data_lo, chart.lo[i], chart.median[i]});
    data_hi = std::max({data_hi, chart.hi[i], chart.median[i]});
  }
  std::vector<Tick> x_ticks = linear_ticks(data_lo, data_hi);

  if (height == 0) height = 60 + range_row_height * static_cast<int>(rows);
  Canvas canvas = make_canvas(png, width, height);
  cairo_t* cr = canvas.cr.get();
  set_font(cr, 12);
  double name_width = 0, count_width = 0;
  for (const std::string& c : chart.categories) name_width = std::max(name_width, text_width(cr, c));
  for (int64_t n : chart.counts) count_width = std::max(count_width, text_width(cr, fmt::format("n={}", n)));
  int left = std::clamp(static_cast<int>(name_width) + 16, 60, width / 3);
  int right = width - (chart.counts.empty() ? 24 : static_cast<int>(count_width) + 16);
  // A compact frame (60px in all with a title) so that the rows get the height.
  Area area{left, chart.title.empty() ? 8 : 28, right, height - 32};
  check_area(png, area, width, height);
  double row_height = static_cast<double>(area.height()) / rows;

  draw_title(cr, chart.title, width, 19);
  Scale x{x_ticks.front().value, x_ticks.back().value, static_cast<double>(area.left), static_cast<double>(area.right)};
  auto column_of = [&](double v) { return static_cast<int>(std::lround(x(v))); };
  for (size_t i = 1; i < rows; i += 2) {  // shading every other row guides the eye to the labels
    set_colour(cr, kRowShade);
    fill_pixels(cr, area.left, static_cast<int>(area.top + i * row_height), area.width(),
                static_cast<int>(std::lround(row_height)));
  }
  for (const Tick& t : x_ticks) {
    set_colour(cr, t.value == 0 ? kZeroLine : kGrid);
    fill_pixels(cr, column_of(t.value), area.top, 1, area.height());
  }
  int marker_height = std::clamp(static_cast<int>(row_height) - 10, 2, 16);
  for (size_t i = 0; i < rows; ++i) {
    int centre = static_cast<int>(area.top + (i + 0.5) * row_height);
    set_colour(cr, kRangeLine);
    fill_pixels(cr, column_of(chart.lo[i]), centre - 1, std::max(1, column_of(chart.hi[i]) - column_of(chart.lo[i])),
                2);
    set_colour(cr, palette()[0]);
    fill_pixels(cr, column_of(chart.median[i]) - 3, centre - marker_height / 2, 6, marker_height);
    set_colour(cr, kInk);
    set_font(cr, 12);
    draw_text(cr, chart.categories[i], area.left - 8, centre + 4, Align::right);
    if (!chart.counts.empty()) draw_text(cr, fmt::format("n={}", chart.counts[i]), area.right + 8, centre + 4);
  }
  draw_x_axis(cr, area, x_ticks, x, chart.x_label, height - 4);
  draw_frame(cr, area);
  write_canvas(canvas, png);
}

void write_histogram(const std::filesystem::path& png, const Histogram& chart, int width, int height) {
  if (chart.counts.empty()) fail(png, "histogram: no bins");
  require_finite(png, "counts", chart.counts);
  for (size_t i = 0; i < chart.counts.size(); ++i)
    if (chart.counts[i] < 0) fail(png, fmt::format("histogram: counts[{}] is negative ({})", i, chart.counts[i]));
  if (!std::isfinite(chart.lo)) fail(png, fmt::format("histogram: lo is not finite ({})", chart.lo));
  if (!(std::isfinite(chart.bin_width) && chart.bin_width > 0))
    fail(png, fmt::format("histogram: bin_width must be finite and > 0 (got {})", chart.bin_width));

  const double x_lo = chart.lo, x_hi = chart.lo + chart.bin_width * chart.counts.size();
  double largest = *std::max_element(chart.counts.begin(), chart.counts.end());
  // Linear: counts from 0 up to a round top. Log: whole decades around the positive counts.
  std::vector<Tick> y_ticks;
  double y_lo = 0, y_hi;
  if (chart.log_y) {
    double smallest = largest;
    for (double c : chart.counts)
      if (c > 0) smallest = std::min(smallest, c);
    // The baseline decade lies strictly below the smallest count, so even that bar has height.
    int first = largest > 0 ? static_cast<int>(std::ceil(std::log10(smallest))) - 1 : 0;
    int last = largest > 0 ? std::max(first + 1, static_cast<int>(std::ceil(std::log10(largest)))) : 1;
    int every = std::max(1, (last - first + 7) / 8);
    for (int k = first; k <= last; k += every)
      y_ticks.push_back({static_cast<double>(k), k >= -3 && k <= 6 ? format_tick(std::pow(10.0, k), std::pow(10.0, k))
                                                                   : fmt::format("1e{}", k)});
    y_lo = first;
    y_hi = last;
  } else {
    y_ticks = linear_ticks(0, largest > 0 ? largest : 1);
    y_hi = y_ticks.back().value;
  }
  std::vector<Tick> x_ticks;
  for (const Tick& t : linear_ticks(x_lo, x_hi))  // the axis spans the bins exactly
    if (t.value >= x_lo - 1e-9 * chart.bin_width && t.value <= x_hi + 1e-9 * chart.bin_width) x_ticks.push_back(t);

  Canvas canvas = make_canvas(png, width, height);
  cairo_t* cr = canvas.cr.get();
  set_font(cr, 11);
  Area area{static_cast<int>(widest_label(cr, y_ticks)) + 36, chart.title.empty() ? 16 : 40, width - 24,
            height - (chart.x_label.empty() ? 30 : 50)};
  check_area(png, area, width, height);

  draw_title(cr, chart.title, width);
  Scale y{y_lo, y_hi, static_cast<double>(area.bottom), static_cast<double>(area.top)};
  Scale x{x_lo, x_hi, static_cast<double>(area.left), static_cast<double>(area.right)};
  draw_y_axis(cr, area, y_ticks, y, chart.y_label);
  set_colour(cr, palette()[0]);
  for (size_t i = 0; i < chart.counts.size(); ++i) {
    double c = chart.counts[i];
    if (c <= 0) continue;
    int x0 = static_cast<int>(std::lround(x(x_lo + i * chart.bin_width)));
    int x1 = static_cast<int>(std::lround(x(x_lo + (i + 1) * chart.bin_width)));
    int gap = x1 - x0 >= 4 ? 1 : 0;  // a 1px white seam keeps neighbouring bars apart
    int top = std::clamp(static_cast<int>(std::lround(y(chart.log_y ? std::log10(c) : c))), area.top, area.bottom);
    fill_pixels(cr, x0 + gap, top, x1 - x0 - gap, area.bottom - top);
  }
  draw_x_axis(cr, area, x_ticks, x, chart.x_label, area.bottom + 38);
  draw_frame(cr, area);
  write_canvas(canvas, png);
}

void write_scatter(const std::filesystem::path& png, const Scatter& chart, int width, int height) {
  if (chart.series.empty()) fail(png, "scatter: no series");
  if (chart.marker < 1) fail(png, fmt::format("scatter: marker must be >= 1 pixel (got {})", chart.marker));
  double x_lo = INFINITY, x_hi = -INFINITY, y_lo = INFINITY, y_hi = -INFINITY;
  for (const PointSeries& s : chart.series) {
    if (s.x.size() != s.y.size())
      fail(png, fmt::format("scatter: series '{}' has {} x and {} y values", s.name, s.x.size(), s.y.size()));
    if (!s.labels.empty() && s.labels.size() != s.x.size())
      fail(png, fmt::format("scatter: series '{}' has {} labels for {} points", s.name, s.labels.size(), s.x.size()));
    require_finite(png, s.name + " x", s.x);
    require_finite(png, s.name + " y", s.y);
    for (size_t i = 0; i < s.x.size(); ++i) {
      x_lo = std::min(x_lo, s.x[i]), x_hi = std::max(x_hi, s.x[i]);
      y_lo = std::min(y_lo, s.y[i]), y_hi = std::max(y_hi, s.y[i]);
    }
  }
  if (x_lo > x_hi) fail(png, "scatter: no points");
  // Equal ends get a unit span; a 5 % margin keeps markers off the frame; the axes run
  // from tick to tick around the points.
  if (x_lo == x_hi) x_lo -= 0.5, x_hi += 0.5;
  if (y_lo == y_hi) y_lo -= 0.5, y_hi += 0.5;
  const double x_margin = 0.05 * (x_hi - x_lo), y_margin = 0.05 * (y_hi - y_lo);
  x_lo -= x_margin, x_hi += x_margin, y_lo -= y_margin, y_hi += y_margin;
  const std::vector<Tick> x_ticks = linear_ticks(x_lo, x_hi), y_ticks = linear_ticks(y_lo, y_hi);

  Canvas canvas = make_canvas(png, width, height);
  cairo_t* cr = canvas.cr.get();
  set_font(cr, 12);
  double legend_width = 0;
  for (const PointSeries& s : chart.series) legend_width = std::max(legend_width, text_width(cr, s.name));
  set_font(cr, 11);
  Area area{static_cast<int>(widest_label(cr, y_ticks)) + 36, chart.title.empty() ? 16 : 40,
            width - static_cast<int>(legend_width) - 46, height - (chart.x_label.empty() ? 30 : 50)};
  check_area(png, area, width, height);

  draw_title(cr, chart.title, width);
  const Scale x{x_ticks.front().value, x_ticks.back().value, static_cast<double>(area.left),
                static_cast<double>(area.right)};
  const Scale y{y_ticks.front().value, y_ticks.back().value, static_cast<double>(area.bottom),
                static_cast<double>(area.top)};
  draw_y_axis(cr, area, y_ticks, y, chart.y_label);
  if (chart.joined > 0 && chart.series.size() >= 2) {
    const auto& a = chart.series[0];
    const auto& b = chart.series[1];
    cairo_set_source_rgb(cr, 0.8, 0.8, 0.8);
    cairo_set_line_width(cr, 0.6);
    for (size_t i = 0; i < std::min({chart.joined, a.x.size(), b.x.size()}); ++i) {
      cairo_move_to(cr, x(a.x[i]), y(a.y[i]));
      cairo_line_to(cr, x(b.x[i]), y(b.y[i]));
    }
    cairo_stroke(cr);
  }
  for (size_t s = 0; s < chart.series.size(); ++s) {
    set_colour(cr, palette()[s % palette().size()]);
    const auto& series = chart.series[s];
    for (size_t i = 0; i < series.x.size(); ++i)
      fill_pixels(cr, static_cast<int>(std::lround(x(series.x[i]))) - chart.marker / 2,
                  static_cast<int>(std::lround(y(series.y[i]))) - chart.marker / 2, chart.marker, chart.marker);
  }
  set_font(cr, 9);
  for (size_t s = 0; s < chart.series.size(); ++s) {
    const auto& series = chart.series[s];
    set_colour(cr, palette()[s % palette().size()]);
    for (size_t i = 0; i < std::min(series.labels.size(), series.x.size()); ++i)
      draw_text(cr, series.labels[i], x(series.x[i]) + chart.marker, y(series.y[i]) - 2);
  }
  draw_x_axis(cr, area, x_ticks, x, chart.x_label, area.bottom + 38);
  draw_frame(cr, area);
  set_font(cr, 12);
  int legend_y = area.top;
  for (size_t s = 0; s < chart.series.size(); ++s) {
    set_colour(cr, palette()[s % palette().size()]);
    fill_pixels(cr, area.right + 16, legend_y, 12, 12);
    set_colour(cr, kInk);
    draw_text(cr, chart.series[s].name, area.right + 34, legend_y + 11);
    legend_y += 20;
  }
  write_canvas(canvas, png);
}

void write_cell_grid(const std::filesystem::path& png, const CellGrid& grid) {
  const size_t rows = grid.row_labels.size(), columns = grid.column_labels.size();
  if (rows == 0 || columns == 0) fail(png, "cell grid: no rows or no columns");
  if (grid.column_colours.size() != columns)
    fail(png, fmt::format("cell grid: {} column colours for {} columns", grid.column_colours.size(), columns));
  for (const auto* table : {&grid.values, &grid.seconds}) {
    if (table->size() != rows) fail(png, fmt::format("cell grid: {} rows of values for {} rows", table->size(), rows));
    for (const auto& row : *table) {
      if (row.size() != columns)
        fail(png, fmt::format("cell grid: a row of {} values for {} columns", row.size(), columns));
      for (double v : row)
        if (!std::isnan(v) && !(v >= 0 && v <= 1)) fail(png, fmt::format("cell grid: value {} is not in [0, 1]", v));
    }
  }
  if (grid.texts.size() != rows)
    fail(png, fmt::format("cell grid: {} rows of texts for {} rows", grid.texts.size(), rows));
  for (const auto& row : grid.texts)
    if (row.size() != columns)
      fail(png, fmt::format("cell grid: a row of {} texts for {} columns", row.size(), columns));

  constexpr int kLabels = 96, kHeader = 28, kGap = 4;
  const int top = grid.title.empty() ? 8 : 36;
  const int width = kLabels + static_cast<int>(columns) * kGridCell + 12;
  const int height = top + kHeader + static_cast<int>(rows) * kGridCell + 12;
  Canvas canvas = make_canvas(png, width, height);
  cairo_t* cr = canvas.cr.get();
  draw_title(cr, grid.title, width);
  set_font(cr, 12);
  set_colour(cr, kInk);
  for (size_t c = 0; c < columns; ++c)
    draw_text(cr, grid.column_labels[c], kLabels + (c + 0.5) * kGridCell, top + kHeader - 8, Align::centre);
  for (size_t r = 0; r < rows; ++r) {
    const int y0 = top + kHeader + static_cast<int>(r) * kGridCell;
    set_font(cr, 12);
    set_colour(cr, kInk);
    draw_text(cr, grid.row_labels[r], kLabels - 8, y0 + kGridCell / 2.0 + 4, Align::right);
    for (size_t c = 0; c < columns; ++c) {
      const int x0 = kLabels + static_cast<int>(c) * kGridCell;
      set_colour(cr, {244, 244, 244});
      fill_pixels(cr, x0 + kGap / 2, y0 + kGap / 2, kGridCell - kGap, kGridCell - kGap);
      set_font(cr, 15, true);
      set_colour(cr, grid.column_colours[c]);
      draw_text(cr, grid.texts[r][c], x0 + kGridCell / 2.0, y0 + 26, Align::centre);
      const int bar = kGridCell - 3 * kGap;
      auto draw_bar = [&](double v, const Rgb& colour, int y) {
        if (std::isnan(v)) return;
        set_colour(cr, colour);
        fill_pixels(cr, x0 + kGap + kGap / 2, y, static_cast<int>(std::lround(v * bar)), 8);
      };
      draw_bar(grid.values[r][c], grid.column_colours[c], y0 + 38);
      draw_bar(grid.seconds[r][c], {150, 150, 150}, y0 + 50);
      set_font(cr, 11);
      set_colour(cr, kInk);
      const double v = grid.values[r][c], w = grid.seconds[r][c];
      const std::string numbers = std::isnan(v)   ? ""
                                  : std::isnan(w) ? fmt::format("{:.2f}", v)
                                                  : fmt::format("{:.2f} / {:.2f}", v, w);
      draw_text(cr, numbers, x0 + kGridCell / 2.0, y0 + kGridCell - 10, Align::centre);
    }
  }
  write_canvas(canvas, png);
}

void write_wheel(const std::filesystem::path& png, const Wheel& wheel, int size) {
  if (wheel.segments.empty()) fail(png, "wheel: no segments");
  int rings = 0;
  for (const auto& seg : wheel.segments) {
    if (seg.ring < 0 || !(seg.start >= 0 && seg.start < seg.end && seg.end <= 1))
      fail(png, fmt::format("wheel: segment '{}' has ring {} and span [{}, {}] (need ring >= 0, 0 <= start < end <= 1)",
                            seg.label, seg.ring, seg.start, seg.end));
    rings = std::max(rings, seg.ring + 1);
  }
  const int legend_height = wheel.legend.empty() ? 0 : 24 * static_cast<int>((wheel.legend.size() + 3) / 4) + 10;
  const int top = wheel.title.empty() ? 10 : 40;
  Canvas canvas = make_canvas(png, size, size + top + legend_height);
  cairo_t* cr = canvas.cr.get();
  draw_title(cr, wheel.title, size);
  const double cx = size / 2.0, cy = top + size / 2.0, outer = size / 2.0 - 10;
  const double hole = 0.12 * outer, ring = (outer - hole) / rings;
  constexpr double turn = 2 * M_PI;
  for (const auto& seg : wheel.segments) {
    const double r0 = hole + ring * seg.ring, r1 = r0 + ring;
    const double a0 = seg.start * turn - M_PI / 2, a1 = seg.end * turn - M_PI / 2;
    cairo_new_path(cr);
    cairo_arc(cr, cx, cy, r1, a0, a1);
    cairo_arc_negative(cr, cx, cy, r0, a1, a0);
    cairo_close_path(cr);
    set_colour(cr, seg.fill);
    cairo_fill_preserve(cr);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_set_line_width(cr, 1);
    cairo_stroke(cr);
    // The label along the radius, readable from the outside on the left half.
    const double mid = (a0 + a1) / 2, arc = (a1 - a0) * (r0 + r1) / 2;
    const double font = std::clamp(arc * 0.8, 5.0, 12.0);
    set_font(cr, font);
    cairo_save(cr);
    cairo_translate(cr, cx + std::cos(mid) * (r0 + r1) / 2, cy + std::sin(mid) * (r0 + r1) / 2);
    const bool left = std::cos(mid) < 0;
    cairo_rotate(cr, left ? mid + M_PI : mid);
    set_colour(cr, kInk);
    std::string label = seg.label;
    while (label.size() > 2 && text_width(cr, label) > ring - 4) label.pop_back();
    draw_text(cr, label, 0, font / 3, Align::centre);
    cairo_restore(cr);
  }
  set_font(cr, 12);
  for (size_t i = 0; i < wheel.legend.size(); ++i) {
    const int lx = 20 + static_cast<int>(i % 4) * (size - 40) / 4;
    const int ly = top + size + 8 + static_cast<int>(i / 4) * 24;
    set_colour(cr, wheel.legend[i].second);
    fill_pixels(cr, lx, ly, 14, 14);
    set_colour(cr, kInk);
    draw_text(cr, wheel.legend[i].first, lx + 20, ly + 12);
  }
  write_canvas(canvas, png);
}

void write_heatmap(const std::filesystem::path& png, const Heatmap& map) {
  const size_t rows = map.row_labels.size(), columns = map.column_labels.size();
  if (rows == 0 || columns == 0) fail(png, "heat map: no rows or no columns");
  require_size(png, "heat map values", map.values.size(), rows, "rows");
  double top_value = 0;
  for (size_t r = 0; r < rows; ++r) {
    require_size(png, fmt::format("heat map row {}", r), map.values[r].size(), columns, "columns");
    require_finite(png, fmt::format("heat map row {}", r), map.values[r]);
    for (double v : map.values[r]) top_value = std::max(top_value, v);
  }
  Canvas measure = make_canvas(png, 1, 1);
  set_font(measure.cr.get(), 12);
  double label_width = 0, column_height = 0;
  for (const auto& l : map.row_labels) label_width = std::max(label_width, text_width(measure.cr.get(), l));
  for (const auto& l : map.column_labels) column_height = std::max(column_height, text_width(measure.cr.get(), l));
  const int left = static_cast<int>(label_width) + 16, title = map.title.empty() ? 8 : 36;
  const int top = title + static_cast<int>(column_height) + 12;
  const int width = std::max(left + static_cast<int>(columns) * kHeatCell + 12, 320);
  const int height = top + static_cast<int>(rows) * kHeatCell + 12;
  Canvas canvas = make_canvas(png, width, height);
  cairo_t* cr = canvas.cr.get();
  draw_title(cr, map.title, width);
  set_font(cr, 12);
  for (size_t c = 0; c < columns; ++c) {
    set_colour(cr, kInk);
    cairo_save(cr);
    cairo_move_to(cr, left + (c + 0.5) * kHeatCell + 4, top - 6);
    cairo_rotate(cr, -M_PI / 2);
    cairo_show_text(cr, map.column_labels[c].c_str());
    cairo_restore(cr);
  }
  for (size_t r = 0; r < rows; ++r) {
    const int y0 = top + static_cast<int>(r) * kHeatCell;
    set_font(cr, 12);
    set_colour(cr, kInk);
    draw_text(cr, map.row_labels[r], left - 8, y0 + kHeatCell / 2.0 + 4, Align::right);
    for (size_t c = 0; c < columns; ++c) {
      const int x0 = left + static_cast<int>(c) * kHeatCell;
      const double v = map.values[r][c];
      set_colour(cr, {235, 235, 235});
      fill_pixels(cr, x0, y0, kHeatCell, kHeatCell);
      const Rgb fill = v > 0 && top_value > 0 ? colormap(v / top_value) : Rgb{255, 255, 255};
      set_colour(cr, fill);
      fill_pixels(cr, x0 + 1, y0 + 1, kHeatCell - 2, kHeatCell - 2);
      if (v > 0) {
        set_font(cr, 10);
        set_colour(cr, v / top_value > 0.6 ? kInk : Rgb{255, 255, 255});
        draw_text(cr, fmt::format("{:.2g}", v), x0 + kHeatCell / 2.0, y0 + kHeatCell / 2.0 + 4, Align::centre);
      }
    }
  }
  write_canvas(canvas, png);
}

}  // namespace clipscope::plot
