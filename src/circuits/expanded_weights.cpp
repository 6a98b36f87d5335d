#include "circuits/expanded_weights.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <tuple>

#include "circuits/points.h"
#include "core/image/image.h"
#include "core/model/linear_relu.h"
#include "core/model/tensor_io.h"
#include "core/util/error.h"
#include "core/util/files.h"
#include "core/util/progress.h"
#include "plot/sheet.h"

namespace fs = std::filesystem;
using torch::Tensor;

namespace clipscope::circuits {

Rank parse_rank(const std::string& name) {
  if (name == "l2") return Rank::L2;
  if (name == "max") return Rank::Max;
  if (name == "mean") return Rank::Mean;
  throw ArgumentError("rank", name, "expected l2, max or mean");
}

std::string rank_name(Rank rank) { return rank == Rank::L2 ? "l2" : rank == Rank::Max ? "max" : "mean"; }

ExpandedKernels expanded_kernels(CLIP& model, const std::string& from, const std::string& to,
                                 const std::vector<int64_t>& units, const ExpandedKernelOptions& options) {
  if (options.batch < 1) throw ArgumentError("batch", std::to_string(options.batch), "must be positive");
  const ExactPrecision exact(*model);
  ExpandedKernels k;
  k.from = model->resolve_point(from);
  k.to = model->resolve_point(to);
  k.units = units;
  const size_t i_from = conv_point_index(*model, "from", k.from), i_to = conv_point_index(*model, "to", k.to);
  if (i_from >= i_to)
    throw ArgumentError("from", k.from,
                        fmt::format("is not before {} in the network (`layers` lists the order)", k.to));
  const auto& from_info = model->points()[i_from];
  const auto& to_info = model->points()[i_to];
  for (const int64_t unit : units)
    if (unit < 0 || unit >= to_info.channels)
      throw ArgumentError("unit", std::to_string(unit),
                          fmt::format("out of range for {} ({} units)", k.to, to_info.channels));
  const int64_t channels = from_info.shape.at(0), height = from_info.shape.at(1), width = from_info.shape.at(2);
  k.cy = to_info.shape.at(1) / 2;
  k.cx = to_info.shape.at(2) / 2;
  k.from_y = k.cy * height / std::max<int64_t>(1, to_info.shape.at(1));
  k.from_x = k.cx * width / std::max<int64_t>(1, to_info.shape.at(2));
  k.weights = torch::zeros({static_cast<int64_t>(units.size()), channels, height, width});
  const auto start = std::chrono::steady_clock::now();

  // The layers before `from` run on one grey image without a graph; `from` is replaced
  // by a batch of zeros (any value would do: the map between the points is affine with
  // the ReLUs linear) and each row's backward starts from its own unit's centre cell.
  const auto device = model->device();
  const auto dtype = model->parameters().front().scalar_type();
  const int64_t n_px = model->config().image_resolution;
  const torch::Tensor image = torch::zeros({1, 3, n_px, n_px}, torch::TensorOptions().device(device).dtype(dtype));
  LinearReluGuard linear;
  torch::AutoGradMode grad_mode(true);
  // The kernels of units[begin, begin + n) from `from` cropped to rows [y0, y0 + h) and
  // columns [x0, x0 + w), whose centre cell is (cy, cx) of `to` in the crop's frame.
  const auto kernels = [&](size_t begin, int64_t n, int64_t y0, int64_t x0, int64_t h, int64_t w, int64_t cy,
                           int64_t cx, bool all_channels = false) {
    const torch::Tensor x =
        torch::zeros({n, channels, h, w}, torch::TensorOptions().device(device).dtype(dtype)).requires_grad_(true);
    ActivationCache cache({k.to});
    cache.patch(k.from, x);
    model->run_image(image, cache);
    const torch::Tensor& y = cache[k.to];
    torch::Tensor seed = torch::zeros_like(y);
    for (int64_t r = 0; r < n; ++r) {
      if (all_channels)
        seed[r].select(1, cy).select(1, cx).fill_(1);
      else
        seed[r][units[begin + static_cast<size_t>(r)]][cy][cx] = 1;
    }
    torch::Tensor out = torch::zeros({n, channels, height, width});
    out.narrow(2, y0, h).narrow(3, x0, w).copy_(
        torch::autograd::grad({y}, {x}, {seed})[0].to(torch::kCPU, torch::kFloat));
    return out;
  };

  // Only the centre cell's receptive field in `from` matters: where `from` and `to` have
  // the same grid (no stride between them), the layers in between run on that window of
  // `from` alone, and cells far from it are never computed. The window is the support of
  // the gradient of every unit's centre cell; the first unit's kernel is computed both
  // ways, and a difference (a network whose convolutions are not translation-equivariant
  // there) falls back to the whole map.
  int64_t y0 = 0, x0 = 0, h = height, w = width;
  if (!units.empty() && to_info.shape.at(1) == height && to_info.shape.at(2) == width) {
    const torch::Tensor support = kernels(0, 1, 0, 0, height, width, k.cy, k.cx, true)[0].abs().sum(0) > 0;
    const torch::Tensor rows = support.any(1).nonzero(), cols = support.any(0).nonzero();
    if (rows.numel() > 0 && cols.numel() > 0) {
      const int64_t r0 = rows.min().item<int64_t>(), r1 = rows.max().item<int64_t>();
      const int64_t c0 = cols.min().item<int64_t>(), c1 = cols.max().item<int64_t>();
      if (r1 - r0 + 1 < height || c1 - c0 + 1 < width) {
        const torch::Tensor full = kernels(0, 1, 0, 0, height, width, k.cy, k.cx);
        const torch::Tensor cropped = kernels(0, 1, r0, c0, r1 - r0 + 1, c1 - c0 + 1, k.cy - r0, k.cx - c0);
        if (torch::allclose(full, cropped, 1e-5, 1e-6 * (1 + full.abs().max().item<double>())))
          std::tie(y0, x0, h, w) = std::make_tuple(r0, c0, r1 - r0 + 1, c1 - c0 + 1);
      }
    }
  }
  Progress progress("expanded weights", static_cast<int64_t>(units.size()), "units", options.progress);
  for (size_t begin = 0; begin < units.size(); begin += static_cast<size_t>(options.batch)) {
    const auto n = static_cast<int64_t>(std::min(units.size() - begin, static_cast<size_t>(options.batch)));
    k.weights.narrow(0, static_cast<int64_t>(begin), n).copy_(kernels(begin, n, y0, x0, h, w, k.cy - y0, k.cx - x0));
    progress.add(n);
  }
  progress.finish();
  std::tie(k.window_y, k.window_x, k.window_height, k.window_width) = std::make_tuple(y0, x0, h, w);
  k.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return k;
}

Tensor kernel_scores(const Tensor& kernels, Rank rank) {
  const Tensor flat = kernels.flatten(-2);
  return rank == Rank::L2 ? flat.norm(2, -1) : rank == Rank::Max ? std::get<0>(flat.max(-1)) : flat.mean(-1);
}

std::vector<Connection> strongest_connections(const ExpandedKernels& k, Rank rank, int top) {
  const Tensor score = kernel_scores(k.weights, rank);  // (units, inputs)
  const auto [best, index] = score.flatten().topk(std::min<int64_t>(std::max(top, 1), score.numel()));
  std::vector<Connection> out;
  for (int64_t i = 0; i < best.size(0); ++i) {
    const int64_t at = index[i].item<int64_t>();
    out.push_back({k.units[static_cast<size_t>(at / score.size(1))], at % score.size(1), best[i].item<double>()});
  }
  return out;
}

void write_expanded_kernels(const ExpandedKernels& k, const fs::path& dir, Rank rank, int top) {
  fs::create_directories(dir);
  write_npy_tensor(dir / "weights.npy", k.weights);
  std::string units = "row,unit\n";
  for (size_t i = 0; i < k.units.size(); ++i) units += fmt::format("{},{}\n", i, k.units[i]);
  write_file_atomically(dir / "units.csv", units);
  const Tensor l2 = kernel_scores(k.weights, Rank::L2), max = kernel_scores(k.weights, Rank::Max),
               mean = kernel_scores(k.weights, Rank::Mean), score = kernel_scores(k.weights, rank);
  const int64_t n = std::min<int64_t>(std::max(top, 1), score.size(1));
  const Tensor order = std::get<1>(score.topk(n, 1));
  const auto o = order.accessor<int64_t, 2>();
  const auto s = score.accessor<float, 2>(), a = l2.accessor<float, 2>(), b = max.accessor<float, 2>(),
             m = mean.accessor<float, 2>();
  std::string csv = fmt::format("unit,rank,input,{},l2,max,mean\n", rank_name(rank));
  for (int64_t row = 0; row < score.size(0); ++row)
    for (int64_t i = 0; i < n; ++i) {
      const int64_t c = o[row][i];
      csv += fmt::format("{},{},{},{:.9g},{:.9g},{:.9g},{:.9g}\n", k.units[static_cast<size_t>(row)], i + 1, c,
                         s[row][c], a[row][c], b[row][c], m[row][c]);
    }
  write_file_atomically(dir / "strongest.csv", csv);
}

ExpandedWeights expanded_weights(CLIP& model, const std::string& from, const std::string& to, int64_t unit, Rank rank) {
  ExpandedKernels k = expanded_kernels(model, from, to, {unit});
  ExpandedWeights w;
  w.from = k.from;
  w.to = k.to;
  w.unit = unit;
  w.rank = rank;
  w.cy = k.cy;
  w.cx = k.cx;
  w.from_y = k.from_y;
  w.from_x = k.from_x;
  w.weights = k.weights[0].contiguous();
  const Tensor score = kernel_scores(w.weights, rank);
  const Tensor order = score.argsort(0, /*descending=*/true);
  for (int64_t i = 0; i < order.size(0); ++i) {
    const int64_t c = order[i].item<int64_t>();
    w.ranked.emplace_back(c, score[c].item<double>());
  }
  return w;
}

nlohmann::json ExpandedWeights::to_json(int top) const {
  nlohmann::json units = nlohmann::json::array();
  const Tensor flat = weights.flatten(1);
  for (size_t i = 0; i < ranked.size() && static_cast<int>(i) < top; ++i) {
    const int64_t c = ranked[i].first;
    units.push_back({{"unit", c},
                     {"score", ranked[i].second},
                     {"l2", flat[c].norm().item<double>()},
                     {"max", flat[c].max().item<double>()},
                     {"mean", flat[c].mean().item<double>()}});
  }
  return {{"from", from},
          {"to", to},
          {"unit", unit},
          {"cell", {cy, cx}},
          {"shape", weights.sizes().vec()},
          {"rank", rank_name(rank)},
          {"units", units}};
}

void write_expanded_weights(const ExpandedWeights& w, const fs::path& dir, int top) {
  fs::create_directories(dir);
  write_npy_tensor(dir / "weights.npy", w.weights);
  const Tensor flat = w.weights.flatten(1);
  std::string csv = "rank,unit,score,l2,max,mean\n";
  for (size_t i = 0; i < w.ranked.size(); ++i) {
    const int64_t c = w.ranked[i].first;
    csv += fmt::format("{},{},{:.9g},{:.9g},{:.9g},{:.9g}\n", i + 1, c, w.ranked[i].second,
                       flat[c].norm().item<double>(), flat[c].max().item<double>(), flat[c].mean().item<double>());
  }
  write_file_atomically(dir / "ranking.csv", csv);

  // The top kernels on one diverging scale: red for positive weights, blue for negative.
  const auto n = std::min<size_t>(static_cast<size_t>(std::max(top, 1)), w.ranked.size());
  double scale = 1e-12;
  for (size_t i = 0; i < n; ++i) scale = std::max(scale, w.weights[w.ranked[i].first].abs().max().item<double>());
  const int64_t h = w.weights.size(1), wd = w.weights.size(2);
  const int cell = static_cast<int>(std::max<int64_t>(1, 96 / std::max(h, wd)));
  std::vector<plot::Tile> tiles;
  for (size_t i = 0; i < n; ++i) {
    const int64_t c = w.ranked[i].first;
    const torch::Tensor kernel = w.weights[c];
    const auto k = kernel.accessor<float, 2>();
    Image image{static_cast<int>(wd) * cell, static_cast<int>(h) * cell, {}};
    image.rgb.resize(static_cast<size_t>(image.width) * image.height * 3);
    for (int y = 0; y < image.height; ++y)
      for (int x = 0; x < image.width; ++x) {
        const double v = std::clamp(k[y / cell][x / cell] / scale, -1.0, 1.0);
        const auto fade = [&](double t) { return static_cast<uint8_t>(std::lround(255 * (1 - t))); };
        uint8_t* p = image.pixel(x, y);
        p[0] = v < 0 ? fade(-v) : 255;
        p[1] = fade(std::abs(v));
        p[2] = v > 0 ? fade(v) : 255;
      }
    plot::Tile tile;
    tile.image = std::move(image);
    tile.caption = fmt::format("#{} unit {}\n{} {:.3g}", i + 1, c, rank_name(w.rank), w.ranked[i].second);
    tile.outline = plot::Box{static_cast<int>(w.from_x) * cell, static_cast<int>(w.from_y) * cell, cell, cell};
    tiles.push_back(std::move(tile));
  }
  plot::write_contact_sheet(dir / "kernels.png", tiles, 8, 96,
                            fmt::format("{} -> {}:{}, |w| <= {:.3g}", w.from, w.to, w.unit, scale));
}

}  // namespace clipscope::circuits
