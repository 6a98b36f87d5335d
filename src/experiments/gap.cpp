#include "experiments/gap.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <fstream>

#include "core/model/image_batches.h"
#include "core/model/loss.h"
#include "core/model/tensor_io.h"
#include "core/util/csv.h"
#include "core/util/error.h"
#include "core/util/progress.h"
#include "core/util/strings.h"
#include "plot/chart.h"

namespace clipscope::experiments {

namespace fs = std::filesystem;
using nlohmann::json;
using torch::Tensor;

CaptionTable read_caption_table(const fs::path& table, const std::string& image_column,
                                const std::string& caption_column) {
  std::ifstream in(table);
  if (!in) throw Error(fmt::format("{}: cannot be read", table.string()));
  const bool tabs = ascii_lower(table.extension().string()) == ".tsv";
  auto fields = [&](const std::string& line) { return tabs ? split(line, '\t') : csv_fields(line); };
  std::string line;
  if (!std::getline(in, line)) throw Error(fmt::format("{}: empty (expected a header row)", table.string()));
  if (!line.empty() && line.back() == '\r') line.pop_back();
  const auto header = fields(line);
  auto column = [&](const std::string& name) {
    const auto it = std::find(header.begin(), header.end(), name);
    if (it == header.end())
      throw Error(fmt::format("{}: no column '{}' in the header ({})", table.string(), name, first_line(line)));
    return static_cast<size_t>(it - header.begin());
  };
  const size_t image = column(image_column), caption = column(caption_column);
  const fs::path base = table.parent_path();
  CaptionTable out;
  for (int number = 2; std::getline(in, line); ++number) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const auto row = fields(line);
    if (row.size() != header.size()) {
      out.skipped.push_back(fmt::format("line {}: {} fields, the header has {}", number, row.size(), header.size()));
      continue;
    }
    const std::string path(trim(row[image])), text(trim(row[caption]));
    if (path.empty() || text.empty()) {
      out.skipped.push_back(fmt::format("line {}: empty {}", number, path.empty() ? image_column : caption_column));
      continue;
    }
    const fs::path p(path);
    out.pairs.push_back({p.is_relative() ? base / p : p, text});
  }
  if (out.pairs.empty())
    throw Error(fmt::format("{}: no image-caption pairs{}", table.string(),
                            out.skipped.empty() ? "" : " (first problem: " + out.skipped.front() + ")"));
  return out;
}

namespace {

Tensor normalized(const Tensor& x) { return x / x.norm(2, 1, true).clamp_min(1e-12); }

// Pairwise cosines within one modality of unit rows, i != j. The mean has a closed
// form (the squared norm of the sum counts every pair and the diagonal); the minimum
// is taken over blocks of rows.
Cone cone(const Tensor& x) {
  const int64_t n = x.size(0);
  Cone c;
  c.mean_cosine = (x.sum(0).pow(2).sum().item<double>() - x.pow(2).sum().item<double>()) /
                  (static_cast<double>(n) * static_cast<double>(n - 1));
  c.min_cosine = INFINITY;
  constexpr int64_t kBlock = 2048;
  for (int64_t at = 0; at < n; at += kBlock) {
    const int64_t rows = std::min(kBlock, n - at);
    Tensor sims = torch::matmul(x.narrow(0, at, rows), x.t());
    sims.narrow(1, at, rows).diagonal().fill_(INFINITY);
    c.min_cosine = std::min(c.min_cosine, sims.min().item<double>());
  }
  return c;
}

double centroid_distance(const Tensor& x, const Tensor& y) { return (x.mean(0) - y.mean(0)).norm().item<double>(); }

// CLIP's loss over consecutive blocks of `batch` pairs, weighted by block size (a lone
// last pair, with nothing to be told apart from, joins the block before it).
double blocked_loss(const Tensor& x, const Tensor& y, double logit_scale, int64_t batch) {
  const int64_t n = x.size(0);
  double total = 0;
  for (int64_t at = 0; at < n;) {
    int64_t rows = std::min(batch, n - at);
    if (n - at - rows == 1) ++rows;
    const Tensor logits = logit_scale * torch::matmul(x.narrow(0, at, rows), y.narrow(0, at, rows).t());
    total += contrastive_loss(logits, logits.t()).item<double>() * static_cast<double>(rows);
    at += rows;
  }
  return total / static_cast<double>(n);
}

// The top two principal components of the rows of z, each signed so that its largest
// loading is positive.
Tensor top_components(const Tensor& z) {
  const Tensor centred = z - z.mean(0, true);
  const Tensor covariance = torch::matmul(centred.t(), centred) / static_cast<double>(z.size(0));
  const Tensor vectors = std::get<1>(torch::linalg_eigh(covariance));  // eigenvalues ascending
  const int64_t d = vectors.size(1);
  Tensor top = torch::stack({vectors.select(1, d - 1), vectors.select(1, d - 2)}, 1);  // (D, 2)
  for (int64_t k = 0; k < 2; ++k) {
    const Tensor column = top.select(1, k);
    if (column[column.abs().argmax()].item<double>() < 0) column.neg_();
  }
  return torch::matmul(centred, top);
}

}  // namespace

GapResult modality_gap(const Tensor& images, const Tensor& texts, double logit_scale, const GapOptions& options) {
  if (images.dim() != 2 || texts.dim() != 2 || images.sizes() != texts.sizes())
    throw ArgumentError("texts", fmt::format("[{}]", fmt::join(texts.sizes(), ", ")),
                        fmt::format("must be (N, D) like images [{}]", fmt::join(images.sizes(), ", ")));
  if (images.size(0) < 2) throw ArgumentError("images", std::to_string(images.size(0)), "need at least 2 pairs");
  if (options.loss_batch < 2)
    throw ArgumentError("loss_batch", std::to_string(options.loss_batch), "must be at least 2");
  if (!(logit_scale > 0)) throw ArgumentError("logit_scale", fmt::format("{}", logit_scale), "must be positive");
  torch::NoGradGuard no_grad;
  const Tensor x = normalized(images.to(torch::kCPU, torch::kDouble));
  const Tensor y = normalized(texts.to(torch::kCPU, torch::kDouble));
  GapResult r;
  r.pairs = x.size(0);
  r.logit_scale = logit_scale;
  r.centroid_distance = centroid_distance(x, y);
  r.image_cone = cone(x);
  r.text_cone = cone(y);
  r.paired_cosine = (x * y).sum(1).mean().item<double>();
  const Tensor gap = x.mean(0) - y.mean(0);
  for (double shift : options.shifts) {
    if (!std::isfinite(shift)) throw ArgumentError("shifts", fmt::format("{}", shift), "must be finite");
    const Tensor xs = normalized(x - shift / 2 * gap), ys = normalized(y + shift / 2 * gap);
    r.sweep.push_back({shift, centroid_distance(xs, ys), blocked_loss(xs, ys, logit_scale, options.loss_batch)});
  }
  const Tensor projection = top_components(torch::cat({x, y}, 0)).to(torch::kFloat);
  r.image_2d = projection.narrow(0, 0, r.pairs).contiguous();
  r.text_2d = projection.narrow(0, r.pairs, r.pairs).contiguous();
  return r;
}

json GapResult::to_json() const {
  json sweep_rows = json::array();
  const double unshifted = [&] {
    for (const auto& s : sweep)
      if (s.shift == 0) return s.loss;
    return static_cast<double>(NAN);
  }();
  for (const auto& s : sweep) {
    json row = {{"shift", s.shift}, {"centroid_distance", s.centroid_distance}, {"loss", s.loss}};
    if (std::isfinite(unshifted)) row["loss_change"] = s.loss - unshifted;
    sweep_rows.push_back(row);
  }
  auto cone_json = [](const Cone& c) { return json{{"mean_cosine", c.mean_cosine}, {"min_cosine", c.min_cosine}}; };
  return {{"pairs", pairs},
          {"centroid_distance", centroid_distance},
          {"published",
           {{"centroid_distance", kPublishedCentroidDistance},
            {"source", "Liang et al. 2022, CLIP ViT-B/32 on MSCOCO captions"}}},
          {"cone", {{"image", cone_json(image_cone)}, {"text", cone_json(text_cone)}}},
          {"paired_cosine", paired_cosine},
          {"logit_scale", logit_scale},
          {"shift_sweep", sweep_rows}};
}

std::string GapResult::table() const {
  std::string s = fmt::format("modality gap over {} image-caption pairs\n", pairs);
  s += fmt::format("  centroid distance ||mean(image) - mean(text)||   {:.3f}   (published: {:.2f}, {})\n",
                   centroid_distance, kPublishedCentroidDistance, "Liang et al., CLIP on MSCOCO");
  s += fmt::format("  image cone: mean cosine {:.3f}, min {:.3f}\n", image_cone.mean_cosine, image_cone.min_cosine);
  s += fmt::format("  text cone:  mean cosine {:.3f}, min {:.3f}\n", text_cone.mean_cosine, text_cone.min_cosine);
  s += fmt::format("  an image and its own caption: mean cosine {:.3f}\n", paired_cosine);
  s += fmt::format("  shifting both modalities along the gap (loss at logit scale {:.1f}):\n", logit_scale);
  s += "     shift   distance     loss\n";
  for (const auto& row : sweep)
    s += fmt::format("  {:>8.2f}   {:>8.3f}  {:>7.4f}\n", row.shift, row.centroid_distance, row.loss);
  return s;
}

GapRun measure_gap(CLIP& model, const Tokenizer& tokenizer, const fs::path& table, const GapRunOptions& options) {
  if (options.batch_size < 1) throw ArgumentError("batch_size", std::to_string(options.batch_size), "must be positive");
  CaptionTable pairs = read_caption_table(table, options.image_column, options.caption_column);
  if (options.max_pairs > 0 && static_cast<int64_t>(pairs.pairs.size()) > options.max_pairs)
    pairs.pairs.resize(static_cast<size_t>(options.max_pairs));
  std::vector<fs::path> paths;
  for (const auto& p : pairs.pairs) paths.push_back(p.image);

  torch::NoGradGuard no_grad;
  ImageStreamOptions stream;
  stream.n_px = static_cast<int>(model->config().image_resolution);
  stream.normalization = model->config().normalization;
  ImageBatcher batches(paths, options.batch_size, stream);
  const auto device = model->device();
  const int context = static_cast<int>(model->config().context_length);
  Progress bar("gap: image-caption pairs", static_cast<int64_t>(paths.size()), "pair", options.progress);
  std::vector<Tensor> image_rows, text_rows;
  while (auto batch = batches.next()) {
    image_rows.push_back(model->encode_image(batch->images.to(device)).to(torch::kCPU, torch::kFloat));
    std::vector<std::string> captions;
    for (size_t i : batch->indices) captions.push_back(pairs.pairs[i].caption);
    const Tensor tokens = tokenize_batch(tokenizer, captions, context, options.truncate).to(device);
    text_rows.push_back(model->encode_text(tokens).to(torch::kCPU, torch::kFloat));
    bar.set(static_cast<int64_t>(batch->inputs_done));
  }
  bar.finish();
  GapRun run;
  run.skipped_images = batches.skipped();
  run.skipped_lines = std::move(pairs.skipped);
  if (image_rows.empty())
    throw Error(fmt::format("{}: none of its {} images could be read (first: {})", table.string(), paths.size(),
                            run.skipped_images.empty() ? "" : run.skipped_images.front().error));
  const double scale = model->logit_scale.exp().item<double>();
  run.result = modality_gap(torch::cat(image_rows, 0), torch::cat(text_rows, 0), scale, options.gap);
  return run;
}

void write_gap_plot(const fs::path& png, const GapResult& result, int64_t joined) {
  auto series = [](const std::string& name, const Tensor& points) {
    plot::PointSeries s{name, {}, {}};
    const auto p = points.to(torch::kDouble).contiguous();
    const double* v = p.data_ptr<double>();
    for (int64_t i = 0; i < p.size(0); ++i) s.x.push_back(v[2 * i]), s.y.push_back(v[2 * i + 1]);
    return s;
  };
  plot::Scatter chart;
  chart.title = fmt::format("modality gap: {} pairs, centroid distance {:.2f}", result.pairs, result.centroid_distance);
  chart.x_label = "principal component 1";
  chart.y_label = "principal component 2";
  chart.series = {series("images", result.image_2d), series("texts", result.text_2d)};
  chart.marker = result.pairs > 2000 ? 2 : 4;
  chart.joined = static_cast<size_t>(std::clamp<int64_t>(joined, 0, result.pairs));
  plot::write_scatter(png, chart);
}

}  // namespace clipscope::experiments
