#include "core/model/tensor_io.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/image/preprocess.h"
#include "core/util/error.h"
#include "core/util/npy.h"

namespace clipscope {

torch::Tensor read_npy_tensor(const std::filesystem::path& path) {
  NpyArray a = read_npy(path);
  const bool integral = !a.dtype.empty() && (a.dtype[1] == 'i' || a.dtype[1] == 'u' || a.dtype[1] == 'b');
  if (integral) {
    auto v = a.as_int64();
    return torch::from_blob(v.data(), a.shape, torch::kLong).clone();
  }
  if (a.dtype == "<f2")  // float16, as atlas matrices are stored
    return torch::from_blob(a.data.data(), a.shape, torch::kHalf).to(torch::kFloat32);
  auto v = a.as_float();
  return torch::from_blob(v.data(), a.shape, torch::kFloat32).clone();
}

std::vector<float> tensor_values(const torch::Tensor& tensor) {
  const torch::Tensor c = tensor.to(torch::kCPU, torch::kFloat).contiguous();
  return {c.data_ptr<float>(), c.data_ptr<float>() + c.numel()};
}

void write_npy_tensor(const std::filesystem::path& path, const torch::Tensor& tensor) {
  torch::Tensor t = tensor.detach().to(torch::kCPU).contiguous();
  const auto shape = t.sizes().vec();
  if (t.is_floating_point()) {
    t = t.to(torch::kFloat32);
    write_npy(path, shape, t.data_ptr<float>());
  } else {
    t = t.to(torch::kLong);
    write_npy(path, shape, t.data_ptr<int64_t>());
  }
}

torch::Tensor preprocess_batch(const std::vector<Image>& images, int n_px, const Normalization& normalization) {
  auto batch = torch::empty({static_cast<int64_t>(images.size()), 3, n_px, n_px});
  for (size_t i = 0; i < images.size(); ++i) {
    auto chw = clip_preprocess(images[i], n_px, normalization);
    batch[static_cast<int64_t>(i)].copy_(torch::from_blob(chw.data(), {3, n_px, n_px}, torch::kFloat32));
  }
  return batch;
}

torch::Tensor image_to_tensor(const Image& image) {
  auto chw = to_chw_float(image);
  return torch::from_blob(chw.data(), {3, image.height, image.width}, torch::kFloat32).clone();
}

Image tensor_to_image(const torch::Tensor& chw) {
  if (chw.dim() != 3 || chw.size(0) != 3)
    throw Error(fmt::format("an image tensor must be (3, H, W), got {}", fmt::join(chw.sizes(), "x")));
  const torch::Tensor hwc = chw.detach()
                                .to(torch::kCPU, torch::kFloat32)
                                .clamp(0, 1)
                                .mul(255)
                                .round()
                                .to(torch::kUInt8)
                                .permute({1, 2, 0})
                                .contiguous();
  Image image;
  image.width = static_cast<int>(chw.size(2));
  image.height = static_cast<int>(chw.size(1));
  image.rgb.assign(hwc.data_ptr<uint8_t>(), hwc.data_ptr<uint8_t>() + hwc.numel());
  return image;
}

torch::Tensor load_image_batch(const std::vector<std::filesystem::path>& paths, int n_px,
                               const Normalization& normalization) {
  std::vector<Image> images;
  images.reserve(paths.size());
  for (const auto& p : paths) images.push_back(read_image(p));
  return preprocess_batch(images, n_px, normalization);
}

torch::Tensor tokenize_batch(const Tokenizer& tokenizer, const std::vector<std::string>& texts, int context_length,
                             bool truncate) {
  auto out = torch::zeros({static_cast<int64_t>(texts.size()), context_length}, torch::kLong);
  auto acc = out.accessor<int64_t, 2>();
  for (size_t i = 0; i < texts.size(); ++i) {
    const auto ids = tokenizer.tokenize(texts[i], context_length, truncate);
    for (size_t j = 0; j < ids.size(); ++j) acc[static_cast<int64_t>(i)][static_cast<int64_t>(j)] = ids[j];
  }
  return out;
}

}  // namespace clipscope
