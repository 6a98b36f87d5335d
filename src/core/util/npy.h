#pragma once
// NumPy .npy files (format 1.0/2.0, little-endian, C order), without LibTorch so
// that every part of clipscope can read and write them.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace clipscope {

struct NpyArray {
  std::string dtype;             // NumPy descr, e.g. "<f4", "<i8", "|u1"
  std::vector<int64_t> shape;
  std::vector<char> data;        // raw little-endian bytes, C order

  int64_t numel() const;
  size_t item_size() const;
  // Copies of the data converted to float / int64 (any numeric dtype accepted).
  std::vector<float> as_float() const;
  std::vector<int64_t> as_int64() const;
};

NpyArray read_npy(const std::filesystem::path& path);
void write_npy(const std::filesystem::path& path, const NpyArray& array);
void write_npy(const std::filesystem::path& path, const std::vector<int64_t>& shape, const float* data);
void write_npy(const std::filesystem::path& path, const std::vector<int64_t>& shape, const int64_t* data);

}  // namespace clipscope
