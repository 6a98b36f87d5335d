#include "circuits/contributions.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "circuits/points.h"
#include "core/model/image_batches.h"
#include "core/util/error.h"
#include "core/util/files.h"
#include "plot/chart.h"

using torch::Tensor;

namespace clipscope::circuits {

namespace {

// Resolves and checks a later point after an earlier one; returns the later one's channels.
int64_t check_order(CLIPImpl& model, const std::string& from, const std::string& to, const std::string& to_parameter) {
  const size_t i_from = conv_point_index(model, "from", from), i_to = conv_point_index(model, to_parameter, to);
  if (i_from >= i_to)
    throw ArgumentError("from", from, fmt::format("is not before {} in the network (`layers` lists the order)", to));
  return model.points()[i_to].channels;
}

void check_unit(int64_t unit, int64_t channels, const std::string& point) {
  if (unit < 0 || unit >= channels)
    throw ArgumentError("unit", std::to_string(unit), fmt::format("out of range for {} ({} units)", point, channels));
}

}  // namespace

Tensor unit_values(const Tensor& point, Reduce reduce) {
  const Tensor flat = point.flatten(2);
  return reduce == Reduce::Max ? flat.amax(2) : flat.mean(2);
}

BackwardContributions backward_contributions(CLIP& model, const std::string& from, const std::string& to, int64_t unit,
                                             const Tensor& images, Reduce reduce) {
  const ExactPrecision exact(*model);
  BackwardContributions r;
  r.from = model->resolve_point(from);
  r.to = model->resolve_point(to);
  r.unit = unit;
  check_unit(unit, check_order(*model, r.from, r.to, "to"), r.to);
  ActivationCache cache({r.from, r.to});
  torch::AutoGradMode grad_mode(true);
  model->run_image(images.to(model->device(), torch::kFloat).requires_grad_(true), cache);
  const Tensor& a = cache[r.from];
  const Tensor v = unit_values(cache[r.to], reduce).select(1, unit);
  // Images do not interact (batch norms run in eval mode): one backward for the batch.
  const Tensor g = torch::autograd::grad({v.sum()}, {a})[0];
  r.contributions = (a * g).sum({2, 3}).detach().to(torch::kCPU, torch::kFloat);
  r.values = v.detach().to(torch::kCPU, torch::kFloat);
  r.rest = r.values - r.contributions.to(torch::kDouble).sum(1).to(torch::kFloat);
  return r;
}

std::vector<ForwardContributions> forward_contributions(CLIP& model, const std::string& from, int64_t unit,
                                                        const std::vector<std::string>& to, const Tensor& images,
                                                        Reduce reduce) {
  const ExactPrecision exact(*model);
  if (to.empty()) throw ArgumentError("to", "", "name at least one later point");
  const std::string source = model->resolve_point(from);
  const size_t i_from = conv_point_index(*model, "from", source);
  check_unit(unit, model->points()[i_from].channels, source);
  std::vector<std::string> targets;
  for (const auto& t : to) {
    targets.push_back(model->resolve_point(t));
    check_order(*model, source, targets.back(), "to");
  }
  std::vector<std::string> wanted = targets;
  wanted.push_back(source);
  ActivationCache cache(wanted);
  torch::AutoGradMode grad_mode(true);
  model->run_image(images.to(model->device(), torch::kFloat).requires_grad_(true), cache);
  const Tensor& a = cache[source];
  // The tangent: the source unit's own activation, every other unit at zero. J·t is then
  // each later unit's sum over cells of a_unit × d v / d a_unit.
  Tensor tangent = torch::zeros_like(a);
  tangent.select(1, unit).copy_(a.select(1, unit).detach());
  std::vector<ForwardContributions> out;
  for (const auto& target : targets) {
    const Tensor v = unit_values(cache[target], reduce);
    // The double-backward trick: g = Jᵀ·w is linear in w, so d(g·t)/dw = J·t.
    const Tensor w = torch::zeros_like(v).requires_grad_(true);
    const Tensor g = torch::autograd::grad({v}, {a}, {w}, /*retain_graph=*/true, /*create_graph=*/true)[0];
    const Tensor jvp = torch::autograd::grad({g}, {w}, {tangent}, /*retain_graph=*/true)[0];
    out.push_back({source, target, unit, jvp.detach().to(torch::kCPU, torch::kFloat)});
  }
  return out;
}

ContributionReport contribution_report(CLIP& model, bool forward, const std::string& from,
                                       const std::vector<std::string>& to, int64_t unit,
                                       const std::vector<std::filesystem::path>& images,
                                       const ContributionOptions& options) {
  if (images.empty()) throw ArgumentError("images", "", "no images");
  if (to.empty()) throw ArgumentError("to", "", "name at least one later point");
  if (!forward && to.size() != 1) throw ArgumentError("to", to[1], "backward contributions read one unit");
  ContributionReport r;
  r.forward = forward;
  r.from = model->resolve_point(from);
  for (const auto& t : to) r.to.push_back(model->resolve_point(t));
  r.unit = unit;
  r.reduce = options.reduce;
  // Checked once on an empty batch's worth of metadata before any image is read.
  std::vector<int64_t> widths;
  if (forward) {
    for (const auto& t : r.to) widths.push_back(check_order(*model, r.from, t, "to"));
    check_unit(unit, model->points()[conv_point_index(*model, "from", r.from)].channels, r.from);
  } else {
    const int64_t channels = check_order(*model, r.from, r.to[0], "to");
    check_unit(unit, channels, r.to[0]);
    widths.push_back(model->points()[conv_point_index(*model, "from", r.from)].channels + 2);
  }
  int64_t width = 0;
  for (int64_t w : widths) width += w;
  const auto label = forward ? fmt::format("contributions of {}:{}", r.from, unit)
                             : fmt::format("contributions to {}:{}", r.to[0], unit);
  const auto encoded = map_images(
      model, images, options.batch, options.progress, label,
      [&](const Tensor& batch) {
        if (forward) {
          std::vector<Tensor> parts;
          for (const auto& f : forward_contributions(model, r.from, unit, r.to, batch, options.reduce))
            parts.push_back(f.contributions);
          return torch::cat(parts, 1);
        }
        const auto b = backward_contributions(model, r.from, r.to[0], unit, batch, options.reduce);
        return torch::cat({b.contributions, b.values.unsqueeze(1), b.rest.unsqueeze(1)}, 1);
      },
      width);
  r.skipped = static_cast<int64_t>(encoded.skipped.size());
  r.images = static_cast<int64_t>(encoded.indices.size());
  if (r.images == 0) throw Error(fmt::format("contributions: none of the {} images could be read", images.size()));
  const Tensor mean = encoded.embeddings.to(torch::kDouble).mean(0);
  const auto point = [&](const std::string& name, const Tensor& m) {
    ContributionReport::Point p{name, m.to(torch::kFloat), sarle_bimodality(m),
                                m.gt(0).to(torch::kDouble).mean().item<double>()};
    r.points.push_back(std::move(p));
  };
  if (forward) {
    int64_t at = 0;
    for (size_t i = 0; i < r.to.size(); ++i) {
      point(r.to[i], mean.slice(0, at, at + widths[i]));
      at += widths[i];
    }
  } else {
    const int64_t c = widths[0] - 2;
    point(r.from, mean.slice(0, 0, c));
    r.value = mean[c].item<double>();
    r.rest = mean[c + 1].item<double>();
  }
  return r;
}

nlohmann::json ContributionReport::to_json(int top) const {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& p : points) {
    const Tensor order = p.mean.argsort(0, /*descending=*/true);
    nlohmann::json highest = nlohmann::json::array(), lowest = nlohmann::json::array();
    const int64_t n = std::min<int64_t>(top, order.size(0));
    for (int64_t i = 0; i < n; ++i) {
      const int64_t hi = order[i].item<int64_t>(), lo = order[order.size(0) - 1 - i].item<int64_t>();
      highest.push_back({{"unit", hi}, {"contribution", p.mean[hi].item<double>()}});
      lowest.push_back({{"unit", lo}, {"contribution", p.mean[lo].item<double>()}});
    }
    list.push_back({{"point", p.point},
                    {"units", p.mean.size(0)},
                    {"bimodality", std::isnan(p.bimodality) ? nlohmann::json(nullptr) : nlohmann::json(p.bimodality)},
                    {"positive", p.positive},
                    {"sum", p.mean.to(torch::kDouble).sum().item<double>()},
                    {"highest", highest},
                    {"lowest", lowest}});
  }
  nlohmann::json j = {
      {"direction", forward ? "forward" : "backward"},    {"from", from},     {"to", to},           {"unit", unit},
      {"reduce", reduce == Reduce::Max ? "max" : "mean"}, {"images", images}, {"skipped", skipped}, {"points", list}};
  if (!forward) {
    j["value"] = value;
    j["rest"] = rest;
  }
  return j;
}

void write_contributions(const ContributionReport& r, const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  std::string all = "point,unit,contribution\n", table = "point,units,bimodality,positive\n";
  for (size_t i = 0; i < r.points.size(); ++i) {
    const auto& p = r.points[i];
    const auto m = p.mean.accessor<float, 1>();
    for (int64_t u = 0; u < m.size(0); ++u) all += fmt::format("{},{},{:.9g}\n", p.point, u, m[u]);
    table += fmt::format("{},{},{:.6f},{:.6f}\n", p.point, m.size(0), p.bimodality, p.positive);
    // The distribution over the point's units, in 40 bins over its range.
    const double lo = p.mean.min().item<double>(), hi = p.mean.max().item<double>();
    plot::Histogram h;
    h.title = r.forward ? fmt::format("{}:{} -> {} (bimodality {:.2f})", r.from, r.unit, p.point, p.bimodality)
                        : fmt::format("{} -> {}:{} (bimodality {:.2f})", p.point, r.to[0], r.unit, p.bimodality);
    h.x_label = "mean contribution (activation x gradient)";
    h.y_label = "units";
    h.bin_width = hi > lo ? (hi - lo) / 40 : 1;
    h.lo = lo;
    h.counts.assign(40, 0);
    for (int64_t u = 0; u < m.size(0); ++u)
      h.counts[static_cast<size_t>(std::clamp<int64_t>(static_cast<int64_t>((m[u] - lo) / h.bin_width), 0, 39))] += 1;
    plot::write_histogram(dir / fmt::format("histogram-{}.png", i + 1), h);
  }
  write_file_atomically(dir / "contributions.csv", all);
  write_file_atomically(dir / "bimodality.csv", table);
}

double sarle_bimodality(const Tensor& sample) {
  const Tensor x = sample.flatten().to(torch::kDouble);
  const auto n = static_cast<double>(x.numel());
  if (n < 4) return std::numeric_limits<double>::quiet_NaN();
  const Tensor d = x - x.mean();
  const double m2 = (d * d).mean().item<double>(), m3 = (d * d * d).mean().item<double>(),
               m4 = (d * d * d * d).mean().item<double>();
  if (m2 <= 0) return std::numeric_limits<double>::quiet_NaN();
  const double g = m3 / std::pow(m2, 1.5), k = m4 / (m2 * m2) - 3;
  const double skew = g * std::sqrt(n * (n - 1)) / (n - 2);
  const double kurt = ((n + 1) * k + 6) * (n - 1) / ((n - 2) * (n - 3));
  return (skew * skew + 1) / (kurt + 3 * (n - 1) * (n - 1) / ((n - 2) * (n - 3)));
}

}  // namespace clipscope::circuits
