#pragma once
// World items as training batches: image tensors normalized as CLIP's
// preprocessing does (the world is drawn at the model's resolution, so no resize
// is needed) and token tensors, produced ahead of the model on worker threads.
#include <torch/torch.h>

#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/image/image.h"
#include "core/text/tokenizer.h"
#include "world/generator.h"

namespace clipscope::demo {

// Held-out data (evaluation, the demo report) comes from world seed + this offset.
inline constexpr uint64_t kHeldOutSeedOffset = 1000003;

struct Batch {
  torch::Tensor images;  // (N, 3, S, S) float, CLIP-normalized
  torch::Tensor tokens;  // (N, context) int64
  std::vector<world::Scene> scenes;
};

// (N, 3, S, S) CLIP-normalized float tensor of same-size images.
torch::Tensor images_to_tensor(const std::vector<Image>& images);
// Items [first, first + n) of the world.
Batch make_batch(const world::World& world, uint64_t first, int64_t n, const Tokenizer& tokenizer, int64_t context);
// Captions of items [0, n) (for learning the BPE merges).
std::vector<std::string> world_captions(const world::World& world, uint64_t n);

// Batch k = items [k * batch, (k + 1) * batch), built by `threads` workers a few
// batches ahead and handed out in order by next().
class BatchStream {
 public:
  BatchStream(const world::World& world, int64_t batch, const Tokenizer& tokenizer, int64_t context,
              int64_t first_batch, int threads);
  ~BatchStream();
  Batch next();

 private:
  void work(int64_t first);
  const world::World& world_;
  const int64_t batch_;
  const Tokenizer& tokenizer_;
  const int64_t context_;
  const int threads_;
  int64_t next_ = 0;  // the batch next() returns
  std::map<int64_t, Batch> ready_;
  std::exception_ptr failure_;
  bool stopping_ = false;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::thread> workers_;
};

}  // namespace clipscope::demo
