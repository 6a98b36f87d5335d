#pragma once
// Simple charts written straight to PNG with cairo: stacked bars (conditional
// probability plots), range rows (per-category activation distributions) and
// histograms. Inputs are validated up front; every problem throws
// clipscope::Error with one line naming the PNG and the problem (empty data,
// mismatched lengths, non-finite or negative values, an unwritable path).
#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace clipscope::plot {

using Rgb = std::array<uint8_t, 3>;

// A fixed qualitative palette (series i uses palette()[i % 10]). Bar, marker and
// swatch fills are drawn without antialiasing, so their pixels have exactly these
// colours; none of them is a grey, so they never collide with text, axes or grid.
constexpr std::array<Rgb, 10> palette() {
  return {{{31, 119, 180},
           {255, 127, 14},
           {44, 160, 44},
           {214, 39, 40},
           {148, 103, 189},
           {140, 86, 75},
           {227, 119, 194},
           {188, 189, 34},
           {23, 190, 207},
           {65, 68, 145}}};
}

// Round tick positions (1, 2 or 5 x 10^k apart) covering [lo, hi], about
// `target` of them; the first tick is <= lo and the last >= hi.
std::vector<double> nice_ticks(double lo, double hi, int target = 6);

struct Series {
  std::string name;
  std::vector<double> values;  // one value per x position
};

// Stacked bars (e.g. a conditional-probability plot: P(label | activation bucket)): for every x position
// the series' values stacked bottom-up in series order, each series its own distinct colour, with a legend.
// Values must be finite and >= 0.
struct StackedBars {
  std::string title, x_label, y_label;
  std::vector<std::string> x_ticks;  // one label per x position
  std::vector<Series> series;
  std::optional<double> y_max;  // default: the tallest stack; taller stacks are clipped
};
void write_stacked_bars(const std::filesystem::path& png, const StackedBars& chart, int width = 960, int height = 540);

// One horizontal row per category (the article's per-category activation distribution figure):
// a thick marker at the median (palette()[0]) and a grey line spanning [lo, hi] (e.g. median ± std),
// value axis horizontal with ticks (always including 0), a vertical line at x = 0, the category name
// on the left, optional n= count on the right. Rows run top to bottom in category order.
struct RangeRows {
  std::string title, x_label;
  std::vector<std::string> categories;
  std::vector<double> median, lo, hi;  // lo <= hi for every row
  std::vector<int64_t> counts;         // optional (empty = not shown)
};
constexpr int range_row_height = 28;
void write_range_rows(const std::filesystem::path& png, const RangeRows& chart, int width = 960,
                      int height = 0 /*0: 60 + 28 per row*/);

// A histogram with bin edges lo + i*bin_width and a count per bin (e.g. activations in std units);
// bars are filled with palette()[0]. With log_y the axis is in decades and empty bins draw nothing.
struct Histogram {
  std::string title, x_label, y_label = "images";
  double lo = 0, bin_width = 1;
  std::vector<double> counts;
  bool log_y = false;
};
void write_histogram(const std::filesystem::path& png, const Histogram& chart, int width = 960, int height = 540);

// Points in the plane, one colour per series (palette()[s]), square markers of
// `marker` pixels, with a legend (e.g. two modalities' embeddings on their top two
// principal components). Point i of series 0 and point i of series 1 are joined by a
// light grey line, drawn under the markers, for i < joined (and both series' sizes).
struct PointSeries {
  std::string name;
  std::vector<double> x, y;
  std::vector<std::string> labels;  // optional: one per point, written beside it in the series' colour
};
struct Scatter {
  std::string title, x_label, y_label;
  std::vector<PointSeries> series;
  size_t joined = 0;
  int marker = 5;
};
void write_scatter(const std::filesystem::path& png, const Scatter& chart, int width = 800, int height = 640);

// A grid of cells (e.g. the Stroop test: a row per word, a column per ink): each cell
// shows its text in its column's colour, a bar of `values` in that colour and a bar of
// `seconds` in grey (values in [0, 1]; NaN draws no bar), and the two numbers.
struct CellGrid {
  std::string title;
  std::vector<std::string> row_labels, column_labels;
  std::vector<Rgb> column_colours;
  std::vector<std::vector<std::string>> texts;  // [row][column]
  std::vector<std::vector<double>> values, seconds;
};
constexpr int kGridCell = 84;  // pixels per cell side
void write_cell_grid(const std::filesystem::path& png, const CellGrid& grid);

// A heat map (e.g. a sparse probe's weights, classes × units): a cell per value,
// coloured by the viridis map over [0, max] (values <= 0 white: "no weight"), with
// the value written in cells large enough, row labels left and column labels
// rotated above.
struct Heatmap {
  std::string title;
  std::vector<std::string> row_labels, column_labels;
  std::vector<std::vector<double>> values;  // [row][column], finite
};
constexpr int kHeatCell = 40;  // pixels per cell side
void write_heatmap(const std::filesystem::path& png, const Heatmap& map);

// A wheel (sunburst): rings of annular segments around a hole, ring 0 innermost, each
// segment spanning [start, end) of a turn clockwise from the top, filled and labelled
// along its radius; the legend's swatches below.
struct WheelSegment {
  std::string label;
  int ring = 0;
  double start = 0, end = 0;
  Rgb fill{200, 200, 200};
};
struct Wheel {
  std::string title;
  std::vector<WheelSegment> segments;
  std::vector<std::pair<std::string, Rgb>> legend;
};
void write_wheel(const std::filesystem::path& png, const Wheel& wheel, int size = 900);

}  // namespace clipscope::plot
