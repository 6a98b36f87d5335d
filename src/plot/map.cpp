// World maps on a cairo canvas. Drawing order: background (an image stretched
// over the 2:1 map area, or a plain fill with a graticule), region fills (alpha,
// even-odd), region outlines, points (smallest value first), labels, then the
// title and the colour bar outside the map area. Everything on the map is
// clipped to the map area.
#include "plot/map.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "core/image/image.h"
#include "plot/axes.h"
#include "plot/canvas.h"

namespace clipscope::plot {
namespace {

using namespace detail;

constexpr Rgb kGraticule{222, 229, 237};
constexpr Rgb kMapFrame{150, 150, 150};
constexpr Rgb kOutline{40, 40, 40};
constexpr Rgb kPointEdge{30, 30, 30};
constexpr int kMargin = 10;
constexpr int kBarGap = 10, kBarHeight = 14;

[[noreturn]] void fail(const std::filesystem::path& png, const std::string& problem) {
  throw Error(fmt::format("{}: geo map: {}", png.string(), problem));
}

int title_band(const GeoMap& map) { return map.title.empty() ? kMargin : 34; }
// Colour bar, tick marks and labels, and the value label under them.
int bottom_band(const GeoMap& map) { return kBarGap + kBarHeight + 22 + (map.value_label.empty() ? 8 : 26); }

void check_coordinate(const std::filesystem::path& png, const std::string& what, double lon, double lat) {
  // Written so that NaN fails too.
  if (!(lon >= -180 && lon <= 180)) fail(png, fmt::format("{}: longitude {} is outside [-180, 180]", what, lon));
  if (!(lat >= -90 && lat <= 90)) fail(png, fmt::format("{}: latitude {} is outside [-90, 90]", what, lat));
}

void validate(const std::filesystem::path& png, const GeoMap& map, int width, int height) {
  if (width < 1 || height < 1 || width > 32767 || height > 32767)
    fail(png, fmt::format("image size {}x{} is out of range", width, height));
  if (geo_map_area(map, width, height).height < 20)
    fail(png, fmt::format("image size {}x{} is too small for a map", width, height));
  if (map.regions.empty() && map.points.empty()) fail(png, "nothing to draw (no regions and no points)");
  for (size_t i = 0; i < map.regions.size(); ++i) {
    const GeoPolygon& region = map.regions[i];
    std::string what = fmt::format("region {} '{}'", i, region.name);
    if (region.rings.empty()) fail(png, fmt::format("{} has no rings", what));
    for (size_t r = 0; r < region.rings.size(); ++r) {
      const auto& ring = region.rings[r];
      if (ring.empty()) fail(png, fmt::format("{} ring {} is empty", what, r));
      if (ring.size() < 3) fail(png, fmt::format("{} ring {} has {} points (a ring needs 3)", what, r, ring.size()));
      for (const auto& [lon, lat] : ring) check_coordinate(png, what, lon, lat);
    }
  }
  for (size_t i = 0; i < map.points.size(); ++i)
    check_coordinate(png, fmt::format("point {} '{}'", i, map.points[i].name), map.points[i].lon, map.points[i].lat);
  for (const auto& [name, bound] : {std::pair{"lo", map.lo}, {"hi", map.hi}})
    if (bound && !std::isfinite(*bound)) fail(png, fmt::format("{} is not finite ({})", name, *bound));
  if (map.lo && map.hi && *map.lo >= *map.hi)
    fail(png, fmt::format("colour scale lo {} must be below hi {}", *map.lo, *map.hi));
  if (map.label_top < 0) fail(png, fmt::format("label_top must be >= 0 (got {})", map.label_top));
  if (!(map.fill_alpha >= 0 && map.fill_alpha <= 1))
    fail(png, fmt::format("fill_alpha must be in [0, 1] (got {})", map.fill_alpha));
}

// The colour scale: given bounds win, the data fills in the rest; a flat or
// inverted range is widened so every value still has a colour.
std::pair<double, double> scale_range(const GeoMap& map) {
  double data_lo = INFINITY, data_hi = -INFINITY;
  auto see = [&](double v) {
    if (!std::isfinite(v)) return;
    data_lo = std::min(data_lo, v);
    data_hi = std::max(data_hi, v);
  };
  for (const GeoPolygon& r : map.regions) see(r.value);
  for (const GeoPoint& p : map.points) see(p.value);
  if (data_lo > data_hi) {  // no finite values at all
    data_lo = 0;
    data_hi = 1;
  }
  double lo = map.lo.value_or(data_lo), hi = map.hi.value_or(data_hi);
  if (lo >= hi) {
    if (map.lo) {
      hi = lo + 1;
    } else if (map.hi) {
      lo = hi - 1;
    } else {
      lo -= 0.5;
      hi += 0.5;
    }
  }
  return {lo, hi};
}

// Reads the background through clipscope's decoder (PNG and JPEG alike) into a
// cairo RGB24 surface.
std::unique_ptr<cairo_surface_t, decltype(&cairo_surface_destroy)> load_background(const std::filesystem::path& png,
                                                                                   const std::filesystem::path& file) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(file, ec))
    fail(png, fmt::format("background image {} does not exist", file.string()));
  Image image;
  try {
    image = read_image(file);
  } catch (const Error& e) {
    fail(png, fmt::format("cannot read background image ({})", e.what()));
  }
  std::unique_ptr<cairo_surface_t, decltype(&cairo_surface_destroy)> surface(
      cairo_image_surface_create(CAIRO_FORMAT_RGB24, image.width, image.height), cairo_surface_destroy);
  if (cairo_surface_status(surface.get()) != CAIRO_STATUS_SUCCESS)
    fail(png, fmt::format("background image {} ({}x{}) is too large", file.string(), image.width, image.height));
  unsigned char* data = cairo_image_surface_get_data(surface.get());
  int stride = cairo_image_surface_get_stride(surface.get());
  for (int y = 0; y < image.height; ++y) {
    auto* out = reinterpret_cast<uint32_t*>(data + static_cast<size_t>(y) * stride);
    for (int x = 0; x < image.width; ++x) {
      const uint8_t* p = image.pixel(x, y);
      out[x] = 0xFF000000u | (uint32_t{p[0]} << 16) | (uint32_t{p[1]} << 8) | p[2];  // RGB24, native-endian
    }
  }
  cairo_surface_mark_dirty(surface.get());
  return surface;
}

void draw_background(cairo_t* cr, const MapArea& area, cairo_surface_t* image) {
  if (image) {
    cairo_save(cr);
    cairo_translate(cr, area.left, area.top);
    cairo_scale(cr, area.width / cairo_image_surface_get_width(image),
                area.height / cairo_image_surface_get_height(image));
    cairo_set_source_surface(cr, image, 0, 0);
    // PAD: edge pixels are not blended with transparency, so the map's border keeps the image's colours.
    cairo_pattern_set_extend(cairo_get_source(cr), CAIRO_EXTEND_PAD);
    cairo_pattern_set_filter(cairo_get_source(cr), CAIRO_FILTER_GOOD);
    cairo_paint(cr);
    cairo_restore(cr);
    return;
  }
  set_colour(cr, plain_background());
  fill_pixels(cr, static_cast<int>(area.left), static_cast<int>(area.top), static_cast<int>(area.width),
              static_cast<int>(area.height));
  set_colour(cr, kGraticule);
  for (int lon = -150; lon <= 150; lon += 30)
    fill_pixels(cr, static_cast<int>(area.project(lon, 0)[0]), static_cast<int>(area.top), 1,
                static_cast<int>(area.height));
  for (int lat = -60; lat <= 60; lat += 30)
    fill_pixels(cr, static_cast<int>(area.left), static_cast<int>(area.project(0, lat)[1]),
                static_cast<int>(area.width), 1);
}

void region_path(cairo_t* cr, const MapArea& area, const GeoPolygon& region) {
  cairo_new_path(cr);
  for (const auto& ring : region.rings) {
    for (size_t i = 0; i < ring.size(); ++i) {
      auto [x, y] = area.project(ring[i][0], ring[i][1]);
      i == 0 ? cairo_move_to(cr, x, y) : cairo_line_to(cr, x, y);
    }
    cairo_close_path(cr);
  }
}

// Where a region's label goes: the centroid of its largest ring (the mainland of
// a MultiPolygon), in degrees; the ring's mean point when its area is degenerate.
std::array<double, 2> label_anchor(const GeoPolygon& region) {
  double best_area = -1;
  std::array<double, 2> anchor{0, 0};
  for (const auto& ring : region.rings) {
    double area2 = 0, cx = 0, cy = 0, mx = 0, my = 0;
    for (size_t i = 0; i < ring.size(); ++i) {
      const auto& a = ring[i];
      const auto& b = ring[(i + 1) % ring.size()];
      double cross = a[0] * b[1] - b[0] * a[1];
      area2 += cross;
      cx += (a[0] + b[0]) * cross;
      cy += (a[1] + b[1]) * cross;
      mx += a[0];
      my += a[1];
    }
    if (std::abs(area2) <= best_area) continue;
    best_area = std::abs(area2);
    anchor = std::abs(area2) > 1e-12 ? std::array{cx / (3 * area2), cy / (3 * area2)}
                                     : std::array{mx / ring.size(), my / ring.size()};
  }
  return anchor;
}

// Text with a white halo, readable over any fill or background; x is its left edge.
void draw_label(cairo_t* cr, const std::string& text, double x, double baseline) {
  cairo_new_path(cr);
  cairo_move_to(cr, x, baseline);
  cairo_text_path(cr, text.c_str());
  cairo_set_source_rgb(cr, 1, 1, 1);
  cairo_set_line_width(cr, 3);
  cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
  cairo_stroke_preserve(cr);
  set_colour(cr, kInk);
  cairo_fill(cr);
}

struct Label {
  double value;
  std::string text;
  double x, y;  // the anchor: a point's centre or a region's centroid
  double gap;   // a point's radius, keeping the text off its dot; 0 for regions
};

// Labels in order, each at the first of a few spots around its anchor that does
// not overlap a label already placed (neighbouring cities crowd otherwise), or
// at the first spot when all overlap, so that every label is written.
void draw_labels(cairo_t* cr, const MapArea& area, const std::vector<Label>& labels) {
  struct Rect {
    double x0, y0, x1, y1;
  };
  std::vector<Rect> placed;
  set_font(cr, 12);
  for (const Label& label : labels) {
    double w = text_width(cr, label.text);
    std::vector<std::pair<double, double>> spots;  // left edge, baseline
    if (label.gap > 0)
      spots = {{label.x + label.gap + 3, label.y + 4},
               {label.x - label.gap - 3 - w, label.y + 4},
               {label.x - w / 2, label.y - label.gap - 4},
               {label.x - w / 2, label.y + label.gap + 13}};
    else
      spots = {{label.x - w / 2, label.y + 4}, {label.x - w / 2, label.y - 10}, {label.x - w / 2, label.y + 18}};
    for (auto& spot : spots)  // kept inside the map, where the clip would cut it
      spot.first = std::max(area.left + 2, std::min(spot.first, area.left + area.width - w - 2));
    auto box_at = [&](std::pair<double, double> spot) {
      return Rect{spot.first - 2, spot.second - 11, spot.first + w + 2, spot.second + 3};
    };
    auto free = [&](const Rect& b) {
      return std::none_of(placed.begin(), placed.end(),
                          [&](const Rect& o) { return b.x0 < o.x1 && o.x0 < b.x1 && b.y0 < o.y1 && o.y0 < b.y1; });
    };
    auto spot = std::find_if(spots.begin(), spots.end(), [&](auto s) { return free(box_at(s)); });
    if (spot == spots.end()) spot = spots.begin();
    placed.push_back(box_at(*spot));
    draw_label(cr, label.text, spot->first, spot->second);
  }
}

void draw_colour_bar(cairo_t* cr, const GeoMap& map, const MapArea& area, int width, double lo, double hi) {
  int bar_width = std::max(2, std::min(static_cast<int>(area.width) / 2, 640));
  int bar_x = (width - bar_width) / 2;
  int bar_y = static_cast<int>(area.top + area.height) + kBarGap;
  // One exact-colour column per pixel, from colormap(0) on the left to colormap(1) on the right.
  for (int i = 0; i < bar_width; ++i) {
    set_colour(cr, colormap(static_cast<double>(i) / (bar_width - 1)));
    fill_pixels(cr, bar_x + i, bar_y, 1, kBarHeight);
  }
  set_colour(cr, kInk);
  cairo_set_line_width(cr, 1);
  cairo_rectangle(cr, bar_x - 0.5, bar_y - 0.5, bar_width + 1, kBarHeight + 1);  // just outside the colours
  cairo_stroke(cr);
  set_font(cr, 11);
  double slack = 1e-9 * (hi - lo);
  for (const Tick& t : linear_ticks(lo, hi)) {
    if (t.value < lo - slack || t.value > hi + slack) continue;
    double x = std::round(bar_x + (t.value - lo) / (hi - lo) * (bar_width - 1)) + 0.5;
    cairo_move_to(cr, x, bar_y + kBarHeight);
    cairo_line_to(cr, x, bar_y + kBarHeight + 4);
    cairo_stroke(cr);
    draw_text(cr, t.label, x, bar_y + kBarHeight + 16, Align::centre);
  }
  set_font(cr, 12);
  draw_text(cr, map.value_label, width / 2.0, bar_y + kBarHeight + 36, Align::centre);
}

}  // namespace

Rgb colormap(double t) {
  // matplotlib's viridis at t = 0, 1/8, ..., 1.
  static constexpr std::array<Rgb, 9> anchors{{{68, 1, 84},
                                               {71, 44, 122},
                                               {59, 82, 139},
                                               {44, 114, 142},
                                               {33, 145, 140},
                                               {40, 174, 128},
                                               {94, 201, 98},
                                               {173, 220, 48},
                                               {253, 231, 37}}};
  if (std::isnan(t)) return missing_colour();
  double pos = std::clamp(t, 0.0, 1.0) * (anchors.size() - 1);
  size_t i = std::min(static_cast<size_t>(pos), anchors.size() - 2);
  double f = pos - i;
  Rgb out;
  for (int c = 0; c < 3; ++c)
    out[c] = static_cast<uint8_t>(std::lround(anchors[i][c] + (anchors[i + 1][c] - anchors[i][c]) * f));
  return out;
}

MapArea geo_map_area(const GeoMap& map, int width, int height) {
  int top = title_band(map);
  int available_width = std::max(0, width - 2 * kMargin);
  int available_height = std::max(0, height - top - bottom_band(map));
  // Whole pixels and an exact 2:1 ratio, so one degree is the same size both ways.
  int map_height = std::min(available_height, available_width / 2);
  MapArea area;
  area.width = 2.0 * map_height;
  area.height = map_height;
  area.left = (width - 2 * map_height) / 2;
  area.top = top;
  return area;
}

void write_geo_map(const std::filesystem::path& png, const GeoMap& map, int width, int height) {
  validate(png, map, width, height);
  std::unique_ptr<cairo_surface_t, decltype(&cairo_surface_destroy)> background(nullptr, cairo_surface_destroy);
  if (map.background) background = load_background(png, *map.background);
  const auto [lo, hi] = scale_range(map);
  auto scaled = [&](double v) { return std::clamp((v - lo) / (hi - lo), 0.0, 1.0); };
  const MapArea area = geo_map_area(map, width, height);

  Canvas canvas = make_canvas(png, width, height);
  cairo_t* cr = canvas.cr.get();
  cairo_save(cr);
  cairo_rectangle(cr, area.left, area.top, area.width, area.height);
  cairo_clip(cr);
  draw_background(cr, area, background.get());

  cairo_set_fill_rule(cr, CAIRO_FILL_RULE_EVEN_ODD);
  for (const GeoPolygon& region : map.regions) {
    Rgb c = std::isfinite(region.value) ? colormap(scaled(region.value)) : missing_colour();
    region_path(cr, area, region);
    cairo_set_source_rgba(cr, c[0] / 255.0, c[1] / 255.0, c[2] / 255.0, map.fill_alpha);
    cairo_fill(cr);
  }
  // Outlines after all fills, so no neighbour's fill covers a shared border.
  cairo_set_line_width(cr, 0.6);
  cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
  for (const GeoPolygon& region : map.regions) {
    region_path(cr, area, region);
    cairo_set_source_rgba(cr, kOutline[0] / 255.0, kOutline[1] / 255.0, kOutline[2] / 255.0, 0.8);
    cairo_stroke(cr);
  }

  // Points: radius from r0 (lowest) to 3 r0 (highest); the highest are drawn last, on top.
  const double r0 = std::max(1.5, area.height / 300);
  std::vector<size_t> order;
  for (size_t i = 0; i < map.points.size(); ++i)
    if (std::isfinite(map.points[i].value)) order.push_back(i);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return map.points[a].value < map.points[b].value; });
  cairo_set_line_width(cr, 1);
  for (size_t i : order) {
    const GeoPoint& p = map.points[i];
    auto [x, y] = area.project(p.lon, p.lat);
    cairo_new_path(cr);
    cairo_arc(cr, x, y, r0 * (1 + 2 * scaled(p.value)), 0, 2 * std::numbers::pi);
    set_colour(cr, colormap(scaled(p.value)));
    cairo_fill_preserve(cr);
    set_colour(cr, kPointEdge);
    cairo_stroke(cr);
  }

  // Labels for the label_top highest finite values, regions and points ranked together.
  std::vector<Label> labels;
  for (const GeoPolygon& region : map.regions) {
    if (!std::isfinite(region.value) || region.name.empty()) continue;
    auto [lon, lat] = label_anchor(region);
    auto [x, y] = area.project(lon, lat);
    labels.push_back({region.value, region.name, x, y, 0});
  }
  for (const GeoPoint& p : map.points) {
    if (!std::isfinite(p.value) || p.name.empty()) continue;
    auto [x, y] = area.project(p.lon, p.lat);
    labels.push_back({p.value, p.name, x, y, r0 * (1 + 2 * scaled(p.value))});
  }
  std::stable_sort(labels.begin(), labels.end(), [](const Label& a, const Label& b) { return a.value > b.value; });
  labels.resize(std::min(labels.size(), static_cast<size_t>(map.label_top)));
  draw_labels(cr, area, labels);
  cairo_restore(cr);  // drops the map clip

  set_colour(cr, kMapFrame);
  cairo_set_line_width(cr, 1);
  cairo_rectangle(cr, area.left - 0.5, area.top - 0.5, area.width + 1, area.height + 1);
  cairo_stroke(cr);
  draw_title(cr, map.title, width);
  draw_colour_bar(cr, map, area, width, lo, hi);
  write_canvas(canvas, png);
}

}  // namespace clipscope::plot
