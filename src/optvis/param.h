#pragma once
// Image parameterizations (lucid's optvis.param): trainable tensors and the
// differentiable map from them to a batch of RGB images in [0, 1], (N, 3, H, W).
// The model's own input normalization (CLIP's mean/std) is applied later, inside
// the render loop, never here.
#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace clipscope::optvis {

// How unconstrained values become [0, 1]: lucid's sigmoid, or a clamp.
enum class Range { Sigmoid, Clamp };

struct ParamOptions {
  int64_t batch = 1;
  int64_t height = 224, width = 224;
  bool fft = true;           // Fourier-space image (lucid's fft_image) instead of raw pixels
  double sd = 0.01;          // standard deviation of the random initial values
  double decay_power = 1.0;  // spectrum scale 1 / max(f, 1/max(H,W))^decay_power
  bool decorrelate = true;   // lucid's colour decorrelation (color_correlation_svd_sqrt)
  Range range = Range::Sigmoid;
  bool grayscale = false;  // one channel, repeated to RGB (the preimage variant's option)
  uint64_t seed = 0;       // same seed, same initial values (independent of torch's global RNG)
  torch::Device device = torch::kCPU;

  std::string describe() const;  // one line, e.g. "fft sd=0.01 decay=1 decorrelated sigmoid 224x224 x1"
};

class ImageParam {
 public:
  virtual ~ImageParam() = default;
  // (N, 3, H, W) float32 in [0, 1], differentiable with respect to parameters().
  virtual torch::Tensor image() = 0;
  // The tensors the optimizer updates (requires_grad set).
  virtual std::vector<torch::Tensor> parameters() = 0;
};

std::unique_ptr<ImageParam> make_image_param(const ParamOptions& options);
// Raw pixels starting from given images (N, 3, H, W) in [0, 1] (Deep Dream, or
// starting from a photo); Range::Clamp keeps them valid.
std::unique_ptr<ImageParam> pixels_from(const torch::Tensor& images);

// The pieces, for tests and for other parameterizations.
// Frequencies of an rfft2 of an (h, w) image: sqrt(fy^2 + fx^2), shape (h, w/2+1), cycles per pixel.
torch::Tensor rfft2d_freqs(int64_t h, int64_t w);
// lucid's color_correlation_svd_sqrt divided by its largest column norm (3x3).
torch::Tensor color_correlation_normalized();
// (N, 3, H, W) decorrelated values -> correlated RGB values (each pixel's colour times the matrix's transpose).
torch::Tensor decorrelate_colors(const torch::Tensor& t);
// lucid's to_valid_rgb: optional decorrelation, then sigmoid or clamp to [0, 1].
torch::Tensor to_valid_rgb(const torch::Tensor& t, bool decorrelate, Range range);

}  // namespace clipscope::optvis
