#include "demo/batches.h"

#include "core/image/preprocess.h"
#include "core/model/tensor_io.h"
#include "core/util/error.h"

namespace clipscope::demo {

torch::Tensor images_to_tensor(const std::vector<Image>& images) {
  const int64_t n = static_cast<int64_t>(images.size());
  const int64_t h = images.front().height, w = images.front().width;
  auto pixels = torch::empty({n, h, w, 3}, torch::kUInt8);
  for (int64_t i = 0; i < n; ++i) {
    const Image& image = images[static_cast<size_t>(i)];
    if (image.height != h || image.width != w) throw Error("images_to_tensor: the images differ in size");
    std::memcpy(pixels[i].data_ptr<uint8_t>(), image.rgb.data(), image.rgb.size());
  }
  const auto mean = torch::tensor({kClipMean[0], kClipMean[1], kClipMean[2]}).view({1, 3, 1, 1});
  const auto std = torch::tensor({kClipStd[0], kClipStd[1], kClipStd[2]}).view({1, 3, 1, 1});
  return ((pixels.permute({0, 3, 1, 2}).to(torch::kFloat) / 255.0f) - mean) / std;
}

Batch make_batch(const world::World& world, uint64_t first, int64_t n, const Tokenizer& tokenizer, int64_t context) {
  thread_local TextRasterizer raster;  // FreeType faces are per thread
  std::vector<Image> images;
  std::vector<std::string> captions;
  Batch batch;
  for (int64_t i = 0; i < n; ++i) {
    world::WorldSample item = world.sample(first + static_cast<uint64_t>(i), raster);
    images.push_back(std::move(item.image));
    captions.push_back(item.scene.caption);
    batch.scenes.push_back(std::move(item.scene));
  }
  batch.images = images_to_tensor(images);
  batch.tokens = tokenize_batch(tokenizer, captions, static_cast<int>(context), true);
  return batch;
}

std::vector<std::string> world_captions(const world::World& world, uint64_t n) {
  TextRasterizer raster;
  std::vector<std::string> captions;
  captions.reserve(n);
  for (uint64_t i = 0; i < n; ++i) {
    world::Rng rng = world::Rng::for_item(world.seed(), i);
    captions.push_back(world::sample_scene(rng, raster, world.options()).caption);
  }
  return captions;
}

BatchStream::BatchStream(const world::World& world, int64_t batch, const Tokenizer& tokenizer, int64_t context,
                         int64_t first_batch, int threads)
    : world_(world),
      batch_(batch),
      tokenizer_(tokenizer),
      context_(context),
      threads_(std::max(1, threads)),
      next_(first_batch) {
  // Each worker's first batch is fixed here: read from next_ when a worker thread
  // starts late, it would skip a batch the consumer already waits for.
  for (int w = 0; w < threads_; ++w) workers_.emplace_back([this, first_batch, w] { work(first_batch + w); });
}

BatchStream::~BatchStream() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  for (auto& t : workers_) t.join();
}

void BatchStream::work(int64_t k) {
  // This worker builds batches k, k + threads, ..., staying at most two rounds
  // ahead of the consumer so memory stays bounded.
  while (true) {
    {
      std::unique_lock lock(mutex_);
      changed_.wait(lock, [&] { return stopping_ || k < next_ + 2 * threads_; });
      if (stopping_) return;
    }
    try {
      Batch b = make_batch(world_, static_cast<uint64_t>(k * batch_), batch_, tokenizer_, context_);
      std::lock_guard lock(mutex_);
      ready_.emplace(k, std::move(b));
    } catch (...) {
      std::lock_guard lock(mutex_);
      failure_ = std::current_exception();
    }
    changed_.notify_all();
    k += threads_;
  }
}

Batch BatchStream::next() {
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [&] { return failure_ || ready_.count(next_) > 0; });
  if (failure_) std::rethrow_exception(failure_);
  Batch b = std::move(ready_.at(next_));
  ready_.erase(next_);
  ++next_;
  lock.unlock();
  changed_.notify_all();
  return b;
}

}  // namespace clipscope::demo
