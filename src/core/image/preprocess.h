#pragma once
// CLIP's image preprocessing, bit-compatible with PIL + torchvision:
// Resize(n_px, BICUBIC) of the shorter side (PIL's antialiased fixed-point
// bicubic, a = -0.5, horizontal pass then vertical, uint8 between passes),
// CenterCrop(n_px) (torchvision rounding), ToTensor, Normalize(mean, std).
#include <array>
#include <vector>

#include "core/image/image.h"

namespace clipscope {

inline constexpr std::array<float, 3> kClipMean = {0.48145466f, 0.4578275f, 0.40821073f};
inline constexpr std::array<float, 3> kClipStd = {0.26862954f, 0.26130258f, 0.27577711f};

// torchvision's Normalize(mean, std) of the last preprocessing step; OpenAI's values
// by default (open_clip models may state others).
struct Normalization {
  std::array<float, 3> mean = kClipMean;
  std::array<float, 3> std = kClipStd;
  bool operator==(const Normalization&) const = default;
};

// PIL Image.resize((width, height), Image.BICUBIC) on the image as PIL holds it:
// premultiplied by `image.alpha` when present (PIL's RGBA/LA path; the result
// keeps a resized alpha), NEAREST when `image.nearest_resize` (PIL's P/1 modes).
Image resize_bicubic(const Image& image, int width, int height);
// torchvision Resize(size): shorter side -> size, longer side int(size * long / short).
Image resize_shorter_side(const Image& image, int size);
// torchvision CenterCrop((height, width)) (pads with black when the image is smaller, as torchvision does).
Image center_crop(const Image& image, int width, int height);
// center_crop(resize_shorter_side(image, n_px), n_px, n_px), bit for bit, resampling
// only the pixels the crop keeps where it can.
Image resize_and_center_crop(const Image& image, int n_px);
// Full CLIP preprocessing: CHW float, normalized, 3 * n_px * n_px values.
std::vector<float> clip_preprocess(const Image& image, int n_px, const Normalization& normalization = {});
// CHW float in [0,1] (ToTensor) without normalization.
std::vector<float> to_chw_float(const Image& image);

}  // namespace clipscope
