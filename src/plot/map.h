#pragma once
// World maps for "region neurons" (the Multimodal Neurons article's figure: a
// unit's activation for rendered country and city names, painted onto a world
// map), written as PNG with cairo. Equirectangular projection; a title at the
// top, a horizontal colour bar with ticks and a label at the bottom. Inputs are
// validated up front; every problem throws clipscope::Error with one line
// naming the PNG and the problem.
#include <array>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "plot/chart.h"

namespace clipscope::plot {

// A region filled by value (choropleth). Rings are closed paths of (lon, lat) in
// degrees (the last point need not repeat the first). All rings of a region are
// filled together with the even-odd rule, so a MultiPolygon is several outer
// rings (or several GeoPolygons), and a GeoJSON hole (a ring inside another)
// is left unfilled; overlapping outer rings would cancel where they overlap, so
// pass those as separate GeoPolygons. Rings are not split at the antimeridian
// (Natural Earth data already is). A non-finite value is drawn in missing_colour().
struct GeoPolygon {
  std::string name;
  std::vector<std::vector<std::array<double, 2>>> rings;
  double value = 0;
};

// A dot coloured by value, its radius growing with it; non-finite values are skipped.
struct GeoPoint {
  std::string name;
  double lon = 0, lat = 0;
  double value = 0;
};

struct GeoMap {
  std::string title;                                // drawn at the top
  std::string value_label;                          // under the colour bar, e.g. "activation (std from zero)"
  std::vector<GeoPolygon> regions;                  // drawn first, in order, then their outlines
  std::vector<GeoPoint> points;                     // drawn over the regions, largest value last (on top)
  std::optional<std::filesystem::path> background;  // equirectangular world image (PNG or JPEG, any size, meant
                                                    // to be 2:1), stretched over the map area; else a plain
                                                    // plain_background() with a 30° graticule
  std::optional<double> lo, hi;  // colour scale; default: min/max over all finite values. Values outside clamp
  int label_top = 0;             // names of the N highest-valued regions/points are written next to them
  double fill_alpha = 0.85;      // region fill opacity, so the background shows through
};

// A perceptually ordered sequential colour map (viridis, from 9 anchors of
// matplotlib's table, linearly interpolated): dark purple at 0, yellow at 1,
// lightness rising throughout. t clamps to [0, 1]; NaN gives missing_colour().
Rgb colormap(double t);
constexpr Rgb missing_colour() { return {170, 170, 170}; }
constexpr Rgb plain_background() { return {236, 241, 246}; }

// Where the map lies on a width x height canvas: a 2:1 rectangle under the
// title and above the colour bar, centred horizontally. (lon, lat) project to
// x = left + (lon + 180) / 360 * width, y = top + (90 - lat) / 180 * height.
struct MapArea {
  double left = 0, top = 0, width = 0, height = 0;
  std::array<double, 2> project(double lon, double lat) const {
    return {left + (lon + 180) / 360 * width, top + (90 - lat) / 180 * height};
  }
};
MapArea geo_map_area(const GeoMap& map, int width = 1600, int height = 900);

void write_geo_map(const std::filesystem::path& png, const GeoMap& map, int width = 1600, int height = 900);

}  // namespace clipscope::plot
