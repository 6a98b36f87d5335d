#include "core/model/image_batches.h"

#include <fmt/format.h>

#include <ATen/Parallel.h>

#include <algorithm>
#include <thread>

#include "core/util/error.h"
#include "core/util/progress.h"

namespace clipscope {

namespace {

// Resolves the worker count and the schedule for this machine (see DecodeSchedule).
DecodeSchedule plan(ImageStreamOptions& options, DecodeSchedule schedule, int model_threads, int batch_size) {
  if (batch_size <= 0) throw ArgumentError("batch_size", std::to_string(batch_size), "must be positive");
  if (options.workers < 0)
    throw ArgumentError("workers", std::to_string(options.workers), "must be 0 (automatic) or more");
  const int cores = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  if (model_threads <= 0) model_threads = at::get_num_threads();
  if (options.workers == 0) options.workers = cores > model_threads ? cores - model_threads : cores;
  if (schedule == DecodeSchedule::Auto)
    schedule = options.workers + model_threads <= cores ? DecodeSchedule::Overlap : DecodeSchedule::Bursts;
  // Enough look-ahead for a whole batch to be decoded ahead of the model.
  options.max_ahead = std::max(options.max_ahead, static_cast<size_t>(2 * batch_size));
  return schedule;
}

}  // namespace

ImageBatcher::ImageBatcher(std::vector<std::filesystem::path> paths, int batch_size, ImageStreamOptions options,
                           DecodeSchedule schedule, int model_threads)
    : schedule_(plan(options, schedule, model_threads, batch_size)),
      stream_(std::move(paths), options),
      batch_size_(batch_size),
      n_px_(options.n_px) {}

std::optional<ImageBatch> ImageBatcher::next() {
  std::vector<StreamItem> good;
  const auto size = static_cast<size_t>(batch_size_);
  // A window of unreadable inputs gives no batch: go on to the next window.
  while (good.empty() && consumed_ < stream_.size()) {
    const size_t window_end = consumed_ + size - (input_windows_ ? consumed_ % size : 0);
    while (good.size() < size && (!input_windows_ || consumed_ < window_end)) {
      auto item = stream_.next();
      if (!item) break;
      ++consumed_;
      if (item->ok())
        good.push_back(std::move(*item));
      else
        skipped_.push_back(std::move(*item));
    }
  }
  if (good.empty()) return std::nullopt;
  ImageBatch batch;
  const size_t plane = static_cast<size_t>(3) * n_px_ * n_px_;
  batch.images = torch::empty({static_cast<int64_t>(good.size()), 3, n_px_, n_px_});
  float* out = batch.images.data_ptr<float>();
  for (size_t i = 0; i < good.size(); ++i) {
    std::copy(good[i].chw.begin(), good[i].chw.end(), out + i * plane);
    batch.indices.push_back(good[i].index);
    batch.paths.push_back(std::move(good[i].path));
  }
  batch.inputs_done = consumed_;
  if (schedule_ == DecodeSchedule::Bursts) stream_.pause_until_next();
  return batch;
}

EncodedImages map_images(CLIP& model, const std::vector<std::filesystem::path>& paths, int batch_size, bool progress,
                         const std::string& label, const std::function<torch::Tensor(const torch::Tensor&)>& rows,
                         int64_t width) {
  if (batch_size < 1) throw ArgumentError("batch_size", std::to_string(batch_size), "must be positive");
  torch::NoGradGuard no_grad;
  ImageStreamOptions stream;
  stream.n_px = static_cast<int>(model->config().image_resolution);
  stream.normalization = model->config().normalization;
  ImageBatcher batches(paths, batch_size, stream);
  Progress bar(label, static_cast<int64_t>(paths.size()), "img", progress);
  EncodedImages out;
  std::vector<torch::Tensor> parts;
  while (auto batch = batches.next()) {
    parts.push_back(rows(batch->images.to(model->device())).to(torch::kCPU, torch::kFloat));
    out.indices.insert(out.indices.end(), batch->indices.begin(), batch->indices.end());
    bar.set(static_cast<int64_t>(batch->inputs_done));
  }
  bar.set(static_cast<int64_t>(paths.size()));
  bar.finish();
  out.skipped = batches.skipped();
  out.embeddings = parts.empty() ? torch::zeros({0, width}) : torch::cat(parts, 0);
  return out;
}

EncodedImages encode_images(CLIP& model, const std::vector<std::filesystem::path>& paths, int batch_size, bool progress,
                            const std::string& label) {
  return map_images(
      model, paths, batch_size, progress, label, [&](const torch::Tensor& x) { return model->encode_image(x); },
      model->config().embed_dim);
}

EncodedImages point_features(CLIP& model, const std::vector<std::filesystem::path>& paths, const std::string& point,
                             Reduce reduce, int batch_size, bool progress) {
  const std::string name = model->resolve_point(point);
  if (name.rfind("visual", 0) != 0)
    throw Error(fmt::format("point '{}': a text-tower point; image features need an image-tower point", point));
  if (reduce == Reduce::None) throw ArgumentError("reduce", "none", "image features need mean or max");
  return map_images(
      model, paths, batch_size, progress, fmt::format("{} ({})", name, reduce == Reduce::Max ? "max" : "mean"),
      [&](const torch::Tensor& x) {
        ActivationCache cache({name});
        model->run_image(x, cache);
        return reduce_positions(cache[name], cache.layout(name), reduce);
      },
      0);
}

}  // namespace clipscope
