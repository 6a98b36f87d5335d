// Random transforms after lucid's optvis.transform. Random choices come from raw
// mt19937_64 outputs (whose sequence the standard fixes) rather than
// std::uniform_*_distribution (implementation-defined), so a seed gives the same
// draws with any standard library.
#include "optvis/transforms.h"

#include <charconv>
#include <cmath>
#include <numbers>

#include "core/util/error.h"
#include "core/util/strings.h"

namespace clipscope::optvis {

namespace {

namespace F = torch::nn::functional;

// Uniform in [0, n); the modulo bias is ~n / 2^64, negligible here.
uint64_t draw_below(Rng& rng, uint64_t n) { return rng() % n; }

template <typename T>
const T& draw_one(const std::vector<T>& xs, Rng& rng) {
  return xs[draw_below(rng, xs.size())];
}

// Shortest text that reads back as the same double, so names round-trip.
std::string format_number(double v) {
  char buffer[64];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, v);
  return std::string(buffer, end);
}

std::string join_numbers(const std::vector<double>& xs) {
  std::string s;
  for (size_t i = 0; i < xs.size(); ++i) {
    if (i) s += ',';
    s += format_number(xs[i]);
  }
  return s;
}

void require_images(const torch::Tensor& t, const std::string& name) {
  if (t.dim() != 4)
    throw Error("transform " + name + ": expected images (N, C, H, W), got shape " + std::string(c10::str(t.sizes())));
}

// Splits on commas outside parentheses.
std::vector<std::string> split_top_level(const std::string& s, const std::string& whole) {
  std::vector<std::string> pieces;
  std::string current;
  int depth = 0;
  for (char c : s) {
    if (c == '(') ++depth;
    if (c == ')' && --depth < 0) throw Error("transforms \"" + whole + "\": unbalanced ')'");
    if (c == ',' && depth == 0) {
      pieces.emplace_back(trim(current));
      current.clear();
    } else {
      current += c;
    }
  }
  if (depth != 0) throw Error("transforms \"" + whole + "\": unbalanced '('");
  pieces.emplace_back(trim(current));
  return pieces;
}

double parse_double(std::string_view text, const std::string& piece) {
  if (const auto v = to_number<double>(text)) return *v;
  throw Error("transform \"" + piece + "\": \"" + std::string(text) + "\" is not a number");
}

int64_t parse_int(std::string_view text, const std::string& piece) {
  if (const auto v = to_number<int64_t>(text)) return *v;
  throw Error("transform \"" + piece + "\": \"" + std::string(text) + "\" is not an integer");
}

// Rethrows a constructor's complaint with the piece that caused it.
template <typename Make>
Transform build(const std::string& piece, Make make) {
  try {
    return make();
  } catch (const Error& e) {
    throw Error("transform \"" + piece + "\": " + e.what());
  }
}

void parse_piece(const std::string& piece, std::vector<Transform>& out) {
  if (piece.empty()) throw Error("transforms: empty piece (stray comma?)");
  if (piece == "none") return;
  if (piece == "standard") {
    for (auto& t : standard_transforms()) out.push_back(std::move(t));
    return;
  }
  if (piece.rfind("facet:", 0) == 0) {
    const int64_t res = parse_int(trim(piece.substr(6)), piece);
    std::vector<Transform> ts;
    try {
      ts = facet_transforms(res);
    } catch (const Error& e) {
      throw Error("transform \"" + piece + "\": " + e.what());
    }
    for (auto& t : ts) out.push_back(std::move(t));
    return;
  }
  const auto open = piece.find('(');
  if (open == std::string::npos || piece.back() != ')')
    throw Error("transform \"" + piece + "\": expected name(arguments), \"standard\", \"facet:RES\" or \"none\"");
  const std::string name(trim(piece.substr(0, open)));
  const std::string inside = piece.substr(open + 1, piece.size() - open - 2);
  std::vector<std::string> args;
  if (!trim(inside).empty()) args = split_top_level(inside, piece);
  auto arity = [&](size_t lo, size_t hi) {
    if (args.size() < lo || args.size() > hi)
      throw Error("transform \"" + piece + "\": expected " +
                  (lo == hi ? std::to_string(lo) : std::to_string(lo) + " to " + std::to_string(hi)) +
                  " arguments, got " + std::to_string(args.size()));
  };
  auto numbers = [&] {
    if (args.empty()) throw Error("transform \"" + piece + "\": expected at least one value");
    std::vector<double> xs;
    for (const auto& a : args) xs.push_back(parse_double(a, piece));
    return xs;
  };
  if (name == "pad") {
    arity(1, 2);
    const int64_t width = parse_int(args[0], piece);
    const double value = args.size() == 2 ? parse_double(args[1], piece) : 0.5;
    out.push_back(build(piece, [&] { return pad(width, value); }));
  } else if (name == "jitter") {
    arity(1, 1);
    const int64_t d = parse_int(args[0], piece);
    out.push_back(build(piece, [&] { return jitter(d); }));
  } else if (name == "scale") {
    auto xs = numbers();
    out.push_back(build(piece, [&] { return random_scale(xs); }));
  } else if (name == "rotate") {
    auto xs = numbers();
    out.push_back(build(piece, [&] { return random_rotate(xs); }));
  } else if (name == "crop") {
    arity(1, 2);
    const int64_t h = parse_int(args[0], piece);
    const int64_t w = args.size() == 2 ? parse_int(args[1], piece) : h;
    out.push_back(build(piece, [&] { return crop_or_pad_to(h, w); }));
  } else {
    throw Error("unknown transform \"" + piece +
                "\" (expected pad, jitter, scale, rotate, crop, standard, facet:RES or none)");
  }
}

}  // namespace

Transform pad(int64_t width, double value) {
  if (width < 0) throw Error("pad: width must be >= 0, got " + std::to_string(width));
  if (!std::isfinite(value)) throw Error("pad: value must be finite");
  std::string name = "pad(" + std::to_string(width) + "," + format_number(value) + ")";
  return {name, [width, value, name](const torch::Tensor& t, Rng&) {
            require_images(t, name);
            return torch::constant_pad_nd(t, {width, width, width, width}, value);
          }};
}

Transform jitter(int64_t d) {
  if (d < 0) throw Error("jitter: d must be >= 0, got " + std::to_string(d));
  std::string name = "jitter(" + std::to_string(d) + ")";
  return {
      name, [d, name](const torch::Tensor& t, Rng& rng) {
        require_images(t, name);
        const int64_t h = t.size(2), w = t.size(3);
        if (h <= d || w <= d)
          throw Error("transform " + name + ": image " + std::to_string(h) + "x" + std::to_string(w) + " is too small");
        // lucid's random_crop: offsets uniform in [0, d], one draw for the batch.
        const auto dy = static_cast<int64_t>(draw_below(rng, d + 1));
        const auto dx = static_cast<int64_t>(draw_below(rng, d + 1));
        return t.narrow(2, dy, h - d).narrow(3, dx, w - d);
      }};
}

Transform random_scale(std::vector<double> scales) {
  if (scales.empty()) throw Error("scale: needs at least one factor");
  for (double s : scales)
    if (!(s > 0) || !std::isfinite(s)) throw Error("scale: factors must be positive, got " + format_number(s));
  std::string name = "scale(" + join_numbers(scales) + ")";
  return {
      name, [scales = std::move(scales), name](const torch::Tensor& t, Rng& rng) {
        require_images(t, name);
        const double s = draw_one(scales, rng);
        const int64_t h = t.size(2), w = t.size(3);
        // Rounded (lucid truncates with a cast); the header documents rounding.
        const auto nh = static_cast<int64_t>(std::llround(h * s)), nw = static_cast<int64_t>(std::llround(w * s));
        if (nh < 1 || nw < 1) throw Error("transform " + name + ": scale " + format_number(s) + " leaves no pixels");
        if (nh == h && nw == w) return t;  // bilinear at the same size is the identity
        return F::interpolate(
            t,
            F::InterpolateFuncOptions().size(std::vector<int64_t>{nh, nw}).mode(torch::kBilinear).align_corners(false));
      }};
}

Transform random_rotate(std::vector<double> degrees) {
  if (degrees.empty()) throw Error("rotate: needs at least one angle");
  for (double a : degrees)
    if (!std::isfinite(a)) throw Error("rotate: angles must be finite");
  std::string name = "rotate(" + join_numbers(degrees) + ")";
  return {name, [degrees = std::move(degrees), name](const torch::Tensor& t, Rng& rng) {
            require_images(t, name);
            const double angle = draw_one(degrees, rng);
            if (angle == 0) return t;
            const int64_t n = t.size(0), h = t.size(2), w = t.size(3);
            // Positive = counter-clockwise on screen (y down), as tf.contrib.image.rotate.
            // affine_grid maps output to input coordinates, so theta is the inverse
            // rotation, written in normalised coordinates (x scaled by W/2, y by H/2).
            const double a = angle * std::numbers::pi / 180.0, c = std::cos(a), s = std::sin(a);
            const double hw = static_cast<double>(h) / w, wh = static_cast<double>(w) / h;
            auto theta = torch::tensor({c, -s * hw, 0.0, s * wh, c, 0.0}, torch::kDouble)
                             .view({1, 2, 3})
                             .expand({n, 2, 3})
                             .to(t.device(), t.scalar_type());
            auto grid = F::affine_grid(theta, t.sizes(), /*align_corners=*/false);
            return F::grid_sample(
                t, grid,
                F::GridSampleFuncOptions().mode(torch::kBilinear).padding_mode(torch::kZeros).align_corners(false));
          }};
}

Transform crop_or_pad_to(int64_t height, int64_t width) {
  if (height < 1 || width < 1)
    throw Error("crop: size must be positive, got " + std::to_string(height) + "x" + std::to_string(width));
  std::string name = "crop(" + std::to_string(height) + "," + std::to_string(width) + ")";
  return {name, [height, width, name](const torch::Tensor& t, Rng&) {
            require_images(t, name);
            auto x = t;
            const int64_t h = x.size(2), w = x.size(3);
            // Centre crop, offset (size - target) / 2 rounded down, as TF's resize_image_with_crop_or_pad.
            if (h > height) x = x.narrow(2, (h - height) / 2, height);
            if (w > width) x = x.narrow(3, (w - width) / 2, width);
            const int64_t ph = std::max<int64_t>(height - h, 0), pw = std::max<int64_t>(width - w, 0);
            if (ph > 0 || pw > 0) x = torch::constant_pad_nd(x, {pw / 2, pw - pw / 2, ph / 2, ph - ph / 2}, 0.5);
            return x;
          }};
}

torch::Tensor apply_all(const std::vector<Transform>& transforms, const torch::Tensor& images, Rng& rng) {
  auto x = images;
  for (const auto& t : transforms) x = t.apply(x, rng);
  return x;
}

std::vector<Transform> standard_transforms() {
  std::vector<double> scales;
  for (int i = 0; i < 11; ++i) scales.push_back(1 + (i - 5) / 50.0);
  std::vector<double> angles;
  for (int a = -10; a <= 10; ++a) angles.push_back(a);
  angles.insert(angles.end(), 5, 0.0);  // lucid weights "no rotation" more
  return {pad(12, 0.5), jitter(8), random_scale(scales), random_rotate(angles), jitter(4)};
}

std::vector<Transform> facet_transforms(int64_t resolution) {
  if (resolution < 1) throw Error("facet transforms: resolution must be positive, got " + std::to_string(resolution));
  std::vector<Transform> ts = {pad(2, 0.5)};
  for (int i = 0; i < 10; ++i) ts.push_back(jitter(4));
  std::vector<double> scales;
  for (int n = -5; n < 80; ++n) scales.push_back(std::pow(0.995, n));
  for (int k = 0; k < 2; ++k)
    for (int n = 20; n < 40; ++n) scales.push_back(std::pow(0.998, n));
  ts.push_back(random_scale(scales));
  std::vector<double> angles;
  for (int a = -20; a < 20; ++a) angles.push_back(a);
  for (int a = -10; a < 10; ++a) angles.push_back(a);
  for (int a = -5; a < 5; ++a) angles.push_back(a);
  angles.insert(angles.end(), 5, 0.0);
  ts.push_back(random_rotate(angles));
  ts.push_back(jitter(2));
  ts.push_back(crop_or_pad_to(resolution, resolution));
  return ts;
}

std::vector<Transform> parse_transforms(const std::string& spec) {
  const std::string s(trim(spec));
  if (s.empty()) throw Error("transforms: empty spec (use \"none\" for no transforms)");
  std::vector<Transform> out;
  for (const auto& piece : split_top_level(s, s)) parse_piece(piece, out);
  return out;
}

std::string describe(const std::vector<Transform>& transforms) {
  std::string s;
  for (size_t i = 0; i < transforms.size(); ++i) {
    if (i) s += ", ";
    s += transforms[i].name;
  }
  return s;
}

}  // namespace clipscope::optvis
