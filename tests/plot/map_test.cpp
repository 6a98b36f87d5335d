// World maps are checked by reading the PNG back and looking at the pixels that
// regions, points and the background project to, and at the errors for bad input.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

#include "core/image/image.h"
#include "plot/map.h"
#include "support/shared_data.h"

namespace fs = std::filesystem;
using namespace clipscope;
using clipscope::testing::error_message;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

fs::path temp_path(const std::string& name) {
  static const fs::path dir = clipscope::testing::temp_dir("clipscope-map");
  return dir / name;
}

plot::GeoPolygon square(const std::string& name, double lon0, double lat0, double side, double value) {
  return {name, {{{lon0, lat0}, {lon0 + side, lat0}, {lon0 + side, lat0 + side}, {lon0, lat0 + side}}}, value};
}

// The canvas pixel that (lon, lat) projects into.
std::pair<int, int> pixel_of(const plot::GeoMap& map, double lon, double lat, int width = 1600, int height = 900) {
  auto [x, y] = plot::geo_map_area(map, width, height).project(lon, lat);
  return {static_cast<int>(std::floor(x)), static_cast<int>(std::floor(y))};
}

plot::Rgb at(const Image& image, std::pair<int, int> xy) {
  const uint8_t* p = image.pixel(xy.first, xy.second);
  return {p[0], p[1], p[2]};
}

// Channel by channel within `tolerance` (alpha blending and JPEG round).
::testing::AssertionResult near(const plot::Rgb& got, const plot::Rgb& want, int tolerance) {
  for (int c = 0; c < 3; ++c)
    if (std::abs(got[c] - want[c]) > tolerance)
      return ::testing::AssertionFailure() << "got (" << +got[0] << ", " << +got[1] << ", " << +got[2] << "), want ("
                                           << +want[0] << ", " << +want[1] << ", " << +want[2] << ") +-" << tolerance;
  return ::testing::AssertionSuccess();
}

plot::Rgb blend(const plot::Rgb& top, const plot::Rgb& under, double alpha) {
  plot::Rgb out;
  for (int c = 0; c < 3; ++c) out[c] = static_cast<uint8_t>(std::lround(top[c] * alpha + under[c] * (1 - alpha)));
  return out;
}

// CIE L* of an sRGB colour.
double lightness(const plot::Rgb& c) {
  auto linear = [](uint8_t v) {
    double s = v / 255.0;
    return s <= 0.04045 ? s / 12.92 : std::pow((s + 0.055) / 1.055, 2.4);
  };
  double y = 0.2126 * linear(c[0]) + 0.7152 * linear(c[1]) + 0.0722 * linear(c[2]);
  return y > 216.0 / 24389 ? 116 * std::cbrt(y) - 16 : y * 24389.0 / 27;
}

// Pixels along the row through xy that have exactly the colour c, contiguous with xy.
int run_width(const Image& image, std::pair<int, int> xy, const plot::Rgb& c) {
  int n = 0;
  for (int x = xy.first; x < image.width && at(image, {x, xy.second}) == c; ++x) ++n;
  for (int x = xy.first - 1; x >= 0 && at(image, {x, xy.second}) == c; --x) ++n;
  return n;
}

}  // namespace

TEST(GeoMapColormap, EndpointsClampAndRisingLightness) {
  EXPECT_EQ(plot::colormap(0), (plot::Rgb{68, 1, 84}));
  EXPECT_EQ(plot::colormap(1), (plot::Rgb{253, 231, 37}));
  EXPECT_EQ(plot::colormap(-3), plot::colormap(0));
  EXPECT_EQ(plot::colormap(7), plot::colormap(1));
  EXPECT_EQ(plot::colormap(kNaN), plot::missing_colour());
  double previous = -1;
  for (int i = 0; i <= 64; ++i) {
    double l = lightness(plot::colormap(i / 64.0));
    EXPECT_GT(l, previous) << "t = " << i / 64.0;
    previous = l;
  }
  EXPECT_GT(lightness(plot::colormap(1)) - lightness(plot::colormap(0)), 70);
}

TEST(GeoMap, RegionsAreFilledWithTheirValuesColour) {
  plot::GeoMap map;
  map.title = "regions";
  map.value_label = "activation";
  map.regions = {square("top", 0, 0, 20, 5), square("bottom", -60, -30, 20, 1), square("middle", 100, 10, 20, 3),
                 square("unknown", 60, -40, 20, kNaN)};
  const fs::path png = temp_path("regions.png");
  plot::write_geo_map(png, map);
  Image image = read_image(png);
  ASSERT_EQ(image.width, 1600);
  ASSERT_EQ(image.height, 900);
  const plot::Rgb bg = plot::plain_background();
  EXPECT_TRUE(near(at(image, pixel_of(map, 10, 10)), blend(plot::colormap(1), bg, 0.85), 2));
  EXPECT_TRUE(near(at(image, pixel_of(map, -50, -20)), blend(plot::colormap(0), bg, 0.85), 2));
  EXPECT_TRUE(near(at(image, pixel_of(map, 110, 20)), blend(plot::colormap(0.5), bg, 0.85), 2));
  EXPECT_TRUE(near(at(image, pixel_of(map, 70, -30)), blend(plot::missing_colour(), bg, 0.85), 2));
  EXPECT_EQ(at(image, pixel_of(map, -130, -50)), bg);  // away from every region and graticule line

  // Opaque fills show the colour map exactly.
  map.fill_alpha = 1;
  plot::write_geo_map(png, map);
  image = read_image(png);
  EXPECT_EQ(at(image, pixel_of(map, 10, 10)), plot::colormap(1));
  EXPECT_EQ(at(image, pixel_of(map, -50, -20)), plot::colormap(0));
}

TEST(GeoMap, HolesAndMultipleRingsFillEvenOdd) {
  plot::GeoMap map;
  map.fill_alpha = 1;
  // An outer square with a hole, and a second, separate outer ring.
  plot::GeoPolygon region = square("holed", 0, 0, 40, 1);
  region.rings.push_back(square("", 10, 10, 20, 0).rings[0]);
  region.rings.push_back(square("", -100, 0, 20, 0).rings[0]);
  map.regions = {region};
  const fs::path png = temp_path("holes.png");
  plot::write_geo_map(png, map);
  Image image = read_image(png);
  plot::Rgb fill = plot::colormap(0.5);  // a single value sits in the middle of the scale
  EXPECT_EQ(at(image, pixel_of(map, 5, 5)), fill);
  EXPECT_EQ(at(image, pixel_of(map, -90, 10)), fill);
  EXPECT_EQ(at(image, pixel_of(map, 20, 20)), plot::plain_background());  // the hole
}

TEST(GeoMap, PointsLandOnTheirProjectedPixel) {
  plot::GeoMap map;
  map.fill_alpha = 1;
  // The high point is listed first at the same place as a low one: it must still end up on top.
  map.points = {{"high", -100, 40, 10}, {"low below", -100, 40, 0}, {"low", 60, -30, 0}, {"unknown", 20, 50, kNaN}};
  const fs::path png = temp_path("points.png");
  plot::write_geo_map(png, map);
  Image image = read_image(png);
  auto high = pixel_of(map, -100, 40), low = pixel_of(map, 60, -30);
  EXPECT_EQ(at(image, high), plot::colormap(1));
  EXPECT_EQ(at(image, low), plot::colormap(0));
  EXPECT_EQ(at(image, pixel_of(map, 20, 50)), plot::plain_background());  // non-finite: skipped
  // The radius grows with the value.
  int high_width = run_width(image, high, plot::colormap(1)), low_width = run_width(image, low, plot::colormap(0));
  EXPECT_GE(low_width, 2);
  EXPECT_GT(high_width, low_width + 5);
}

TEST(GeoMap, ColourScaleClampsToGivenRangeAndBarSpansIt) {
  plot::GeoMap map;
  map.fill_alpha = 1;
  map.lo = 0;
  map.hi = 10;
  map.value_label = "activation (std from zero)";
  map.regions = {square("mid", 0, 0, 20, 5), square("over", -60, -30, 20, 20), square("under", 100, 10, 20, -3)};
  const fs::path png = temp_path("scale.png");
  plot::write_geo_map(png, map);
  Image image = read_image(png);
  EXPECT_EQ(at(image, pixel_of(map, 10, 10)), plot::colormap(0.5));
  EXPECT_EQ(at(image, pixel_of(map, -50, -20)), plot::colormap(1));
  EXPECT_EQ(at(image, pixel_of(map, 110, 20)), plot::colormap(0));

  // The colour bar below the map runs from colormap(0) on the left to colormap(1) on the right.
  plot::MapArea area = plot::geo_map_area(map);
  int row = static_cast<int>(area.top + area.height) + 16;
  int first_low = -1, last_high = -1;
  for (int x = 0; x < image.width; ++x) {
    if (first_low < 0 && at(image, {x, row}) == plot::colormap(0)) first_low = x;
    if (at(image, {x, row}) == plot::colormap(1)) last_high = x;
  }
  ASSERT_GE(first_low, 0);
  EXPECT_GT(last_high, first_low + 300);
}

TEST(GeoMap, TopValuesAreLabelled) {
  plot::GeoMap map;
  map.points = {{"Alpha", -100, 40, 1}, {"Beta", 60, -30, 0}};
  auto dark_right_of = [&](const Image& image, std::pair<int, int> xy) {
    int n = 0;
    for (int y = xy.second - 12; y <= xy.second + 6; ++y)
      for (int x = xy.first + 12; x < xy.first + 80; ++x) {
        plot::Rgb c = at(image, {x, y});
        n += c[0] < 90 && c[1] < 90 && c[2] < 90;
      }
    return n;
  };
  const fs::path png = temp_path("labels.png");
  plot::write_geo_map(png, map);
  Image image = read_image(png);
  EXPECT_EQ(dark_right_of(image, pixel_of(map, -100, 40)), 0);
  map.label_top = 1;
  plot::write_geo_map(png, map);
  image = read_image(png);
  EXPECT_GT(dark_right_of(image, pixel_of(map, -100, 40)), 10);
  EXPECT_EQ(dark_right_of(image, pixel_of(map, 60, -30)), 0);  // only the top one
}

TEST(GeoMap, BackgroundImageFillsTheMapArea) {
  Image magenta;
  magenta.width = 64;
  magenta.height = 32;
  for (int i = 0; i < magenta.width * magenta.height; ++i) magenta.rgb.insert(magenta.rgb.end(), {230, 20, 200});
  const fs::path background = temp_path("magenta.png");
  write_png(background, magenta);

  plot::GeoMap map;
  map.title = "on a background";
  map.points = {{"somewhere", 30, 10, 1}};
  map.background = background;
  const fs::path png = temp_path("background.png");
  plot::write_geo_map(png, map);
  Image image = read_image(png);
  EXPECT_EQ(at(image, pixel_of(map, -120, -40)), (plot::Rgb{230, 20, 200}));
  EXPECT_EQ(at(image, pixel_of(map, -179.9, 89.9)), (plot::Rgb{230, 20, 200}));  // corners too
  EXPECT_EQ(at(image, pixel_of(map, 179.9, -89.9)), (plot::Rgb{230, 20, 200}));
  EXPECT_EQ(at(image, {5, 5}), (plot::Rgb{255, 255, 255}));  // outside the map

  // JPEG backgrounds go through the same decoder.
  const fs::path jpeg = temp_path("magenta.jpg");
  write_jpeg(jpeg, magenta, 95);
  map.background = jpeg;
  plot::write_geo_map(png, map);
  image = read_image(png);
  EXPECT_TRUE(near(at(image, pixel_of(map, -120, -40)), {230, 20, 200}, 8));
}

TEST(GeoMap, BadInputThrowsNamingThePng) {
  const fs::path png = temp_path("bad.png");
  plot::GeoMap good;
  good.points = {{"p", 0, 0, 1}};

  plot::GeoMap map = good;
  map.points[0].lat = 95;
  std::string message = error_message([&] { plot::write_geo_map(png, map); });
  EXPECT_NE(message.find(png.string()), std::string::npos) << message;
  EXPECT_NE(message.find("latitude"), std::string::npos) << message;
  EXPECT_NE(message.find("95"), std::string::npos) << message;

  message = error_message([&] { plot::write_geo_map(png, plot::GeoMap{}); });
  EXPECT_NE(message.find(png.string()), std::string::npos) << message;
  EXPECT_NE(message.find("nothing to draw"), std::string::npos) << message;

  map = good;
  map.background = temp_path("no-such-world.jpg");
  message = error_message([&] { plot::write_geo_map(png, map); });
  EXPECT_NE(message.find(png.string()), std::string::npos) << message;
  EXPECT_NE(message.find("no-such-world.jpg"), std::string::npos) << message;

  const fs::path garbage = temp_path("garbage.png");
  clipscope::testing::write_file(garbage, "not an image at all");
  map.background = garbage;
  message = error_message([&] { plot::write_geo_map(png, map); });
  EXPECT_NE(message.find("garbage.png"), std::string::npos) << message;

  map = good;
  map.regions = {{"empty", {{}}, 1}};
  message = error_message([&] { plot::write_geo_map(png, map); });
  EXPECT_NE(message.find("'empty' ring 0 is empty"), std::string::npos) << message;

  map = good;
  map.regions = {square("east", 170, 0, 20, 1)};
  message = error_message([&] { plot::write_geo_map(png, map); });
  EXPECT_NE(message.find("longitude 190"), std::string::npos) << message;

  map = good;
  map.lo = 2;
  map.hi = 2;
  message = error_message([&] { plot::write_geo_map(png, map); });
  EXPECT_NE(message.find("lo 2 must be below hi 2"), std::string::npos) << message;

  message = error_message([&] { plot::write_geo_map(png, good, 0, 900); });
  EXPECT_NE(message.find("0x900"), std::string::npos) << message;
  message = error_message([&] { plot::write_geo_map(png, good, 1600, 60); });
  EXPECT_NE(message.find("too small"), std::string::npos) << message;

  map = good;
  map.label_top = -1;
  EXPECT_NE(error_message([&] { plot::write_geo_map(png, map); }).find("label_top"), std::string::npos);
  EXPECT_FALSE(fs::exists(png));  // nothing is written on bad input
}

// The article's figure: the countries and cities of the paper's region-neuron data, on the day-side earth.
TEST(GeoMap, PaperRegionsOnTheEarth) {
  CLIPSCOPE_REQUIRE_SHARED(shared);
  const fs::path maps = shared / "data" / "maps";
  if (!fs::exists(maps / "paper_regional_geo.json") || !fs::exists(maps / "earth-day.jpg"))
    GTEST_SKIP() << maps << ": paper_regional_geo.json or earth-day.jpg absent";
  std::ifstream in(maps / "paper_regional_geo.json");
  nlohmann::json geo = nlohmann::json::parse(in);

  plot::GeoMap map;
  map.title = "longitude as a stand-in activation";
  map.value_label = "longitude (degrees)";
  map.background = maps / "earth-day.jpg";
  map.label_top = 10;
  for (const auto& feature : geo.at("countries")) {
    plot::GeoPolygon region{feature.at("properties").at("name").get<std::string>(), {}, 0};
    const auto& geometry = feature.at("geometry");
    std::vector<nlohmann::json> polygons;
    if (geometry.at("type") == "Polygon")
      polygons.push_back(geometry.at("coordinates"));
    else
      for (const auto& polygon : geometry.at("coordinates")) polygons.push_back(polygon);
    for (const auto& polygon : polygons)
      for (const auto& ring : polygon) region.rings.push_back(ring.get<std::vector<std::array<double, 2>>>());
    double sum = 0;
    for (const auto& p : region.rings.at(0)) sum += p[0];
    region.value = sum / region.rings[0].size();
    map.regions.push_back(std::move(region));
  }
  for (const auto& city : geo.at("cities")) {
    auto pos = city.at("pos").get<std::array<double, 2>>();
    map.points.push_back({city.at("name").get<std::string>(), pos[0], pos[1], pos[0]});
  }
  ASSERT_GT(map.regions.size(), 100u);
  ASSERT_GT(map.points.size(), 100u);
  const fs::path png = temp_path("paper.png");
  plot::write_geo_map(png, map);
  Image image = read_image(png);
  EXPECT_EQ(image.width, 1600);
  EXPECT_EQ(image.height, 900);

  // The same background with one point in Antarctica, as the reference for Australia's pixel.
  plot::GeoMap bare = map;
  bare.regions.clear();
  bare.points = {{"", 0, -85, 0}};
  const fs::path bare_png = temp_path("paper-bare.png");
  plot::write_geo_map(bare_png, bare);
  Image reference = read_image(bare_png);
  auto australia = pixel_of(map, 134, -25);
  plot::Rgb drawn = at(image, australia), under = at(reference, australia);
  int difference = 0;
  for (int c = 0; c < 3; ++c) difference += std::abs(drawn[c] - under[c]);
  EXPECT_GT(difference, 30) << "Australia looks like the bare background";
  plot::Rgb pacific = at(reference, pixel_of(map, -150, 0));
  EXPECT_GT(pacific[2], pacific[0]) << "the background should be the earth (blue ocean)";
}
