#pragma once
// Conversions between LibTorch tensors and clipscope's torch-free core types:
// .npy files, decoded images (CLIP-preprocessed batches) and token batches.
#include <torch/types.h>

#include <filesystem>
#include <string>
#include <vector>

#include "core/image/image.h"
#include "core/image/preprocess.h"
#include "core/text/tokenizer.h"

namespace clipscope {

torch::Tensor read_npy_tensor(const std::filesystem::path& path);
// Writes any tensor (moved to CPU, made contiguous) as float32 or int64 .npy.
void write_npy_tensor(const std::filesystem::path& path, const torch::Tensor& tensor);
// A tensor's values as float32 in row-major order (for JSON).
std::vector<float> tensor_values(const torch::Tensor& tensor);

// (N, 3, n_px, n_px) float batch of CLIP-preprocessed images.
torch::Tensor preprocess_batch(const std::vector<Image>& images, int n_px, const Normalization& normalization = {});
// An image as a (3, H, W) float tensor in [0, 1] (ToTensor, no resizing or normalization), and back
// (values clamped to [0, 1] and rounded to 8 bits).
torch::Tensor image_to_tensor(const Image& image);
Image tensor_to_image(const torch::Tensor& chw);
// Reads and preprocesses image files; throws Error naming the first bad file.
torch::Tensor load_image_batch(const std::vector<std::filesystem::path>& paths, int n_px,
                               const Normalization& normalization = {});

// (N, context_length) int64 token ids, as clip.tokenize.
torch::Tensor tokenize_batch(const Tokenizer& tokenizer, const std::vector<std::string>& texts,
                             int context_length = Tokenizer::kDefaultContextLength, bool truncate = false);

}  // namespace clipscope
