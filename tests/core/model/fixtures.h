#pragma once
// Shared helpers for the model tests: the reference fixtures of ../shared/fixtures.
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/model/tensor_io.h"

namespace clipscope::testing {

inline nlohmann::json read_manifest(const std::filesystem::path& shared) {
  std::ifstream f(shared / "fixtures" / "manifest.json");
  return nlohmann::json::parse(f);
}

// max |a - b| / max |b|, the parity measure of ../shared/README.md.
inline double relative_error(const torch::Tensor& actual, const torch::Tensor& expected) {
  auto a = actual.detach().to(torch::kCPU, torch::kDouble);
  auto b = expected.detach().to(torch::kCPU, torch::kDouble);
  EXPECT_EQ(a.sizes(), b.sizes());
  if (a.sizes() != b.sizes()) return 1e9;
  return ((a - b).abs().max() / b.abs().max()).item<double>();
}

// The preprocessed fixture batch of a model (OpenAI's preprocessing output), in manifest order.
inline torch::Tensor fixture_images(const std::filesystem::path& shared, const nlohmann::json& manifest,
                                    const std::string& model) {
  const auto& m = manifest["models"][model];
  const std::string res = std::to_string(m["config"]["image_resolution"].get<int>());
  std::vector<torch::Tensor> images;
  for (const auto& name : m["input_batch"])
    images.push_back(
        read_npy_tensor(shared / "fixtures" / manifest["images"][name.get<std::string>()][res].get<std::string>())
            .reshape({3, std::stoi(res), std::stoi(res)}));
  return torch::stack(images);
}

}  // namespace clipscope::testing
