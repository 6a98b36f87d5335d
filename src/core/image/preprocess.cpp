#include "core/image/preprocess.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>

#include "core/util/error.h"

// Bit-exactness with PIL depends on evaluating the kernel in the same double
// operations; forbid fused multiply-adds, which PIL's x86-64 wheels never use.
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

namespace clipscope {
namespace {

// PIL's 8-bit resampler keeps weights in fixed point: 32 bits minus 8 for the
// pixel value minus 2 of headroom for the kernel's negative lobes and overshoot.
constexpr int kPrecisionBits = 32 - 8 - 2;

constexpr double kBicubicSupport = 2.0;

// Keys' cubic convolution kernel with a = -0.5, in PIL's order of operations.
double bicubic_kernel(double x) {
  constexpr double a = -0.5;
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

// For every output position along one axis: the first input sample it reads,
// how many it reads, and their fixed-point weights.
struct Taps {
  int stride = 0;  // weights per output position
  std::vector<int> first;
  std::vector<int> count;
  std::vector<int32_t> weights;
};

Taps compute_taps(int in_size, int out_size) {
  Taps taps;
  const double scale = static_cast<double>(in_size) / out_size;
  // Downscaling stretches the kernel over `scale` input pixels: that is PIL's antialiasing.
  const double filter_scale = std::max(scale, 1.0);
  const double support = kBicubicSupport * filter_scale;
  const double inv_filter_scale = 1.0 / filter_scale;
  taps.stride = static_cast<int>(std::ceil(support)) * 2 + 1;
  taps.first.resize(out_size);
  taps.count.resize(out_size);
  taps.weights.assign(static_cast<size_t>(out_size) * taps.stride, 0);

  std::vector<double> kernel(taps.stride);
  for (int i = 0; i < out_size; ++i) {
    const double center = (i + 0.5) * scale;
    // int() truncates toward zero, as PIL's (int) casts do, before clamping.
    const int first = std::max(static_cast<int>(center - support + 0.5), 0);
    const int end = std::min(static_cast<int>(center + support + 0.5), in_size);
    const int count = end - first;
    double total = 0.0;
    for (int k = 0; k < count; ++k) {
      kernel[k] = bicubic_kernel((k + first - center + 0.5) * inv_filter_scale);
      total += kernel[k];
    }
    int32_t* weights = taps.weights.data() + static_cast<size_t>(i) * taps.stride;
    for (int k = 0; k < count; ++k) {
      const double normalized = total != 0.0 ? kernel[k] / total : kernel[k];
      const double fixed = normalized * (1 << kPrecisionBits);
      weights[k] = static_cast<int32_t>(normalized < 0 ? fixed - 0.5 : fixed + 0.5);
    }
    taps.first[i] = first;
    taps.count[i] = count;
  }
  return taps;
}

uint8_t clip_fixed(int32_t sum) {
  const int32_t value = sum >> kPrecisionBits;  // arithmetic shift (C++20), like PIL
  return static_cast<uint8_t>(value < 0 ? 0 : value > 255 ? 255 : value);
}

constexpr int32_t kRoundingBias = 1 << (kPrecisionBits - 1);

// Interleaved 8-bit samples: 3 channels (RGB) or 4 (premultiplied RGBA).
struct Pixels {
  int width = 0;
  int height = 0;
  int channels = 3;
  std::vector<uint8_t> data;

  Pixels(int w, int h, int c) : width(w), height(h), channels(c), data(static_cast<size_t>(w) * h * c) {}
  uint8_t* row(int y) { return data.data() + static_cast<size_t>(y) * width * channels; }
  const uint8_t* row(int y) const { return data.data() + static_cast<size_t>(y) * width * channels; }
};

// Resamples rows [row_first, row_first + row_count) of `in` to `out_width` columns.
// Integer sums are order-independent, so the loops are arranged for speed (all
// channels of a pixel per tap) and stay bit-exact with PIL.
template <int kChannels>
void resample_rows(const Pixels& in, const Taps& taps, int row_first, Pixels& out) {
  for (int y = 0; y < out.height; ++y) {
    const uint8_t* source = in.row(row_first + y);
    uint8_t* target = out.row(y);
    for (int x = 0; x < out.width; ++x) {
      const int32_t* weights = taps.weights.data() + static_cast<size_t>(x) * taps.stride;
      const uint8_t* samples = source + static_cast<size_t>(taps.first[x]) * kChannels;
      int32_t sum[kChannels];
      for (int c = 0; c < kChannels; ++c) sum[c] = kRoundingBias;
      for (int k = 0; k < taps.count[x]; ++k)
        for (int c = 0; c < kChannels; ++c) sum[c] += samples[k * kChannels + c] * weights[k];
      for (int c = 0; c < kChannels; ++c) target[x * kChannels + c] = clip_fixed(sum[c]);
    }
  }
}

Pixels resample_horizontal(const Pixels& in, const Taps& taps, int row_first, int row_count) {
  Pixels out(static_cast<int>(taps.first.size()), row_count, in.channels);
  if (in.channels == 4)
    resample_rows<4>(in, taps, row_first, out);
  else
    resample_rows<3>(in, taps, row_first, out);
  return out;
}

// Resamples columns to `taps.first.size()` rows; `in` holds source rows from `row_offset` on.
Pixels resample_vertical(const Pixels& in, const Taps& taps, int row_offset) {
  const int out_height = static_cast<int>(taps.first.size());
  const size_t row_samples = static_cast<size_t>(in.width) * in.channels;
  Pixels out(in.width, out_height, in.channels);
  // Whole rows at a time, tap by tap: contiguous, vectorizable, bit-exact (integer sums).
  std::vector<int32_t> sum(row_samples);
  for (int y = 0; y < out_height; ++y) {
    const int32_t* weights = taps.weights.data() + static_cast<size_t>(y) * taps.stride;
    const uint8_t* source = in.row(taps.first[y] - row_offset);
    std::fill(sum.begin(), sum.end(), kRoundingBias);
    for (int k = 0; k < taps.count[y]; ++k) {
      const uint8_t* row = source + k * row_samples;
      const int32_t weight = weights[k];
      for (size_t i = 0; i < row_samples; ++i) sum[i] += row[i] * weight;
    }
    uint8_t* target = out.row(y);
    for (size_t i = 0; i < row_samples; ++i) target[i] = clip_fixed(sum[i]);
  }
  return out;
}

// PIL's ImagingResample: horizontal pass (over only the rows the vertical pass
// will read), then vertical, uint8 in between; a pass is skipped when its
// dimension does not change.
Pixels resample_two_pass(const Pixels& in, int out_width, int out_height) {
  const bool horizontal = out_width != in.width;
  const bool vertical = out_height != in.height;
  if (!horizontal && !vertical) return in;
  const Taps vertical_taps = compute_taps(in.height, out_height);
  const int row_first = vertical_taps.first.front();
  const int row_end = vertical_taps.first.back() + vertical_taps.count.back();
  if (!horizontal) return resample_vertical(in, vertical_taps, 0);
  Pixels narrowed = resample_horizontal(in, compute_taps(in.width, out_width), row_first, row_end - row_first);
  if (!vertical) return narrowed;  // the taps of an unchanged axis span every row
  return resample_vertical(narrowed, vertical_taps, row_first);
}

Pixels resample(const Pixels& in, int out_width, int out_height) {
  // Pillow >= 12.2 shrinks images taller than 100 widths vertically first (two
  // resize calls), so that the intermediate stays small.
  if (in.height > static_cast<int64_t>(in.width) * 100 && out_height < in.height) {
    return resample_two_pass(resample_two_pass(in, in.width, out_height), out_width, out_height);
  }
  return resample_two_pass(in, out_width, out_height);
}

// Python's round(twice / 2), halves to even (17.5 -> 18, 18.5 -> 18): torchvision's crop offset.
int round_half_even_half(int twice) {
  int half = twice / 2;
  if (twice % 2 != 0 && half % 2 != 0) ++half;
  return half;
}

// torchvision Resize(size)'s output size: shorter side -> size, longer side int(size * long / short).
std::pair<int, int> shorter_side_size(int width, int height, int size) {
  const bool width_is_short = width <= height;
  const int short_side = width_is_short ? width : height;
  const int long_side = width_is_short ? height : width;
  // Python float division, then truncation.
  const int new_long = static_cast<int>(static_cast<double>(static_cast<int64_t>(size) * long_side) / short_side);
  return width_is_short ? std::pair{size, new_long} : std::pair{new_long, size};
}

// The taps of output positions [start, start + count) only.
Taps window(const Taps& taps, int start, int count) {
  Taps w;
  w.stride = taps.stride;
  w.first.assign(taps.first.begin() + start, taps.first.begin() + start + count);
  w.count.assign(taps.count.begin() + start, taps.count.begin() + start + count);
  w.weights.assign(taps.weights.begin() + static_cast<ptrdiff_t>(start) * taps.stride,
                   taps.weights.begin() + static_cast<ptrdiff_t>(start + count) * taps.stride);
  return w;
}

// Taps that copy input positions [start, start + count): an axis PIL leaves unresized.
Taps copy_taps(int start, int count) {
  Taps t;
  t.stride = 1;
  for (int i = 0; i < count; ++i) t.first.push_back(start + i);
  t.count.assign(count, 1);
  t.weights.assign(count, 1 << kPrecisionBits);
  return t;
}

// resample() followed by a crop of [x0, x0 + width) x [y0, y0 + height), computing
// only the kept pixels: every output pixel depends on its own taps alone, so this
// is bit-identical to resizing everything and cropping.
Pixels resample_window(const Pixels& in, int out_width, int out_height, int x0, int y0, int width, int height) {
  const Taps horizontal =
      out_width != in.width ? window(compute_taps(in.width, out_width), x0, width) : copy_taps(x0, width);
  const Taps vertical =
      out_height != in.height ? window(compute_taps(in.height, out_height), y0, height) : copy_taps(y0, height);
  const int row_first = vertical.first.front();
  const int row_end = vertical.first.back() + vertical.count.back();
  Pixels narrowed = resample_horizontal(in, horizontal, row_first, row_end - row_first);
  return resample_vertical(narrowed, vertical, row_first);
}

// PIL's MULDIV255: round(a * b / 255) without a division.
uint8_t multiply_div255(unsigned a, unsigned b) {
  const unsigned t = a * b + 128;
  return static_cast<uint8_t>(((t >> 8) + t) >> 8);
}

// PIL's Image.resize(NEAREST), used for "P" and "1" images: an affine scale
// that samples input (x + 0.5) * in / out, with the position accumulated in
// double across the row as ImagingScaleAffine does.
Image resize_nearest(const Image& image, int width, int height) {
  const double step_x = static_cast<double>(image.width) / width;
  const double step_y = static_cast<double>(image.height) / height;
  std::vector<int> source_x(width, -1);
  double position = step_x * 0.5;
  for (int x = 0; x < width; ++x, position += step_x) {
    const int xin = static_cast<int>(position);
    if (xin < image.width) source_x[x] = xin;
  }
  Image out;
  out.width = width;
  out.height = height;
  out.rgb.assign(static_cast<size_t>(width) * height * 3, 0);
  out.nearest_resize = image.nearest_resize;
  const bool has_alpha = !image.alpha.empty();
  if (has_alpha) out.alpha.assign(static_cast<size_t>(width) * height, 0);
  position = step_y * 0.5;
  for (int y = 0; y < height; ++y, position += step_y) {
    const int yin = static_cast<int>(position);
    if (yin >= image.height) continue;  // PIL leaves such rows zero
    for (int x = 0; x < width; ++x) {
      if (source_x[x] < 0) continue;
      std::copy_n(image.pixel(source_x[x], yin), 3, out.pixel(x, y));
      if (has_alpha) {
        out.alpha[static_cast<size_t>(y) * width + x] =
            image.alpha[static_cast<size_t>(yin) * image.width + source_x[x]];
      }
    }
  }
  return out;
}

void check_image(const Image& image, const char* what) {
  const size_t pixels = static_cast<size_t>(std::max(image.width, 0)) * std::max(image.height, 0);
  if (image.width <= 0 || image.height <= 0 || image.rgb.size() != pixels * 3 ||
      (!image.alpha.empty() && image.alpha.size() != pixels)) {
    throw Error(std::string(what) + ": invalid image (" + std::to_string(image.width) + " x " +
                std::to_string(image.height) + ", " + std::to_string(image.rgb.size()) + " RGB bytes)");
  }
}

void check_size(int width, int height, const char* what) {
  if (width <= 0 || height <= 0) {
    throw Error(std::string(what) + ": target size must be positive, got " + std::to_string(width) + " x " +
                std::to_string(height));
  }
}

}  // namespace

Image resize_bicubic(const Image& image, int width, int height) {
  check_image(image, "resize");
  check_size(width, height, "resize");
  // PIL returns a copy for an unchanged size, before any premultiplication.
  if (image.width == width && image.height == height) return image;
  if (image.nearest_resize) return resize_nearest(image, width, height);

  const bool has_alpha = !image.alpha.empty();
  const size_t pixel_count = static_cast<size_t>(image.width) * image.height;
  Pixels in(image.width, image.height, has_alpha ? 4 : 3);
  if (!has_alpha) {
    in.data = image.rgb;
  } else {
    // PIL resizes RGBA as premultiplied RGBa so that transparent colours do not bleed.
    for (size_t i = 0; i < pixel_count; ++i) {
      const uint8_t alpha = image.alpha[i];
      for (int c = 0; c < 3; ++c) in.data[i * 4 + c] = multiply_div255(image.rgb[i * 3 + c], alpha);
      in.data[i * 4 + 3] = alpha;
    }
  }

  Pixels resized = resample(in, width, height);

  Image out;
  out.width = width;
  out.height = height;
  if (!has_alpha) {
    out.rgb = std::move(resized.data);
    return out;
  }
  const size_t out_count = static_cast<size_t>(width) * height;
  out.rgb.resize(out_count * 3);
  out.alpha.resize(out_count);
  for (size_t i = 0; i < out_count; ++i) {
    const unsigned alpha = resized.data[i * 4 + 3];
    for (int c = 0; c < 3; ++c) {
      const unsigned value = resized.data[i * 4 + c];
      // PIL's rgba2rgbA: alpha 0 and 255 pass through, otherwise truncating division, clipped.
      out.rgb[i * 3 + c] = (alpha == 0 || alpha == 255) ? static_cast<uint8_t>(value)
                                                        : static_cast<uint8_t>(std::min(255u, 255 * value / alpha));
    }
    out.alpha[i] = static_cast<uint8_t>(alpha);
  }
  return out;
}

Image resize_shorter_side(const Image& image, int size) {
  check_image(image, "resize");
  check_size(size, size, "resize");
  const auto [new_width, new_height] = shorter_side_size(image.width, image.height, size);
  if (new_width == image.width && new_height == image.height) return image;
  return resize_bicubic(image, new_width, new_height);
}

Image center_crop(const Image& image, int width, int height) {
  check_image(image, "center crop");
  check_size(width, height, "center crop");
  // torchvision first pads a too-small image with zeros (left/top get the
  // smaller half), then crops at int(round((size - crop) / 2)).
  const int pad_left = width > image.width ? (width - image.width) / 2 : 0;
  const int pad_top = height > image.height ? (height - image.height) / 2 : 0;
  const int padded_width = std::max(width, image.width);
  const int padded_height = std::max(height, image.height);
  const int crop_left = round_half_even_half(padded_width - width);
  const int crop_top = round_half_even_half(padded_height - height);
  // Source coordinate of output (0, 0); negative inside the padding.
  const int origin_x = crop_left - pad_left;
  const int origin_y = crop_top - pad_top;

  Image out;
  out.width = width;
  out.height = height;
  out.nearest_resize = image.nearest_resize;
  out.rgb.assign(static_cast<size_t>(width) * height * 3, 0);
  const bool has_alpha = !image.alpha.empty();
  if (has_alpha) out.alpha.assign(static_cast<size_t>(width) * height, 0);
  const int x_begin = std::max(0, -origin_x);
  const int x_end = std::min(width, image.width - origin_x);
  for (int y = 0; y < height; ++y) {
    const int source_y = origin_y + y;
    if (source_y < 0 || source_y >= image.height || x_begin >= x_end) continue;
    std::copy_n(image.pixel(origin_x + x_begin, source_y), static_cast<size_t>(x_end - x_begin) * 3,
                out.pixel(x_begin, y));
    if (has_alpha) {
      std::copy_n(image.alpha.data() + static_cast<size_t>(source_y) * image.width + origin_x + x_begin,
                  x_end - x_begin, out.alpha.data() + static_cast<size_t>(y) * width + x_begin);
    }
  }
  return out;
}

std::vector<float> to_chw_float(const Image& image) {
  check_image(image, "to tensor");
  const size_t plane = static_cast<size_t>(image.width) * image.height;
  std::vector<float> out(plane * 3);
  for (size_t i = 0; i < plane; ++i) {
    for (size_t c = 0; c < 3; ++c) out[c * plane + i] = static_cast<float>(image.rgb[i * 3 + c]) / 255.0f;
  }
  return out;
}

// torchvision's Resize(n_px) then CenterCrop(n_px), computing only the crop when
// PIL's plain 8-bit path applies (RGB, resized size covering the crop, not a very
// tall image); the general path otherwise.
Image resize_and_center_crop(const Image& image, int n_px) {
  check_image(image, "resize");
  check_size(n_px, n_px, "resize");
  const auto [new_width, new_height] = shorter_side_size(image.width, image.height, n_px);
  const bool plain = image.alpha.empty() && !image.nearest_resize && new_width >= n_px && new_height >= n_px &&
                     !(image.height > static_cast<int64_t>(image.width) * 100) &&
                     (new_width != image.width || new_height != image.height);
  if (!plain) return center_crop(resize_shorter_side(image, n_px), n_px, n_px);
  Pixels in(image.width, image.height, 3);
  in.data = image.rgb;
  Pixels out = resample_window(in, new_width, new_height, round_half_even_half(new_width - n_px),
                               round_half_even_half(new_height - n_px), n_px, n_px);
  Image result;
  result.width = n_px;
  result.height = n_px;
  result.rgb = std::move(out.data);
  return result;
}

std::vector<float> clip_preprocess(const Image& image, int n_px, const Normalization& normalization) {
  check_size(n_px, n_px, "CLIP preprocessing");
  const Image cropped = resize_and_center_crop(image, n_px);
  std::vector<float> tensor = to_chw_float(cropped);
  const size_t plane = static_cast<size_t>(n_px) * n_px;
  // torchvision Normalize: (x - mean) / std in float32, per channel.
  for (size_t c = 0; c < 3; ++c) {
    for (size_t i = 0; i < plane; ++i)
      tensor[c * plane + i] = (tensor[c * plane + i] - normalization.mean[c]) / normalization.std[c];
  }
  return tensor;
}

}  // namespace clipscope
