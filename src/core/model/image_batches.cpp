#include "core/model/image_batches.h"

#include <fmt/format.h>

#include <algorithm>

#include "core/util/error.h"

namespace clipscope {

ImageBatcher::ImageBatcher(std::vector<std::filesystem::path> paths, int batch_size, ImageStreamOptions options)
    : stream_(std::move(paths), [&] {
        if (batch_size <= 0) throw Error(fmt::format("--batch-size {}: must be positive", batch_size));
        // Enough look-ahead for the next batch to be decoded while the model runs this one.
        options.max_ahead = std::max(options.max_ahead, static_cast<size_t>(2 * batch_size));
        return options;
      }()),
      batch_size_(batch_size),
      n_px_(options.n_px) {}

std::optional<ImageBatch> ImageBatcher::next() {
  std::vector<StreamItem> good;
  while (static_cast<int>(good.size()) < batch_size_) {
    auto item = stream_.next();
    if (!item) break;
    ++consumed_;
    if (item->ok()) good.push_back(std::move(*item));
    else skipped_.push_back(std::move(*item));
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
  return batch;
}

}  // namespace clipscope
