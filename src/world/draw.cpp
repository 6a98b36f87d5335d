#include "world/draw.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <functional>
#include <numbers>
#include <utility>
#include <vector>

#include "core/util/error.h"

namespace clipscope::world {
namespace {

using Point = std::pair<double, double>;

bool in_polygon(const std::vector<Point>& poly, double u, double v) {
  bool inside = false;
  for (size_t i = 0, j = poly.size() - 1; i < poly.size(); j = i++) {
    const auto [xi, yi] = poly[i];
    const auto [xj, yj] = poly[j];
    if ((yi > v) != (yj > v) && u < (xj - xi) * (v - yi) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

std::vector<Point> star_polygon() {
  std::vector<Point> points;
  for (int k = 0; k < 10; ++k) {
    const double radius = k % 2 == 0 ? 1.0 : 0.42;
    const double angle = -std::numbers::pi / 2 + k * std::numbers::pi / 5;
    points.emplace_back(radius * std::cos(angle), radius * std::sin(angle));
  }
  return points;
}

double distance_to_segment(double u, double v, double ax, double ay, double bx, double by) {
  const double dx = bx - ax, dy = by - ay;
  const double t = std::clamp(((u - ax) * dx + (v - ay) * dy) / (dx * dx + dy * dy), 0.0, 1.0);
  return std::hypot(u - ax - t * dx, v - ay - t * dy);
}

enum class Shape { Circle, Square, Triangle, Star, Heart, Diamond, Cross, Hexagon };

Shape shape_id(const std::string& name) {
  static const std::array<std::pair<const char*, Shape>, 8> kNames = {{{"circle", Shape::Circle},
                                                                       {"square", Shape::Square},
                                                                       {"triangle", Shape::Triangle},
                                                                       {"star", Shape::Star},
                                                                       {"heart", Shape::Heart},
                                                                       {"diamond", Shape::Diamond},
                                                                       {"cross", Shape::Cross},
                                                                       {"hexagon", Shape::Hexagon}}};
  for (const auto& [n, id] : kNames)
    if (name == n) return id;
  throw Error(fmt::format("shape '{}': not a shape of the world", name));
}

bool contains(Shape shape, double u, double v) {
  // Equilateral, inscribed in the unit circle, moved down a little (within it) to look centred.
  static const std::vector<Point> kTriangle = {{0.0, -0.98}, {0.85, 0.5}, {-0.85, 0.5}};
  static const std::vector<Point> kStar = star_polygon();
  switch (shape) {
    case Shape::Circle:
      return u * u + v * v <= 0.92 * 0.92;
    case Shape::Square:
      return std::abs(u) <= 0.7 && std::abs(v) <= 0.7;
    case Shape::Triangle:
      return in_polygon(kTriangle, u, v);
    case Shape::Star:
      return in_polygon(kStar, u, v);
    case Shape::Heart: {
      // (x² + y² - 1)³ - x² y³ <= 0, y up, scaled into the unit circle.
      const double x = u * 1.25, y = -v * 1.25 + 0.2;
      const double a = x * x + y * y - 1;
      return a * a * a - x * x * y * y * y <= 0;
    }
    case Shape::Diamond:
      return std::abs(u) / 0.8 + std::abs(v) <= 1.0;
    case Shape::Cross:
      return (std::abs(u) <= 0.3 && std::abs(v) <= 0.9) || (std::abs(v) <= 0.3 && std::abs(u) <= 0.9);
    case Shape::Hexagon: {
      const double s = 0.92, h = s * std::sqrt(3.0) / 2;
      return std::abs(v) <= h && std::sqrt(3.0) * std::abs(u) + std::abs(v) <= 2 * h;
    }
  }
  return false;
}

// Blends `color` into every pixel of the box around (x, y) +- r by the fraction
// of its 4x4 sub-samples for which inside(u, v) holds, (u, v) in units of r.
template <typename Inside>
void paint(Image& image, double x, double y, double r, Rgb color, Inside inside) {
  constexpr int kSub = 4;
  const int x0 = std::max(0, static_cast<int>(std::floor(x - r)) - 1);
  const int y0 = std::max(0, static_cast<int>(std::floor(y - r)) - 1);
  const int x1 = std::min(image.width, static_cast<int>(std::ceil(x + r)) + 2);
  const int y1 = std::min(image.height, static_cast<int>(std::ceil(y + r)) + 2);
  for (int py = y0; py < y1; ++py) {
    for (int px = x0; px < x1; ++px) {
      int hits = 0;
      for (int sy = 0; sy < kSub; ++sy) {
        const double v = (py + (sy + 0.5) / kSub - y) / r;
        for (int sx = 0; sx < kSub; ++sx) {
          const double u = (px + (sx + 0.5) / kSub - x) / r;
          hits += inside(u, v) ? 1 : 0;
        }
      }
      if (hits == 0) continue;
      uint8_t* p = image.pixel(px, py);
      for (int c = 0; c < 3; ++c) {
        p[c] = static_cast<uint8_t>(std::lround(p[c] + (color[c] - p[c]) * hits / double(kSub * kSub)));
      }
    }
  }
}

}  // namespace

bool shape_contains(const std::string& shape, double u, double v) { return contains(shape_id(shape), u, v); }

void draw_shape(Image& image, const std::string& shape, double x, double y, double r, double angle, Rgb color) {
  const Shape id = shape_id(shape);
  const double c = std::cos(angle), s = std::sin(angle);
  paint(image, x, y, r, color, [&](double u, double v) { return contains(id, c * u + s * v, -s * u + c * v); });
}

void draw_face(Image& image, const std::string& emotion, double x, double y, double r, Rgb skin) {
  static const Rgb kInk = {35, 25, 20};
  enum { Happy, Sad, Surprised, Angry } e;
  if (emotion == "happy")
    e = Happy;
  else if (emotion == "sad")
    e = Sad;
  else if (emotion == "surprised")
    e = Surprised;
  else if (emotion == "angry")
    e = Angry;
  else
    throw Error(fmt::format("emotion '{}': not an emotion of the world", emotion));

  paint(image, x, y, r, kInk, [](double u, double v) { return u * u + v * v <= 1.0; });
  paint(image, x, y, r, skin, [](double u, double v) { return u * u + v * v <= 0.88 * 0.88; });
  const double eye = e == Surprised ? 0.15 : 0.11;
  paint(image, x, y, r, kInk, [&](double u, double v) {
    const double du = std::abs(u) - 0.34, dv = v + 0.22;
    return du * du + dv * dv <= eye * eye;
  });
  constexpr double kLine = 0.075;  // half the stroke width of brows and mouths
  paint(image, x, y, r, kInk, [&](double u, double v) {
    switch (e) {
      case Happy: {  // a smile: the lower part of a ring
        const double d = std::hypot(u, v + 0.05);
        return v > 0.12 && std::abs(d - 0.5) <= kLine;
      }
      case Sad: {  // a frown, and brows falling outwards
        const double d = std::hypot(u, v - 0.85);
        const bool mouth = v < 0.58 && std::abs(d - 0.42) <= kLine;
        const bool brow = distance_to_segment(std::abs(u), v, 0.18, -0.5, 0.5, -0.42) <= kLine * 0.8;
        return mouth || brow;
      }
      case Surprised: {  // an open mouth and raised brows
        const double mu = u / 0.17, mv = (v - 0.42) / 0.22;
        const bool mouth = mu * mu + mv * mv <= 1.0;
        const bool brow = std::abs(std::hypot(std::abs(u) - 0.34, v + 0.2) - 0.3) <= kLine * 0.8 && v < -0.38;
        return mouth || brow;
      }
      case Angry: {  // brows slanting down to the nose, a tight mouth
        const bool mouth = distance_to_segment(u, v, -0.3, 0.47, 0.3, 0.47) <= kLine;
        const bool brow = distance_to_segment(std::abs(u), v, 0.12, -0.36, 0.55, -0.56) <= kLine;
        return mouth || brow;
      }
    }
    return false;
  });
}

PixelBox draw_picture(Image& image, const RgbaImage& pic, double x, double y, double side, double angle) {
  PixelBox box{image.width, image.height, 0, 0};
  if (pic.width <= 0 || pic.height <= 0 || side <= 0) return {};
  const double scale = side / std::max(pic.width, pic.height);  // destination px per source px
  const double c = std::cos(angle), s = std::sin(angle);
  const double half_w = pic.width * scale / 2, half_h = pic.height * scale / 2;
  const double extent = std::hypot(half_w, half_h) + 1;
  const int sub = scale < 1 ? 2 : 1;
  auto sample = [&](double u, double v, double* out) {  // bilinear, premultiplied; outside = transparent
    u -= 0.5, v -= 0.5;
    const int u0 = static_cast<int>(std::floor(u)), v0 = static_cast<int>(std::floor(v));
    const double fu = u - u0, fv = v - v0;
    for (int k = 0; k < 4; ++k) out[k] = 0;
    for (int dv = 0; dv < 2; ++dv)
      for (int du = 0; du < 2; ++du) {
        const int uu = u0 + du, vv = v0 + dv;
        if (uu < 0 || vv < 0 || uu >= pic.width || vv >= pic.height) continue;
        const double w = (du ? fu : 1 - fu) * (dv ? fv : 1 - fv);
        const uint8_t* p = pic.rgba.data() + (static_cast<size_t>(vv) * pic.width + uu) * 4;
        for (int k = 0; k < 4; ++k) out[k] += w * p[k];
      }
  };
  const int px0 = std::max(0, static_cast<int>(std::floor(x - extent))),
            px1 = std::min(image.width, static_cast<int>(std::ceil(x + extent)));
  const int py0 = std::max(0, static_cast<int>(std::floor(y - extent))),
            py1 = std::min(image.height, static_cast<int>(std::ceil(y + extent)));
  for (int py = py0; py < py1; ++py)
    for (int px = px0; px < px1; ++px) {
      double acc[4] = {0, 0, 0, 0};
      for (int sy = 0; sy < sub; ++sy)
        for (int sx = 0; sx < sub; ++sx) {
          const double dx = px + (sx + 0.5) / sub - x, dy = py + (sy + 0.5) / sub - y;
          // Into the picture's frame: rotate back, then to source pixels.
          const double u = (c * dx + s * dy + half_w) / scale, v = (-s * dx + c * dy + half_h) / scale;
          double p[4];
          sample(u, v, p);
          for (int k = 0; k < 4; ++k) acc[k] += p[k] / (sub * sub);
        }
      if (acc[3] < 0.5) continue;
      uint8_t* d = image.pixel(px, py);
      const double keep = 1 - acc[3] / 255;
      for (int k = 0; k < 3; ++k) d[k] = static_cast<uint8_t>(std::clamp(std::lround(acc[k] + d[k] * keep), 0L, 255L));
      box.x0 = std::min(box.x0, px), box.y0 = std::min(box.y0, py);
      box.x1 = std::max(box.x1, px + 1), box.y1 = std::max(box.y1, py + 1);
    }
  return box.empty() ? PixelBox{} : box;
}

void fill_rings(Image& image, const std::vector<std::vector<std::array<double, 2>>>& rings, double x, double y,
                double r, double angle, Rgb color) {
  constexpr int kSub = 4;
  const double c = std::cos(angle), s = std::sin(angle);
  // Edges in pixel coordinates.
  struct Edge {
    double x0, y0, x1, y1;
  };
  std::vector<Edge> edges;
  double ymin = 1e9, ymax = -1e9;
  for (const auto& ring : rings)
    for (size_t i = 0; i < ring.size(); ++i) {
      const auto& a = ring[i];
      const auto& b = ring[(i + 1) % ring.size()];
      Edge e{x + r * (c * a[0] - s * a[1]), y + r * (s * a[0] + c * a[1]), x + r * (c * b[0] - s * b[1]),
             y + r * (s * b[0] + c * b[1])};
      if (e.y0 == e.y1) continue;
      ymin = std::min({ymin, e.y0, e.y1}), ymax = std::max({ymax, e.y0, e.y1});
      edges.push_back(e);
    }
  if (edges.empty()) return;
  const int row0 = std::max(0, static_cast<int>(std::floor(ymin))),
            row1 = std::min(image.height, static_cast<int>(std::ceil(ymax)));
  std::vector<double> coverage(static_cast<size_t>(image.width));
  std::vector<double> crossings;
  for (int row = row0; row < row1; ++row) {
    std::fill(coverage.begin(), coverage.end(), 0.0);
    for (int sy = 0; sy < kSub; ++sy) {
      const double v = row + (sy + 0.5) / kSub;
      crossings.clear();
      for (const Edge& e : edges)
        if ((e.y0 <= v) != (e.y1 <= v)) crossings.push_back(e.x0 + (v - e.y0) * (e.x1 - e.x0) / (e.y1 - e.y0));
      std::sort(crossings.begin(), crossings.end());
      for (size_t k = 0; k + 1 < crossings.size(); k += 2) {
        // Horizontal sub-samples at (px + (sx + 0.5) / kSub) inside [a, b).
        const double a = crossings[k], b = crossings[k + 1];
        const int first = std::max(0, static_cast<int>(std::ceil(a * kSub - 0.5)));
        const int last = std::min(image.width * kSub, static_cast<int>(std::ceil(b * kSub - 0.5)));
        for (int j = first; j < last; ++j) coverage[static_cast<size_t>(j / kSub)] += 1.0 / (kSub * kSub);
      }
    }
    for (int px = 0; px < image.width; ++px) {
      const double a = std::min(1.0, coverage[static_cast<size_t>(px)]);
      if (a <= 0) continue;
      uint8_t* d = image.pixel(px, row);
      for (int k = 0; k < 3; ++k) d[k] = static_cast<uint8_t>(std::lround(d[k] + (color[k] - d[k]) * a));
    }
  }
}

const std::vector<std::string>& background_kinds() {
  // "white" (pure white, for probes such as black-on-white words) comes last so
  // that random backgrounds (plain or one of the textures) never draw it.
  static const std::vector<std::string> kKinds = {"plain", "noise", "stripes", "checker", "gradient", "white"};
  return kKinds;
}

void fill_background(Image& image, const std::string& kind, uint64_t seed) {
  Rng rng(seed);
  // Light neutral tones with a slight tint.
  auto tone = [&rng] {
    const int base = rng.integer(200, 250);
    return Rgb{static_cast<uint8_t>(std::clamp(base + rng.integer(-6, 6), 0, 255)),
               static_cast<uint8_t>(std::clamp(base + rng.integer(-6, 6), 0, 255)),
               static_cast<uint8_t>(std::clamp(base + rng.integer(-6, 6), 0, 255))};
  };
  const Rgb a = tone(), b = tone();
  const double period = rng.uniform(5.0, 14.0), angle = rng.uniform(0.0, std::numbers::pi);
  const double ca = std::cos(angle), sa = std::sin(angle);
  auto set = [&](int px, int py, Rgb c) { std::copy(c.begin(), c.end(), image.pixel(px, py)); };
  std::function<Rgb(int, int)> color_at;
  if (kind == "white") {
    color_at = [](int, int) { return Rgb{255, 255, 255}; };
  } else if (kind == "plain") {
    color_at = [&](int, int) { return a; };
  } else if (kind == "noise") {
    color_at = [&](int, int) {
      const int d = rng.integer(-16, 16);
      return Rgb{static_cast<uint8_t>(std::clamp(a[0] + d, 0, 255)), static_cast<uint8_t>(std::clamp(a[1] + d, 0, 255)),
                 static_cast<uint8_t>(std::clamp(a[2] + d, 0, 255))};
    };
  } else if (kind == "stripes") {
    color_at = [&](int px, int py) { return std::fmod((px * ca + py * sa) / period + 100.0, 2.0) < 1.0 ? a : b; };
  } else if (kind == "checker") {
    const int cell = static_cast<int>(period);
    color_at = [&](int px, int py) { return ((px / cell) + (py / cell)) % 2 == 0 ? a : b; };
  } else if (kind == "gradient") {
    color_at = [&](int px, int py) {
      const double t = std::clamp((px * ca + py * sa) / (image.width + image.height), 0.0, 1.0);
      Rgb c;
      for (int k = 0; k < 3; ++k) c[k] = static_cast<uint8_t>(std::lround(a[k] + (b[k] - a[k]) * t));
      return c;
    };
  } else {
    throw Error(
        fmt::format("background '{}': not a background kind (plain, noise, stripes, checker, gradient, white)", kind));
  }
  for (int py = 0; py < image.height; ++py)
    for (int px = 0; px < image.width; ++px) set(px, py, color_at(px, py));
}

}  // namespace clipscope::world
