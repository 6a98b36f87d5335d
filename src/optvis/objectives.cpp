#include "optvis/objectives.h"

#include <fmt/format.h>
#include <torch/autograd.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <map>

#include "core/model/tensor_io.h"
#include "core/util/error.h"
#include "core/util/expression.h"
#include "core/util/strings.h"

namespace clipscope::optvis {

using torch::Tensor;

torch::Tensor ObjectiveInput::at(const std::string& point) const {
  if (point == kInputPoint) return input;
  return to_batch_first(cache[point], cache.layout(point));
}

Layout ObjectiveInput::layout(const std::string& point) const {
  return point == kInputPoint ? Layout::NCHW : cache.layout(point);
}

namespace {

std::vector<std::string> merged_points(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  std::vector<std::string> out = a;
  for (const auto& p : b)
    if (std::find(out.begin(), out.end(), p) == out.end()) out.push_back(p);
  return out;
}

std::vector<std::string> model_points(const std::string& point) {
  if (point == kInputPoint) return {};
  return {point};
}

std::string batch_suffix(std::optional<int64_t> batch) { return batch ? fmt::format(", batch={}", *batch) : ""; }

// The unit axis of a batch-first tensor in `layout` (ND: 1, NCHW: 1, tokens: 2, pattern: heads 1).
int64_t unit_axis(Layout layout) { return layout == Layout::LND || layout == Layout::NLD ? 2 : 1; }

void check_unit(const Tensor& t, Layout layout, const std::string& point, int64_t unit) {
  const int64_t units = t.size(unit_axis(layout));
  if (unit < 0 || unit >= units)
    throw Error(fmt::format("unit {} is out of range for {} ({} units)", unit, point, units));
}

// Per-image values (B, ...) -> the scalar: one image's mean, or the mean over all.
Tensor reduce_batch(const Tensor& per_image, std::optional<int64_t> batch, const std::string& what) {
  if (batch) {
    if (*batch < 0 || *batch >= per_image.size(0))
      throw Error(fmt::format("{}: batch index {} is out of range (batch of {})", what, *batch, per_image.size(0)));
    return per_image[*batch].mean();
  }
  return per_image.mean();
}

// Per-image sums of a penalty (B, ...) -> one image's sum, or the sum over all (lucid sums penalties).
Tensor sum_batch(const Tensor& per_image, std::optional<int64_t> batch, const std::string& what) {
  if (batch) {
    if (*batch < 0 || *batch >= per_image.size(0))
      throw Error(fmt::format("{}: batch index {} is out of range (batch of {})", what, *batch, per_image.size(0)));
    return per_image[*batch].sum();
  }
  return per_image.sum();
}

std::string number(double v) { return fmt::format("{:g}", v); }

}  // namespace

Objective Objective::operator+(const Objective& other) const {
  auto a = value, b = other.value;
  return {description + " + " + other.description, merged_points(points, other.points),
          [a, b](const ObjectiveInput& in) { return a(in) + b(in); }};
}

Objective Objective::operator-(const Objective& other) const {
  auto a = value, b = other.value;
  const bool compound = other.description.find_first_of("+-") != std::string::npos;
  return {description + " - " + (compound ? "(" + other.description + ")" : other.description),
          merged_points(points, other.points), [a, b](const ObjectiveInput& in) { return a(in) - b(in); }};
}

Objective Objective::operator-() const {
  auto a = value;
  return {"-(" + description + ")", points, [a](const ObjectiveInput& in) { return -a(in); }};
}

Objective Objective::operator*(double weight) const {
  auto a = value;
  return {number(weight) + " * " +
              (description.find_first_of("+-") != std::string::npos ? "(" + description + ")" : description),
          points, [a, weight](const ObjectiveInput& in) { return a(in) * weight; }};
}

Objective operator*(double weight, const Objective& objective) { return objective * weight; }

Objective channel(const std::string& point, int64_t unit, std::optional<int64_t> batch) {
  const std::string what = fmt::format("channel({}, {}{})", point, unit, batch_suffix(batch));
  return {what, model_points(point), [=](const ObjectiveInput& in) {
            const Tensor t = in.at(point);
            const Layout layout = in.layout(point);
            check_unit(t, layout, point, unit);
            const Tensor values = t.select(unit_axis(layout), unit);  // (B, positions...)
            return reduce_batch(values.reshape({values.size(0), -1}).mean(1), batch, what);
          }};
}

Objective neuron(const std::string& point, int64_t unit, std::optional<int64_t> x, std::optional<int64_t> y,
                 std::optional<int64_t> batch) {
  std::string what = fmt::format("neuron({}, {}", point, unit);
  if (x) what += fmt::format(", x={}", *x);
  if (y) what += fmt::format(", y={}", *y);
  what += batch_suffix(batch) + ")";
  return {
      what, model_points(point), [=](const ObjectiveInput& in) {
        const Tensor t = in.at(point);
        const Layout layout = in.layout(point);
        check_unit(t, layout, point, unit);
        Tensor values;
        if (layout == Layout::NCHW) {
          const int64_t h = t.size(2), w = t.size(3), cx = x.value_or(w / 2), cy = y.value_or(h / 2);
          if (cx < 0 || cx >= w || cy < 0 || cy >= h)
            throw Error(fmt::format("{}: position ({}, {}) is outside the {}x{} map", what, cx, cy, w, h));
          values = t.index({torch::indexing::Slice(), unit, cy, cx});
        } else if (layout == Layout::LND || layout == Layout::NLD) {
          const int64_t tokens = t.size(1), token = x.value_or(tokens / 2);
          if (y || token < 0 || token >= tokens)
            throw Error(fmt::format("{}: a token sequence of {} has positions x=0..{} only", what, tokens, tokens - 1));
          values = t.index({torch::indexing::Slice(), token, unit});
        } else {
          if (x || y) throw Error(fmt::format("{}: {} has no positions", what, point));
          values = t.select(1, unit).reshape({t.size(0), -1}).mean(1);
        }
        return reduce_batch(values, batch, what);
      }};
}

Objective direction(const std::string& point, const torch::Tensor& direction_vector, double cosine_power,
                    std::optional<int64_t> batch) {
  const std::string what =
      fmt::format("direction({}, <{} units>{}{})", point, direction_vector.numel(),
                  cosine_power != 0 ? ", cossim=" + number(cosine_power) : "", batch_suffix(batch));
  const Tensor vec = direction_vector.to(torch::kFloat32).flatten();
  return {what, model_points(point), [=](const ObjectiveInput& in) {
            Tensor t = in.at(point);
            const Layout layout = in.layout(point);
            const int64_t axis = unit_axis(layout);
            if (t.size(axis) != vec.numel())
              throw Error(fmt::format("{}: the direction has {} values but {} has {} units", what, vec.numel(), point,
                                      t.size(axis)));
            t = t.movedim(axis, -1);                               // (B, positions..., units)
            const Tensor v = vec.to(t.device(), t.scalar_type());  // the activations' dtype (matmul does not promote)
            const Tensor dot = torch::matmul(t, v);
            Tensor per_position = dot;
            if (cosine_power != 0) {
              constexpr double eps = 1e-4;
              const Tensor cos = dot / (eps + t.norm(2, -1)) / (eps + v.norm());
              per_position = dot * cos.clamp_min(0.1).pow(cosine_power);
            }
            return reduce_batch(per_position.reshape({t.size(0), -1}).mean(1), batch, what);
          }};
}

Objective diversity(const std::string& point) {
  return {fmt::format("diversity({})", point), model_points(point), [=](const ObjectiveInput& in) {
            Tensor t = in.at(point);
            const Layout layout = in.layout(point);
            const int64_t b = t.size(0);
            t = t.movedim(unit_axis(layout), -1).reshape({b, -1, t.size(unit_axis(layout))});  // (B, positions, units)
            const Tensor grams = torch::matmul(t.transpose(1, 2), t).reshape({b, -1});
            const Tensor unit = grams / grams.norm(2, 1, true).clamp_min(1e-10);
            const Tensor sims = torch::matmul(unit, unit.t());
            return (sims.sum() - sims.diagonal().sum()) / b;
          }};
}

Objective l1(const std::string& point, double constant, std::optional<int64_t> batch) {
  const std::string what =
      fmt::format("l1({}{}{})", point, constant != 0 ? ", constant=" + number(constant) : "", batch_suffix(batch));
  return {what, model_points(point), [=](const ObjectiveInput& in) {
            const Tensor t = in.at(point);
            return sum_batch((t - constant).abs().reshape({t.size(0), -1}).sum(1), batch, what);
          }};
}

Objective l2(const std::string& point, double constant, std::optional<int64_t> batch) {
  const std::string what =
      fmt::format("l2({}{}{})", point, constant != 0 ? ", constant=" + number(constant) : "", batch_suffix(batch));
  return {what, model_points(point), [=](const ObjectiveInput& in) {
            const Tensor t = in.at(point);
            const Tensor sq = (t - constant).pow(2).reshape({t.size(0), -1}).sum(1);
            return (1e-6 + sum_batch(sq, batch, what)).sqrt();
          }};
}

Objective total_variation(const std::string& point, std::optional<int64_t> batch) {
  const std::string what = fmt::format("tv({}{})", point, batch_suffix(batch));
  return {
      what, model_points(point), [=](const ObjectiveInput& in) {
        const Tensor t = in.at(point);
        if (in.layout(point) != Layout::NCHW) throw Error(what + ": total variation needs an image-like (NCHW) point");
        using torch::indexing::Slice;
        const Tensor dy = (t.index({Slice(), Slice(), Slice(1)}) - t.index({Slice(), Slice(), Slice(0, -1)})).abs();
        const Tensor dx =
            (t.index({Slice(), Slice(), Slice(), Slice(1)}) - t.index({Slice(), Slice(), Slice(), Slice(0, -1)})).abs();
        const int64_t b = t.size(0);
        return sum_batch(dy.reshape({b, -1}).sum(1) + dx.reshape({b, -1}).sum(1), batch, what);
      }};
}

Objective alpha_norm(double alpha, const std::string& point, std::optional<int64_t> batch) {
  const std::string what = fmt::format("alpha_norm({}, {}{})", number(alpha), point, batch_suffix(batch));
  return {what, model_points(point), [=](const ObjectiveInput& in) {
            const Tensor t = in.at(point);
            const Tensor flat = t.reshape({t.size(0), -1});
            // Centred on each image's own mean, so the norm penalizes contrast, not brightness.
            return sum_batch((flat - flat.mean(1, true)).abs().pow(alpha).sum(1), batch, what);
          }};
}

Objective mean_square(const std::string& point, double constant) {
  return {fmt::format("square({}, constant={})", point, number(constant)), model_points(point),
          [=](const ObjectiveInput& in) { return (in.at(point) - constant).pow(2).mean(); }};
}

Objective facet_attribution(const Objective& neuron_objective, const std::string& layer, const torch::Tensor& weights,
                            double strength_lo, double strength_hi) {
  const std::string what = fmt::format("facet({}, {}, strength={}..{})", neuron_objective.description, layer,
                                       number(strength_lo), number(strength_hi));
  auto neuron_value = neuron_objective.value;
  const Tensor w = weights.to(torch::kFloat32).flatten();
  return {what, merged_points(neuron_objective.points, {layer}), [=](const ObjectiveInput& in) {
            const Tensor& raw = in.cache[layer];
            const Layout layout = in.cache.layout(layer);
            const Tensor target = neuron_value(in);
            // d neuron / d g(x), taken without a graph: a constant in the objective.
            const Tensor grad = torch::autograd::grad({target}, {raw}, {}, /*retain_graph=*/true)[0];
            Tensor attribution = to_batch_first(raw * torch::relu(grad), layout);
            const int64_t b = attribution.size(0), axis = unit_axis(layout);
            attribution = attribution.movedim(axis, -1).reshape({b, -1, attribution.size(axis)}).sum(1);  // (B, units)
            if (attribution.size(1) != w.numel())
              throw Error(fmt::format("{}: the probe has {} weights but {} has {} units", what, w.numel(), layer,
                                      attribution.size(1)));
            const Tensor strength = torch::linspace(strength_lo, strength_hi, b, attribution.options());
            return (strength.unsqueeze(1) * attribution *
                    w.to(attribution.device(), attribution.scalar_type()).unsqueeze(0))
                .sum();
          }};
}

// ----- Expression parser ------------------------------------------------------

namespace {

using Call = ExpressionCall;

std::optional<double> as_number(std::string_view s) { return to_number<double>(s); }

// Objectives from the terms of parse_expression.
class Parser {
 public:
  Parser(const std::string& text, const CLIPImpl& model) : text_(text), model_(model) {}

  Objective parse() {
    std::optional<Objective> result;
    for (const ExpressionTerm& t : parse_expression(text_, "objective")) {
      Objective o = t.call ? build(*t.call) : shorthand(t.shorthand);
      if (t.weight != 1) o = t.weight * o;
      if (!result)
        result = t.negative ? -o : o;
      else
        result = t.negative ? *result - o : *result + o;
    }
    return *result;
  }

 private:
  [[noreturn]] void fail(const std::string& why) const { throw Error(fmt::format("objective '{}': {}", text_, why)); }

  Objective shorthand(const std::string& word) const {
    const auto colon = word.rfind(':');
    const std::string point = resolve(word.substr(0, colon));
    return channel(point, unit_in(point, word.substr(colon + 1)));
  }

  std::string resolve(const std::string& point) const {
    if (point == kInputPoint) return point;
    return model_.resolve_point(point);  // Error names unknown points
  }

  int64_t integer(const Call& c, const std::string& what, const std::string& text) const {
    const auto v = as_number(text);
    if (!v || *v != static_cast<double>(static_cast<int64_t>(*v)))
      fail(fmt::format("{}(): {} must be an integer (got '{}')", c.name, what, text));
    return static_cast<int64_t>(*v);
  }

  double real(const Call& c, const std::string& what, const std::string& text) const {
    const auto v = as_number(text);
    if (!v) fail(fmt::format("{}(): {} must be a number (got '{}')", c.name, what, text));
    return *v;
  }

  int64_t unit_in(const std::string& point, const std::string& text) const {
    const auto v = as_number(text);
    if (!v || *v != static_cast<double>(static_cast<int64_t>(*v)) || *v < 0)
      fail(fmt::format("unit '{}' of {} is not a non-negative integer", text, point));
    const int64_t unit = static_cast<int64_t>(*v), units = model_.point(point).channels;
    if (unit >= units) fail(fmt::format("unit {} is out of range for {} ({} units)", unit, point, units));
    return unit;
  }

  void only(const Call& c, size_t positional, std::initializer_list<const char*> keys) const {
    if (c.positional.size() > positional)
      fail(fmt::format("{}() takes at most {} positional arguments", c.name, positional));
    for (const auto& [k, v] : c.named)
      if (std::none_of(keys.begin(), keys.end(), [&](const char* key) { return k == key; }))
        fail(fmt::format("{}() has no argument '{}'", c.name, k));
  }

  std::optional<int64_t> batch(const Call& c) const {
    if (auto b = c.arg(99, "batch")) return integer(c, "batch", *b);
    return std::nullopt;
  }

  Objective build(const Call& c) {
    auto point_at = [&](size_t i, const char* fallback) {
      auto p = c.arg(i, "point");
      if (!p) {
        if (!fallback) fail(fmt::format("{}() needs a point (a layer name)", c.name));
        return std::string(fallback);
      }
      return resolve(*p);
    };
    if (c.name == "channel") {
      only(c, 2, {"point", "unit", "batch"});
      const auto point = point_at(0, nullptr);
      const auto u = c.arg(1, "unit");
      if (!u) fail("channel() needs a unit");
      return channel(point, unit_in(point, *u), batch(c));
    }
    if (c.name == "neuron") {
      only(c, 2, {"point", "unit", "x", "y", "batch"});
      const auto point = point_at(0, nullptr);
      const auto u = c.arg(1, "unit");
      if (!u) fail("neuron() needs a unit");
      std::optional<int64_t> x, y;
      if (auto v = c.arg(99, "x")) x = integer(c, "x", *v);
      if (auto v = c.arg(99, "y")) y = integer(c, "y", *v);
      return neuron(point, unit_in(point, *u), x, y, batch(c));
    }
    if (c.name == "direction") {
      only(c, 2, {"point", "file", "cossim", "batch"});
      const auto point = point_at(0, nullptr);
      const auto file = c.arg(1, "file");
      if (!file) fail("direction() needs a .npy file of one value per unit");
      const Tensor vec = read_npy_tensor(*file).flatten();
      const int64_t units = model_.point(point).channels;
      if (vec.numel() != units)
        fail(fmt::format("direction {} has {} values but {} has {} units", *file, vec.numel(), point, units));
      double cossim = 0;
      if (auto v = c.arg(99, "cossim")) cossim = real(c, "cossim", *v);
      return direction(point, vec, cossim, batch(c));
    }
    if (c.name == "diversity") {
      only(c, 1, {"point"});
      return diversity(point_at(0, nullptr));
    }
    if (c.name == "l1" || c.name == "l2") {
      only(c, 2, {"point", "constant", "batch"});
      const auto point = point_at(0, kInputPoint);
      double constant = 0;
      if (auto v = c.arg(1, "constant")) constant = real(c, "constant", *v);
      return c.name == "l1" ? l1(point, constant, batch(c)) : l2(point, constant, batch(c));
    }
    if (c.name == "tv") {
      only(c, 1, {"point", "batch"});
      return total_variation(point_at(0, kInputPoint), batch(c));
    }
    if (c.name == "alpha_norm") {
      only(c, 2, {"alpha", "point", "batch"});
      double alpha = 6;
      if (auto v = c.arg(0, "alpha")) alpha = real(c, "alpha", *v);
      return alpha_norm(alpha, point_at(1, kInputPoint), batch(c));
    }
    if (c.name == "square") {
      only(c, 2, {"point", "constant"});
      double constant = 0.5;
      if (auto v = c.arg(1, "constant")) constant = real(c, "constant", *v);
      return mean_square(point_at(0, kInputPoint), constant);
    }
    fail(fmt::format("unknown objective '{}' (channel, neuron, direction, diversity, l1, l2, tv, alpha_norm, square)",
                     c.name));
  }

  const std::string& text_;
  const CLIPImpl& model_;
  size_t pos_ = 0;
};

}  // namespace

Objective parse_objective(const std::string& expression, const CLIPImpl& model) {
  return Parser(expression, model).parse();
}

}  // namespace clipscope::optvis
