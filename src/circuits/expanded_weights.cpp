#include "circuits/expanded_weights.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>

#include "circuits/points.h"
#include "core/image/image.h"
#include "core/model/linear_relu.h"
#include "core/model/tensor_io.h"
#include "core/util/error.h"
#include "core/util/files.h"
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

ExpandedWeights expanded_weights(CLIP& model, const std::string& from, const std::string& to, int64_t unit, Rank rank) {
  const ExactPrecision exact(*model);
  ExpandedWeights w;
  w.from = model->resolve_point(from);
  w.to = model->resolve_point(to);
  w.unit = unit;
  w.rank = rank;
  const size_t i_from = conv_point_index(*model, "from", w.from), i_to = conv_point_index(*model, "to", w.to);
  if (i_from >= i_to)
    throw ArgumentError("from", w.from,
                        fmt::format("is not before {} in the network (`layers` lists the order)", w.to));
  const auto& to_info = model->points()[i_to];
  if (unit < 0 || unit >= to_info.channels)
    throw ArgumentError("unit", std::to_string(unit),
                        fmt::format("out of range for {} ({} units)", w.to, to_info.channels));

  // The network is affine between the points with its ReLUs linear, so any input gives
  // the same Jacobian: a grey image at the model's resolution.
  const int64_t n_px = model->config().image_resolution;
  const Tensor input = torch::zeros({1, 3, n_px, n_px}, torch::TensorOptions().device(model->device()))
                           .to(model->parameters().front().scalar_type())
                           .requires_grad_(true);
  ActivationCache cache({w.from, w.to});
  Tensor grad;
  {
    LinearReluGuard linear;
    torch::AutoGradMode grad_mode(true);
    model->run_image(input, cache);
    const Tensor& x = cache[w.from];
    const Tensor& y = cache[w.to];
    w.cy = y.size(2) / 2;
    w.cx = y.size(3) / 2;
    grad = torch::autograd::grad({y[0][unit][w.cy][w.cx]}, {x})[0];
  }
  w.weights = grad[0].detach().to(torch::kCPU, torch::kFloat).contiguous();
  w.from_y = w.cy * w.weights.size(1) / std::max<int64_t>(1, to_info.shape.at(1));
  w.from_x = w.cx * w.weights.size(2) / std::max<int64_t>(1, to_info.shape.at(2));

  const Tensor flat = w.weights.flatten(1);
  const Tensor score = rank == Rank::L2 ? flat.norm(2, 1) : rank == Rank::Max ? flat.amax(1) : flat.mean(1);
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
