#pragma once
// Model-ready batches from an ImageStream: decoded and preprocessed on worker
// threads while the model runs, assembled in input order, with unreadable images
// skipped and kept aside (never fatal) so a caller can count and list them.
#include <torch/types.h>

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/image/stream.h"
#include "core/model/clip.h"
#include "core/model/points.h"

namespace clipscope {

// How decoding shares the CPU with the model. Overlap decodes while the model runs,
// which is right when cores are left over for it. Bursts decodes on every worker
// between batches and pauses while the model runs, which is right when the model's
// threads take every core: a decoder preempting one OpenMP thread stalls the whole
// parallel region (RN50 bf16 on 2 cores: 0.84 of pure model throughput overlapped,
// see docs/performance.md). Auto picks Overlap when workers + model threads fit the cores.
enum class DecodeSchedule { Auto, Overlap, Bursts };

struct ImageBatch {
  torch::Tensor images;                      // (n, 3, n_px, n_px), CLIP-preprocessed
  std::vector<size_t> indices;               // input positions of the rows
  std::vector<std::filesystem::path> paths;  // their paths
  size_t inputs_done = 0;                    // inputs consumed so far, skipped ones included (for progress)
};

class ImageBatcher {
 public:
  // options.workers 0 = every core left over by the model's threads, or every core
  // (with Bursts) when none is left. model_threads 0 = LibTorch's intra-op threads.
  ImageBatcher(std::vector<std::filesystem::path> paths, int batch_size, ImageStreamOptions options = {},
               DecodeSchedule schedule = DecodeSchedule::Auto, int model_threads = 0);
  // The next batch of up to batch_size readable images; nullopt once every input is consumed.
  std::optional<ImageBatch> next();
  // Make each batch the readable images of the next batch_size inputs (fewer when
  // some are skipped) instead of the next batch_size readable ones. A batch's
  // composition then depends only on input positions, so a run split at a multiple
  // of batch_size (shards, resumption) computes every image in the same batch as an
  // unsplit run: kernels may round differently for different batches.
  void batch_by_input_windows() { input_windows_ = true; }
  size_t size() const { return stream_.size(); }
  // Inputs that could not be read so far, with their reasons.
  const std::vector<StreamItem>& skipped() const { return skipped_; }
  DecodeSchedule schedule() const { return schedule_; }
  int workers() const { return stream_.workers(); }

 private:
  DecodeSchedule schedule_;
  ImageStream stream_;
  int batch_size_;
  int n_px_;
  size_t consumed_ = 0;
  bool input_windows_ = false;
  std::vector<StreamItem> skipped_;
};

// CLIP's image embeddings of `paths` (preprocessed for the model: its resolution,
// mean and std), in batches, with progress on stderr under `label`.
struct EncodedImages {
  torch::Tensor embeddings;         // (rows, embed_dim) float on the CPU
  std::vector<size_t> indices;      // the input position of each row
  std::vector<StreamItem> skipped;  // unreadable inputs with their reasons
};
EncodedImages encode_images(CLIP& model, const std::vector<std::filesystem::path>& paths, int batch_size,
                            bool progress = true, const std::string& label = "images");

// The same loop with any per-batch function of the preprocessed images (on the model's
// device) that returns one row per image: e.g. a point's units reduced over positions.
// The rows are float on the CPU; `width` is their size when no image could be read.
EncodedImages map_images(CLIP& model, const std::vector<std::filesystem::path>& paths, int batch_size, bool progress,
                         const std::string& label, const std::function<torch::Tensor(const torch::Tensor&)>& rows,
                         int64_t width);

// (rows, units): the units of an image-tower point (any name resolve_point accepts)
// reduced over positions (Reduce::Mean or Reduce::Max) for every readable image; the
// forward stops after the point. Throws Error for a text-tower point or Reduce::None.
EncodedImages point_features(CLIP& model, const std::vector<std::filesystem::path>& paths, const std::string& point,
                             Reduce reduce, int batch_size, bool progress = true);

}  // namespace clipscope
