#include "circuits/residual_share.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <cmath>
#include <limits>

#include "core/model/image_batches.h"
#include "core/util/error.h"
#include "core/util/files.h"
#include "plot/chart.h"

namespace fs = std::filesystem;
using torch::Tensor;

namespace clipscope::circuits {

std::string bottleneck_of(const CLIPImpl& model, const std::string& name) {
  const std::string canonical = model.resolve_point(name);
  const auto has = [&](const std::string& point) {
    for (const auto& p : model.points())
      if (p.name == point) return true;
    return false;
  };
  if (has(canonical + ".add") && has(canonical + ".bn3")) return canonical;
  for (int i = 63; i >= 0; --i)  // a stage: its last bottleneck
    if (has(fmt::format("{}.{}.add", canonical, i))) return fmt::format("{}.{}", canonical, i);
  throw ArgumentError("block", name, "not a bottleneck of a ResNet's image tower (e.g. visual.layer4.2)");
}

ResidualShares residual_shares(CLIP& model, const std::string& block, const Tensor& images) {
  ResidualShares r;
  r.block = bottleneck_of(*model, block);
  ActivationCache cache({r.block + ".add", r.block + ".bn3"});
  {
    torch::NoGradGuard no_grad;
    model->run_image(images.to(model->device()), cache);
  }
  // add = branch + shortcut exactly, so the shortcut is their difference.
  const Tensor sum = cache[r.block + ".add"].to(torch::kCPU, torch::kDouble).flatten(2);  // (N, U, cells)
  const Tensor branch = cache[r.block + ".bn3"].to(torch::kCPU, torch::kDouble).flatten(2);
  const Tensor top = sum.argmax(2, /*keepdim=*/true);
  const Tensor s = sum.gather(2, top).squeeze(2), b = branch.gather(2, top).squeeze(2);
  r.branch = b.to(torch::kFloat);
  r.shortcut = (s - b).to(torch::kFloat);
  r.share =
      torch::where(s > 0, (s - b) / s, torch::full_like(s, std::numeric_limits<double>::quiet_NaN())).to(torch::kFloat);
  return r;
}

ResidualShareSummary residual_share(CLIP& model, const std::string& block, const std::vector<fs::path>& images,
                                    const std::vector<std::vector<int64_t>>& rows, const ResidualShareOptions& options,
                                    int64_t* skipped) {
  const std::string canonical = bottleneck_of(*model, block);
  if (images.empty()) throw ArgumentError("images", "", "no images");
  // One row per image: shortcut, branch and share of every unit, side by side.
  int64_t units = 0;
  for (const auto& p : model->points())
    if (p.name == canonical) units = p.channels;
  const auto encoded = map_images(
      model, images, options.batch, options.progress, fmt::format("residual share: {}", canonical),
      [&](const Tensor& batch) {
        const auto r = residual_shares(model, canonical, batch);
        return torch::cat({r.shortcut, r.branch, r.share}, 1);
      },
      3 * units);
  if (skipped) *skipped = static_cast<int64_t>(encoded.skipped.size());
  if (encoded.indices.empty())
    throw Error(fmt::format("residual share: none of the {} images could be read", images.size()));
  const auto parts = encoded.embeddings.split(units, 1);
  const ResidualShares all{canonical, parts[0], parts[1], parts[2]};
  // Rows name inputs; a skipped input has no row.
  std::vector<int64_t> kept(images.size(), -1);
  for (size_t r = 0; r < encoded.indices.size(); ++r) kept[encoded.indices[r]] = static_cast<int64_t>(r);
  std::vector<std::vector<int64_t>> mapped;
  for (const auto& list : rows) {
    auto& out = mapped.emplace_back();
    for (int64_t i : list) {
      if (i < 0 || i >= static_cast<int64_t>(images.size()))
        throw ArgumentError("rows", std::to_string(i), fmt::format("not an image (0-{})", images.size() - 1));
      if (kept[static_cast<size_t>(i)] >= 0) out.push_back(kept[static_cast<size_t>(i)]);
    }
  }
  return summarize(all, mapped);
}

ResidualShareSummary summarize(const ResidualShares& shares, const std::vector<std::vector<int64_t>>& rows) {
  ResidualShareSummary out;
  out.block = shares.block;
  const auto n = shares.share.size(0), units = shares.share.size(1);
  if (!rows.empty() && static_cast<int64_t>(rows.size()) != units)
    throw ArgumentError("rows", std::to_string(rows.size()), fmt::format("expected one list per unit ({})", units));
  const auto a = shares.share.accessor<float, 2>();
  int64_t above = 0;
  for (int64_t u = 0; u < units; ++u) {
    UnitShare us{u, 0, 0};
    double total = 0;
    const auto use = [&](int64_t i) {
      if (i < 0 || i >= n)
        throw ArgumentError("rows", std::to_string(i), fmt::format("not an image row (0-{})", n - 1));
      if (std::isnan(a[i][u])) return;
      total += a[i][u];
      ++us.images;
    };
    if (rows.empty())
      for (int64_t i = 0; i < n; ++i) use(i);
    else
      for (int64_t i : rows[static_cast<size_t>(u)]) use(i);
    us.share = us.images ? total / static_cast<double>(us.images) : std::numeric_limits<double>::quiet_NaN();
    if (us.images) {
      ++out.defined;
      above += us.share > 0.9 ? 1 : 0;
    }
    out.units.push_back(us);
  }
  out.above_90 = out.defined ? static_cast<double>(above) / static_cast<double>(out.defined) : 0;
  return out;
}

nlohmann::json ResidualShareSummary::to_json() const {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& u : units)
    list.push_back({{"unit", u.unit},
                    {"share", std::isnan(u.share) ? nlohmann::json(nullptr) : nlohmann::json(u.share)},
                    {"images", u.images}});
  return {{"block", block}, {"defined", defined}, {"above_90", above_90}, {"units", list}};
}

void write_residual_share(const ResidualShareSummary& summary, const fs::path& dir) {
  fs::create_directories(dir);
  std::string csv = "unit,share,images\n";
  for (const auto& u : summary.units)
    csv += std::isnan(u.share) ? fmt::format("{},,{}\n", u.unit, u.images)
                               : fmt::format("{},{:.6f},{}\n", u.unit, u.share, u.images);
  write_file_atomically(dir / "shares.csv", csv);
  // Shares from -0.5 to 1.5 in bins of 0.05; the rare ones beyond land in the end bins.
  plot::Histogram h;
  h.title = fmt::format("{}: the shortcut's share of each unit's value ({:.1f} % of {} units above 0.9)", summary.block,
                        100 * summary.above_90, summary.defined);
  h.x_label = "shortcut / (shortcut + branch)";
  h.y_label = "units";
  h.lo = -0.5;
  h.bin_width = 0.05;
  h.counts.assign(40, 0);
  for (const auto& u : summary.units) {
    if (std::isnan(u.share)) continue;
    const auto bin = static_cast<int64_t>(std::floor((u.share - h.lo) / h.bin_width));
    h.counts[static_cast<size_t>(std::clamp<int64_t>(bin, 0, 39))] += 1;
  }
  plot::write_histogram(dir / "shares.png", h);
}

}  // namespace clipscope::circuits
