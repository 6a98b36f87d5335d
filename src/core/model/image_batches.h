#pragma once
// Model-ready batches from an ImageStream: decoded and preprocessed on worker
// threads while the model runs, assembled in input order, with unreadable images
// skipped and kept aside (never fatal) so a caller can count and list them.
#include <torch/types.h>

#include <filesystem>
#include <optional>
#include <vector>

#include "core/image/stream.h"

namespace clipscope {

struct ImageBatch {
  torch::Tensor images;                          // (n, 3, n_px, n_px), CLIP-preprocessed
  std::vector<size_t> indices;                   // input positions of the rows
  std::vector<std::filesystem::path> paths;      // their paths
  size_t inputs_done = 0;                        // inputs consumed so far, skipped ones included (for progress)
};

class ImageBatcher {
 public:
  ImageBatcher(std::vector<std::filesystem::path> paths, int batch_size, ImageStreamOptions options = {});
  // The next batch of up to batch_size readable images; nullopt once every input is consumed.
  std::optional<ImageBatch> next();
  size_t size() const { return stream_.size(); }
  // Inputs that could not be read so far, with their reasons.
  const std::vector<StreamItem>& skipped() const { return skipped_; }

 private:
  ImageStream stream_;
  int batch_size_;
  int n_px_;
  size_t consumed_ = 0;
  std::vector<StreamItem> skipped_;
};

}  // namespace clipscope
