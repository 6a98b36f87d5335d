#pragma once
// Training clipscope's demo CLIP on the synthetic world: a small ModifiedResNet +
// text Transformer learned from scratch with CLIP's contrastive loss, on data
// generated on the fly, resumable from periodic checkpoints.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "core/model/clip.h"
#include "core/model/config.h"
#include "world/scene.h"

namespace clipscope::demo {

// The demo architecture (docs/demo.md): ModifiedResNet layers (1,1,1,1) of width
// `width` at `resolution` px (layer4: 32 x width units), a text Transformer 128
// wide x 3 layers x 2 heads with a 32-token context, a 128-d joint embedding.
// The defaults below are the recipe of the shipped model.
CLIPConfig demo_config(int64_t vocab_size, int64_t resolution = 64, int64_t width = 16);

struct TrainOptions {
  std::filesystem::path out;  // the run directory: merges, checkpoints, log, final model
  uint64_t seed = 1;          // world seed and weight initialization
  int64_t steps = 6000;
  int64_t batch = 256;
  double lr = 1e-3;
  double weight_decay = 0.1;  // decoupled, on weights that are not gains, biases or embeddings
  int64_t warmup = 250;       // linear warm-up steps, then cosine to zero
  int64_t resolution = 64;
  int64_t width = 16;
  int bpe_merges = 8000;  // at most; fewer when the captions need fewer
  int64_t bpe_captions = 200000;
  int data_threads = 1;  // world generation threads (beside LibTorch's)
  int64_t checkpoint_every = 200;
  std::string precision = "auto";  // fp32 | bf16 | auto (bf16 autocast where the CPU has native bf16)
  double max_minutes = 0;          // > 0: checkpoint and stop when the wall time is exceeded
  int64_t stop_at = 0;             // > 0: checkpoint and stop after this step (an interruption, for tests)
  // > 0: also write the model as shipped (fp16) to <out>/snapshots/step-NNNNNN.pt every
  // this many steps, to watch reading and multimodality emerge (demo-report on each).
  int64_t snapshot_every = 0;
  // A model of an earlier run (its clipscope-demo.pt, fp16 as shipped, with its merges
  // file beside it) to start from instead of random weights: a warm restart with a new
  // warm-up and cosine schedule and a fresh optimizer. Its merges are used as they are.
  std::filesystem::path init_from;
  // > 0: adds this times unit_density() of visual.layer4's spatial means to the loss, so
  // that an image read by a few strong units costs less than one read by many weak ones
  // (a concept's picture and its name then share units more cheaply than they split them).
  double unit_sparsity = 0;
  bool progress = true;
  world::WorldOptions world;
};

struct TrainResult {
  int64_t steps_done = 0;
  bool finished = false;  // reached `steps` (false when stopped by max_minutes)
  double final_loss = 0;
  std::filesystem::path model;   // <out>/clipscope-demo.pt (fp16), when finished
  std::filesystem::path merges;  // <out>/clipscope-demo.bpe.txt.gz
};

// Trains, resuming from <out>/checkpoint.pt when it exists (the options must be the
// same; they are stored with the checkpoint and a mismatch is an Error). The merges
// file is learned first from the world's captions (deterministic for the seed).
TrainResult train_demo(const TrainOptions& options);

// Does `precision` resolve to bf16 on this machine ("auto": native bf16 support).
bool use_bf16(const std::string& precision);

// How many units an image's activations spread over, scale-free: the mean over the
// batch of ||a||_1 / (||a||_2 sqrt(U)) of each row of `activations` (N, U), U units,
// activations >= 0. 1 when all units are equal, 1/sqrt(U) when one unit holds it all
// (Hoyer's measure before its affine rescaling).
torch::Tensor unit_density(const torch::Tensor& activations);

// The model, its optimizer and the schedule; train_demo drives it with world
// batches, tests with fixed ones.
class Trainer {
 public:
  Trainer(const TrainOptions& options, int64_t vocab_size);
  // One optimizer step at the current point of the schedule; returns the contrastive
  // loss (the sparsity term, when on, is last_density() times unit_sparsity).
  double step(const torch::Tensor& images, const torch::Tensor& tokens);
  double last_density() const { return last_density_; }
  double learning_rate(int64_t step) const;  // warm-up then cosine
  int64_t steps_done() const { return steps_done_; }
  CLIP& model() { return model_; }

  // Model, optimizer state, step and the options' fingerprint, written atomically.
  void save_checkpoint(const std::filesystem::path& path) const;
  // Throws Error naming the file when it is unreadable or from other options.
  void load_checkpoint(const std::filesystem::path& path);

 private:
  TrainOptions options_;
  CLIP model_{nullptr};
  std::unique_ptr<torch::optim::AdamW> optimizer_;
  int64_t steps_done_ = 0;
  bool bf16_ = false;
  double last_density_ = 0;
};

}  // namespace clipscope::demo
