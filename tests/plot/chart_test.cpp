// Charts are checked by reading the PNG back and measuring the exact-colour
// fills: bar heights, marker positions, and the errors for bad input.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "core/image/image.h"
#include "plot/chart.h"
#include "plot/map.h"
#include "support/shared_data.h"

namespace fs = std::filesystem;
using namespace clipscope;
using clipscope::testing::error_message;

namespace {

fs::path temp_png(const std::string& name) {
  static const fs::path dir = clipscope::testing::temp_dir("clipscope-plot");
  return dir / (name + ".png");
}

bool has_colour(const Image& image, int x, int y, const plot::Rgb& c) {
  const uint8_t* p = image.pixel(x, y);
  return p[0] == c[0] && p[1] == c[1] && p[2] == c[2];
}

// A run of adjacent columns that contain a colour, with its tallest column count.
struct Band {
  int x0, x1, height;
};

std::vector<Band> colour_bands(const Image& image, const plot::Rgb& colour) {
  std::vector<Band> bands;
  for (int x = 0; x < image.width; ++x) {
    int count = 0;
    for (int y = 0; y < image.height; ++y) count += has_colour(image, x, y, colour);
    if (count == 0) continue;
    if (!bands.empty() && bands.back().x1 == x)
      bands.back() = {bands.back().x0, x + 1, std::max(bands.back().height, count)};
    else
      bands.push_back({x, x + 1, count});
  }
  return bands;
}

}  // namespace

TEST(NiceTicks, RoundStepsCoveringTheRange) {
  std::vector<double> ticks = plot::nice_ticks(0, 0.93);
  ASSERT_GE(ticks.size(), 3u);
  EXPECT_DOUBLE_EQ(ticks.front(), 0);
  EXPECT_NEAR(ticks.back(), 1.0, 1e-12);
  EXPECT_NEAR(ticks[1] - ticks[0], 0.2, 1e-12);

  for (auto [lo, hi] : {std::pair{-3.2, 7.9}, {0.0, 12345.0}, {-0.004, 0.0}, {5.0, 5.0}}) {
    ticks = plot::nice_ticks(lo, hi);
    ASSERT_GE(ticks.size(), 2u) << lo << " " << hi;
    EXPECT_LE(ticks.front(), lo);
    EXPECT_GE(ticks.back(), hi);
    double step = ticks[1] - ticks[0];
    double mantissa = step / std::pow(10.0, std::floor(std::log10(step) + 1e-9));
    EXPECT_TRUE(std::abs(mantissa - 1) < 1e-6 || std::abs(mantissa - 2) < 1e-6 || std::abs(mantissa - 5) < 1e-6)
        << "step " << step;
    EXPECT_LE(ticks.size(), 12u);
  }
}

TEST(StackedBars, SeriesHeightsFollowTheirValues) {
  plot::StackedBars chart{.title = "P(label | bucket)",
                          .x_label = "activation",
                          .y_label = "fraction",
                          .x_ticks = {"low", "mid", "high"},
                          .series = {{"dog", {1, 3, 2}}, {"cat", {3, 1, 2}}}};
  fs::path png = temp_png("stacked");
  plot::write_stacked_bars(png, chart);
  Image image = read_image(png);
  EXPECT_EQ(image.width, 960);
  EXPECT_EQ(image.height, 540);

  // Three bars plus the legend swatch on the right for each series.
  std::vector<Band> dog = colour_bands(image, plot::palette()[0]);
  std::vector<Band> cat = colour_bands(image, plot::palette()[1]);
  ASSERT_EQ(dog.size(), 4u);
  ASSERT_EQ(cat.size(), 4u);
  EXPECT_GT(dog[1].height, dog[2].height);
  EXPECT_GT(dog[2].height, dog[0].height);
  EXPECT_NEAR(dog[1].height, 3 * dog[0].height, 3);
  EXPECT_GT(cat[0].height, cat[1].height);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(dog[i].x0, cat[i].x0);                                               // stacked in the same column
    EXPECT_NEAR(dog[i].height + cat[i].height, dog[0].height + cat[0].height, 1);  // every stack totals 4
  }
  // The tallest stack reaches the top of the axis by default: the bar is most of the plot height.
  EXPECT_GT(dog[0].height + cat[0].height, image.height / 2);
}

TEST(StackedBars, YMaxScalesTheBarsDown) {
  plot::StackedBars chart{.x_ticks = {"a", "b"}, .series = {{"s", {1, 2}}}};
  plot::write_stacked_bars(temp_png("auto"), chart, 400, 300);
  chart.y_max = 4;
  plot::write_stacked_bars(temp_png("ymax"), chart, 400, 300);
  int tall = colour_bands(read_image(temp_png("auto")), plot::palette()[0])[1].height;
  int scaled = colour_bands(read_image(temp_png("ymax")), plot::palette()[0])[1].height;
  EXPECT_NEAR(scaled, tall / 2.0, 2);
}

TEST(StackedBars, BadInputIsAClearError) {
  fs::path png = temp_png("bad");
  plot::StackedBars ok{.x_ticks = {"a", "b"}, .series = {{"s", {1, 2}}}};
  auto message = [&](plot::StackedBars chart) { return error_message([&] { plot::write_stacked_bars(png, chart); }); };

  plot::StackedBars empty = ok;
  empty.series.clear();
  EXPECT_NE(message(empty).find("no series"), std::string::npos);
  empty = ok;
  empty.x_ticks.clear();
  EXPECT_NE(message(empty).find("no x positions"), std::string::npos);

  plot::StackedBars mismatched = ok;
  mismatched.series.push_back({"short", {1}});
  std::string m = message(mismatched);
  EXPECT_NE(m.find("series 'short' has 1 entries but there are 2 x positions"), std::string::npos) << m;
  EXPECT_NE(m.find(png.string()), std::string::npos) << m;
  EXPECT_EQ(m.find('\n'), std::string::npos);

  plot::StackedBars nan = ok;
  nan.series[0].values[1] = std::numeric_limits<double>::quiet_NaN();
  EXPECT_NE(message(nan).find("not finite"), std::string::npos);
  plot::StackedBars negative = ok;
  negative.series[0].values[0] = -1;
  EXPECT_NE(message(negative).find("negative"), std::string::npos);
  plot::StackedBars bad_max = ok;
  bad_max.y_max = 0;
  EXPECT_NE(message(bad_max).find("y_max"), std::string::npos);

  fs::path unwritable = "/nonexistent-clipscope-dir/chart.png";
  m = error_message([&] { plot::write_stacked_bars(unwritable, ok); });
  EXPECT_NE(m.find(unwritable.string() + ": cannot write"), std::string::npos) << m;
}

TEST(RangeRows, LargerMedianIsFurtherRight) {
  plot::RangeRows chart{.title = "neuron 42",
                        .x_label = "activation (std)",
                        .categories = {"low", "high", "middle"},
                        .median = {-1, 4, 1},
                        .lo = {-2, 3, 0},
                        .hi = {0, 5, 2},
                        .counts = {10, 200, 3000}};
  fs::path png = temp_png("rows");
  plot::write_range_rows(png, chart);
  Image image = read_image(png);
  EXPECT_EQ(image.width, 960);
  EXPECT_EQ(image.height, 60 + 3 * plot::range_row_height);

  // Marker pixels grouped into rows by vertical gaps; mean x per row.
  std::vector<std::pair<double, int>> rows;  // (sum of x, pixels)
  int last_y = -10;
  for (int y = 0; y < image.height; ++y) {
    bool any = false;
    for (int x = 0; x < image.width; ++x) {
      if (!has_colour(image, x, y, plot::palette()[0])) continue;
      if (!any && y != last_y + 1) rows.emplace_back(0, 0);
      rows.back().first += x;
      rows.back().second += 1;
      any = true;
    }
    if (any) last_y = y;
  }
  ASSERT_EQ(rows.size(), 3u);
  double low = rows[0].first / rows[0].second, high = rows[1].first / rows[1].second;
  double middle = rows[2].first / rows[2].second;
  EXPECT_GT(high, middle + 50);
  EXPECT_GT(middle, low + 50);
  EXPECT_NEAR(high - middle, 1.5 * (middle - low), 3);  // medians 4, 1, -1: a linear axis
}

TEST(RangeRows, BadInputIsAClearError) {
  fs::path png = temp_png("rows-bad");
  plot::RangeRows ok{.categories = {"a", "b"}, .median = {0, 1}, .lo = {-1, 0}, .hi = {1, 2}};
  auto message = [&](plot::RangeRows chart) { return error_message([&] { plot::write_range_rows(png, chart); }); };
  EXPECT_EQ(message(ok), "");

  plot::RangeRows bad = ok;
  bad.categories.clear();
  EXPECT_NE(message(bad).find("no categories"), std::string::npos);
  bad = ok;
  bad.hi = {1};
  EXPECT_NE(message(bad).find("hi has 1 entries but there are 2 categories"), std::string::npos);
  bad = ok;
  bad.counts = {1, 2, 3};
  EXPECT_NE(message(bad).find("counts"), std::string::npos);
  bad = ok;
  bad.median[0] = std::numeric_limits<double>::infinity();
  EXPECT_NE(message(bad).find("median[0] is not finite"), std::string::npos);
  bad = ok;
  bad.lo[1] = 3;
  EXPECT_NE(message(bad).find("'b' has lo 3 > hi 2"), std::string::npos);
}

TEST(Histogram, LargerCountsMakeTallerBars) {
  plot::Histogram chart{.title = "activations", .x_label = "std", .lo = -2, .bin_width = 1, .counts = {2, 8, 4, 1}};
  fs::path png = temp_png("hist");
  plot::write_histogram(png, chart, 640, 400);
  Image image = read_image(png);
  EXPECT_EQ(image.width, 640);
  EXPECT_EQ(image.height, 400);
  std::vector<Band> bars = colour_bands(image, plot::palette()[0]);
  ASSERT_EQ(bars.size(), 4u);
  EXPECT_GT(bars[1].height, bars[2].height);
  EXPECT_GT(bars[2].height, bars[0].height);
  EXPECT_GT(bars[0].height, bars[3].height);
  EXPECT_NEAR(bars[1].height, 2 * bars[2].height, 2);
  EXPECT_NEAR(bars[1].height, 8 * bars[3].height, 8);
  // Equal bin widths make equal bar widths.
  EXPECT_NEAR(bars[0].x1 - bars[0].x0, bars[3].x1 - bars[3].x0, 1);
}

TEST(Histogram, LogScaleAndEmptyBins) {
  plot::Histogram chart{.counts = {10, 1000, 0, 100}, .log_y = true};
  fs::path png = temp_png("hist-log");
  plot::write_histogram(png, chart);
  std::vector<Band> bars = colour_bands(read_image(png), plot::palette()[0]);
  ASSERT_EQ(bars.size(), 3u);  // the empty bin draws nothing
  EXPECT_GT(bars[1].height, bars[2].height);
  EXPECT_GT(bars[2].height, bars[0].height);
  EXPECT_NEAR(bars[1].height - bars[2].height, bars[2].height - bars[0].height, 2);  // one decade each
}

TEST(Histogram, BadInputIsAClearError) {
  fs::path png = temp_png("hist-bad");
  auto message = [&](plot::Histogram chart) { return error_message([&] { plot::write_histogram(png, chart); }); };
  EXPECT_NE(message({}).find("no bins"), std::string::npos);
  EXPECT_NE(message({.bin_width = 0, .counts = {1}}).find("bin_width"), std::string::npos);
  EXPECT_NE(message({.counts = {1, std::nan("")}}).find("counts[1] is not finite"), std::string::npos);
  EXPECT_NE(message({.counts = {-1}}).find("negative"), std::string::npos);
  std::string small = error_message([&] { plot::write_histogram(png, {.counts = {1}}, 40, 30); });
  EXPECT_NE(small.find("too small"), std::string::npos) << small;
}

TEST(Scatter, MarkersSitWhereTheirValuesPutThemAndPairsAreJoined) {
  plot::Scatter chart{.title = "gap", .x_label = "pc 1", .y_label = "pc 2"};
  chart.series = {{"images", {0, 1}, {0, 1}}, {"texts", {1, 0}, {0.5, 0.9}}};
  chart.marker = 6;
  fs::path png = temp_png("scatter");
  plot::write_scatter(png, chart, 640, 480);
  const Image image = read_image(png);
  // Two markers of the first series and its legend swatch, left to right.
  const auto bands = colour_bands(image, plot::palette()[0]);
  ASSERT_EQ(bands.size(), 3u);
  EXPECT_EQ(bands[0].x1 - bands[0].x0, 6);
  EXPECT_LT(bands[0].x0, bands[1].x0);
  // The marker at y = 1 is higher than the one at y = 0.
  auto top_row = [&](const Band& b) {
    for (int y = 0; y < image.height; ++y)
      if (has_colour(image, b.x0, y, plot::palette()[0])) return y;
    return -1;
  };
  EXPECT_LT(top_row(bands[1]), top_row(bands[0]));
  EXPECT_EQ(colour_bands(image, plot::palette()[1]).size(), 3u);

  // Joining pair 0 draws a line from (0, 0) to (1, 0.5): its midpoint changes.
  chart.joined = 1;
  fs::path joined = temp_png("scatter-joined");
  plot::write_scatter(joined, chart, 640, 480);
  const Image with_line = read_image(joined);
  const auto a = colour_bands(image, plot::palette()[0])[0], b = colour_bands(image, plot::palette()[1])[1];
  const int mx = (a.x0 + b.x0) / 2 + 3;
  int changed = 0;
  for (int y = 0; y < image.height; ++y)
    changed += std::memcmp(image.pixel(mx, y), with_line.pixel(mx, y), 3) != 0 ? 1 : 0;
  EXPECT_GT(changed, 0);
}

TEST(Scatter, BadInputIsAClearError) {
  fs::path png = temp_png("scatter-bad");
  auto message = [&](plot::Scatter chart) { return error_message([&] { plot::write_scatter(png, chart); }); };
  EXPECT_NE(message({}).find("no series"), std::string::npos);
  EXPECT_NE(message({.series = {{"a", {1, 2}, {1}}}}).find("series 'a' has 2 x and 1 y values"), std::string::npos);
  EXPECT_NE(message({.series = {{"a", {}, {}}}}).find("no points"), std::string::npos);
  EXPECT_NE(message({.series = {{"a", {1, NAN}, {1, 2}}}}).find("not finite"), std::string::npos);
}

TEST(Scatter, LabelsMustMatchThePoints) {
  fs::path png = temp_png("scatter-labels");
  plot::Scatter chart{.series = {{"a", {1, 2}, {1, 2}, {"one", "two"}}}};
  plot::write_scatter(png, chart);
  EXPECT_TRUE(fs::exists(png));
  chart.series[0].labels = {"one"};
  EXPECT_NE(error_message([&] { plot::write_scatter(png, chart); }).find("series 'a' has 1 labels for 2 points"),
            std::string::npos);
}

TEST(Wheel, SegmentsFillTheirSpanOfTheirRing) {
  const fs::path png = temp_png("wheel");
  const plot::Rgb red{214, 39, 40}, blue{31, 119, 180};
  // Ring 0: the right half red; ring 1: the left half blue.
  plot::write_wheel(png, {.segments = {{"east", 0, 0.0, 0.5, red}, {"west", 1, 0.5, 1.0, blue}}}, 400);
  const Image image = read_image(png);
  ASSERT_EQ(image.width, 400);
  const int cy = 10 + 200;
  // Ring 0 spans radii 0.12 R + [0, 0.44 R) with R = 190; ring 1 the next 0.44 R.
  // (Points off the horizontal through the centre, where the labels are written.)
  EXPECT_TRUE(has_colour(image, 200 + 45, cy - 40, red));
  EXPECT_FALSE(has_colour(image, 200 - 45, cy - 40, red));
  EXPECT_TRUE(has_colour(image, 200 - 120, cy + 40, blue));
  EXPECT_FALSE(has_colour(image, 200 + 120, cy + 40, blue));
  auto message = [&](plot::Wheel w) { return error_message([&] { plot::write_wheel(png, w); }); };
  EXPECT_NE(message({}).find("no segments"), std::string::npos);
  EXPECT_NE(message({.segments = {{"x", 0, 0.6, 0.4, red}}}).find("segment 'x'"), std::string::npos);
  EXPECT_NE(message({.segments = {{"x", -1, 0, 1, red}}}).find("ring -1"), std::string::npos);
}

TEST(Heatmap, CellsFollowTheViridisScaleAndZeroIsWhite) {
  const fs::path png = temp_png("heatmap");
  plot::write_heatmap(png, {.title = "weights",
                            .row_labels = {"dog", "cat"},
                            .column_labels = {"unit 1", "unit 2"},
                            .values = {{2.0, 0.0}, {1.0, -0.5}}});
  const Image image = read_image(png);
  auto count = [&](const plot::Rgb& c) {
    int n = 0;
    for (int y = 0; y < image.height; ++y)
      for (int x = 0; x < image.width; ++x) n += has_colour(image, x, y, c) ? 1 : 0;
    return n;
  };
  // A cell is kHeatCell - 2 pixels square inside its frame, less its written value.
  const int cell = (plot::kHeatCell - 2) * (plot::kHeatCell - 2);
  EXPECT_GT(count(plot::colormap(1.0)), cell / 2) << "the largest value is the top of the scale";
  EXPECT_GT(count(plot::colormap(0.5)), cell / 2) << "half of it is the middle";
  EXPECT_EQ(count(plot::colormap(0.0)), 0) << "zero and negative weights are not coloured";
  auto message = [&](plot::Heatmap m) { return error_message([&] { plot::write_heatmap(png, m); }); };
  EXPECT_NE(message({}).find("no rows or no columns"), std::string::npos);
  EXPECT_NE(message({.row_labels = {"a"}, .column_labels = {"b"}, .values = {{NAN}}}).find("not finite"),
            std::string::npos);
  EXPECT_NE(message({.row_labels = {"a"}, .column_labels = {"b", "c"}, .values = {{1}}}).find("heat map row 0"),
            std::string::npos);
}

TEST(CellGrid, BarsFollowTheValuesInTheColumnsColour) {
  const plot::Rgb red{200, 0, 0}, blue{0, 0, 200};
  plot::CellGrid grid{.title = "stroop",
                      .row_labels = {"red", "word"},
                      .column_labels = {"red", "blue"},
                      .column_colours = {red, blue},
                      .texts = {{"red", "red"}, {"word", "word"}},
                      .values = {{1.0, 0.25}, {0.5, NAN}},
                      .seconds = {{NAN, 0.75}, {NAN, NAN}}};
  fs::path png = temp_png("grid");
  plot::write_cell_grid(png, grid);
  const Image image = read_image(png);
  EXPECT_EQ(image.width, 96 + 2 * plot::kGridCell + 12);
  // The longest run of a colour along one row of pixels: a bar's length.
  auto longest_run = [&](const plot::Rgb& c, int y0, int y1) {
    int best = 0;
    for (int y = y0; y < y1; ++y)
      for (int x = 0, run = 0; x < image.width; ++x) {
        run = has_colour(image, x, y, c) ? run + 1 : 0;
        best = std::max(best, run);
      }
    return best;
  };
  const int row0 = 36 + 28, row1 = row0 + plot::kGridCell;
  const int full = longest_run(red, row0 + 30, row0 + 60);
  EXPECT_NEAR(full, plot::kGridCell - 12, 1);
  EXPECT_NEAR(longest_run(red, row1 + 30, row1 + 60), full / 2.0, 1);
  EXPECT_NEAR(longest_run(blue, row0 + 30, row0 + 60), full / 4.0, 1);
  EXPECT_NEAR(longest_run({150, 150, 150}, row0 + 30, row0 + 60), full * 0.75, 1);
  EXPECT_EQ(longest_run(blue, row1 + 30, row1 + 60), 0);  // NaN: no bar (the text is antialiased)

  grid.values[0][0] = 1.5;
  EXPECT_NE(error_message([&] { plot::write_cell_grid(png, grid); }).find("value 1.5 is not in [0, 1]"),
            std::string::npos);
  grid.column_colours.pop_back();
  EXPECT_NE(error_message([&] { plot::write_cell_grid(png, grid); }).find("1 column colours for 2 columns"),
            std::string::npos);
}
