// Image parameterizations after lucid's optvis.param (fft_image, naive pixels,
// to_valid_rgb). The math follows the parameters' dtype, so tests can check
// gradients in double by converting parameters() in place (set_data).
#include "optvis/param.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "core/util/error.h"

namespace clipscope::optvis {

namespace {

// lucid's color_correlation_svd_sqrt (square root of ImageNet's colour
// correlation), rows = output channels.
constexpr double kColorCorrelationSvdSqrt[3][3] = {
    {0.26, 0.09, 0.02},
    {0.27, 0.00, -0.05},
    {0.27, -0.09, 0.03},
};
// lucid adds this mean in clamp mode after decorrelation, so the image starts grey-ish.
constexpr double kColorMean[3] = {0.48, 0.46, 0.41};
// lucid divides the Fourier image by 4 (an empirical constant keeping the
// initial image's values small before the sigmoid).
constexpr double kFftImageDivisor = 4.0;

std::string format_number(double v) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%g", v);
  return buffer;
}

torch::Tensor color_matrix(torch::ScalarType dtype, torch::Device device) {
  // Built once in double; lucid divides by the largest column L2 norm.
  static const torch::Tensor normalized = [] {
    auto m = torch::empty({3, 3}, torch::kDouble);
    auto a = m.accessor<double, 2>();
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 3; ++j) a[i][j] = kColorCorrelationSvdSqrt[i][j];
    return m / m.norm(2, /*dim=*/0).max();
  }();
  return normalized.to(device, dtype);
}

// rfft2d_freqs in double. rfftfreq's last column is +1/2 for even w where
// lucid's fftfreq slice has -1/2: the same once squared.
torch::Tensor freqs_double(int64_t h, int64_t w) {
  auto fy = torch::fft::fftfreq(h, torch::kDouble).unsqueeze(1);
  auto fx = torch::fft::rfftfreq(w, torch::kDouble).unsqueeze(0);
  return torch::sqrt(fy * fy + fx * fx);
}

void validate(const ParamOptions& o) {
  if (o.batch < 1) throw Error("image parameterization: batch must be at least 1, got " + std::to_string(o.batch));
  if (o.height < 1 || o.width < 1)
    throw Error("image parameterization: size must be positive, got " + std::to_string(o.height) + "x" +
                std::to_string(o.width));
  if (!(o.sd >= 0) || !std::isfinite(o.sd))
    throw Error("image parameterization: sd must be a finite number >= 0, got " + format_number(o.sd));
  if (!std::isfinite(o.decay_power))
    throw Error("image parameterization: decay_power must be finite, got " + format_number(o.decay_power));
}

// Initial values sd * randn from a private generator: same seed, same values,
// whatever torch's global RNG did before. Drawn on the CPU (for the same values
// on every device), then moved.
torch::Tensor seeded_randn(at::IntArrayRef shape, double sd, at::Generator& gen, torch::Device device) {
  return (torch::randn(shape, gen, torch::kFloat) * sd).to(device);
}

// The parameterization's mapping to [0, 1], shared by both kinds:
// grayscale skips decorrelation and is repeated to RGB after the range mapping.
// In clamp mode without decorrelation the values are offset by 0.5 (pixels are
// initialised at 0.5, Fourier images get +0.5) so the image starts grey and
// no pixel starts at the clamp's flat edge; with decorrelation lucid's colour
// mean plays that role.
torch::Tensor finish(const torch::Tensor& t, const ParamOptions& o) {
  if (o.grayscale) return to_valid_rgb(t, false, o.range).repeat({1, 3, 1, 1});
  return to_valid_rgb(t, o.decorrelate, o.range);
}

class FourierImage final : public ImageParam {
 public:
  explicit FourierImage(const ParamOptions& o) : options_(o) {
    const int64_t h = o.height, w = o.width, channels = o.grayscale ? 1 : 3;
    auto freqs = freqs_double(h, w);
    // lucid: 1 / max(f, 1/max(w,h))^decay * sqrt(w*h). The floor keeps the DC
    // term finite; sqrt(w*h) makes the pixel scale independent of the size.
    auto scale = torch::pow(torch::clamp_min(freqs, 1.0 / static_cast<double>(std::max(w, h))), -o.decay_power);
    scale = scale * std::sqrt(static_cast<double>(w * h));
    scale_ = scale.to(o.device);  // kept in double; cast once per parameter dtype

    auto gen = at::make_generator<at::CPUGeneratorImpl>(o.seed);
    const std::vector<int64_t> shape = {o.batch, channels, h, w / 2 + 1};
    real_ = seeded_randn(shape, o.sd, gen, o.device).requires_grad_(true);
    imag_ = seeded_randn(shape, o.sd, gen, o.device).requires_grad_(true);
  }

  torch::Tensor image() override {
    if (!scale_cast_.defined() || scale_cast_.scalar_type() != real_.scalar_type() ||
        scale_cast_.device() != real_.device())
      scale_cast_ = scale_.to(real_.device(), real_.scalar_type());
    auto spectrum = torch::complex(real_, imag_) * scale_cast_;
    // irfft2 with s = (h, w) handles odd widths directly (lucid instead uses
    // w/2+2 columns and crops the extra output column).
    auto t = torch::fft::irfft2(spectrum, at::IntArrayRef{options_.height, options_.width}) / kFftImageDivisor;
    if (options_.range == Range::Clamp && (options_.grayscale || !options_.decorrelate)) t = t + 0.5;
    return finish(t, options_);
  }

  std::vector<torch::Tensor> parameters() override { return {real_, imag_}; }

 private:
  ParamOptions options_;
  torch::Tensor scale_, scale_cast_, real_, imag_;
};

class PixelImage final : public ImageParam {
 public:
  PixelImage(const ParamOptions& o, torch::Tensor pixels) : options_(o), pixels_(std::move(pixels)) {
    pixels_.requires_grad_(true);
  }

  torch::Tensor image() override { return finish(pixels_, options_); }
  std::vector<torch::Tensor> parameters() override { return {pixels_}; }

 private:
  ParamOptions options_;
  torch::Tensor pixels_;
};

}  // namespace

std::string ParamOptions::describe() const {
  std::ostringstream s;  // default stream formatting: 0.01, 1, 1.5 (like %g)
  s << (fft ? "fft" : "pixel") << " sd=" << sd;
  if (fft) s << " decay=" << decay_power;
  s << (grayscale ? " grayscale" : decorrelate ? " decorrelated" : " rgb");
  s << (range == Range::Sigmoid ? " sigmoid" : " clamp");
  s << " " << height << "x" << width << " x" << batch;
  if (seed != 0) s << " seed=" << seed;
  return s.str();
}

std::unique_ptr<ImageParam> make_image_param(const ParamOptions& options) {
  validate(options);
  if (options.fft) return std::make_unique<FourierImage>(options);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(options.seed);
  const int64_t channels = options.grayscale ? 1 : 3;
  auto pixels = seeded_randn({options.batch, channels, options.height, options.width}, options.sd, gen, options.device);
  // Clamp mode starts grey (see finish()); decorrelated, lucid's colour mean does it.
  if (options.range == Range::Clamp && (options.grayscale || !options.decorrelate)) pixels = pixels + 0.5;
  return std::make_unique<PixelImage>(options, pixels);
}

std::unique_ptr<ImageParam> pixels_from(const torch::Tensor& images) {
  if (images.dim() != 4 || images.size(1) != 3)
    throw Error("pixels_from: expected images (N, 3, H, W), got shape " + std::string(c10::str(images.sizes())));
  if (!images.is_floating_point()) throw Error("pixels_from: expected floating-point images in [0, 1]");
  ParamOptions o;
  o.fft = false;
  o.decorrelate = false;
  o.range = Range::Clamp;
  o.batch = images.size(0);
  o.height = images.size(2);
  o.width = images.size(3);
  o.sd = 0;
  o.device = images.device();
  return std::make_unique<PixelImage>(o, images.detach().clone());
}

torch::Tensor rfft2d_freqs(int64_t h, int64_t w) {
  if (h < 1 || w < 1)
    throw Error("rfft2d_freqs: size must be positive, got " + std::to_string(h) + "x" + std::to_string(w));
  return freqs_double(h, w).to(torch::kFloat);
}

torch::Tensor color_correlation_normalized() { return color_matrix(torch::kFloat, torch::kCPU); }

torch::Tensor decorrelate_colors(const torch::Tensor& t) {
  if (t.dim() != 4 || t.size(1) != 3)
    throw Error("decorrelate_colors: expected (N, 3, H, W), got shape " + std::string(c10::str(t.sizes())));
  auto m = color_matrix(t.scalar_type(), t.device());
  // out[n, i] = sum_j M[i, j] t[n, j]: lucid's t_flat @ M^T.
  return torch::einsum("ij,njhw->nihw", {m, t});
}

torch::Tensor to_valid_rgb(const torch::Tensor& t, bool decorrelate, Range range) {
  auto x = t;
  if (decorrelate) {
    x = decorrelate_colors(x);
    if (range == Range::Clamp) {
      auto mean = torch::tensor({kColorMean[0], kColorMean[1], kColorMean[2]}, torch::kDouble)
                      .to(x.device(), x.scalar_type())
                      .view({1, 3, 1, 1});
      x = x + mean;
    }
  }
  // lucid's clamp mode is constrain_L_inf(2t-1)/2+0.5: the same values and
  // gradients as a clamp to [0, 1].
  return range == Range::Sigmoid ? torch::sigmoid(x) : torch::clamp(x, 0.0, 1.0);
}

}  // namespace clipscope::optvis
