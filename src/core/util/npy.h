#pragma once
// NumPy .npy files (format 1.0/2.0, little-endian, C order), without LibTorch so
// that every part of clipscope can read and write them.
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace clipscope {

struct NpyArray {
  std::string dtype;  // NumPy descr, e.g. "<f4", "<i8", "|u1"
  std::vector<int64_t> shape;
  std::vector<char> data;  // raw little-endian bytes, C order

  int64_t numel() const;
  size_t item_size() const;
  // Copies of the data converted to float / int64 (any numeric dtype accepted).
  std::vector<float> as_float() const;
  std::vector<int64_t> as_int64() const;
};

NpyArray read_npy(const std::filesystem::path& path);

// A .npy file's header, for reading its data in place (memory-mapped or by offset).
struct NpyHeader {
  std::string dtype;
  std::vector<int64_t> shape;
  size_t data_offset = 0;  // where the C-order data starts
};
NpyHeader read_npy_header(std::istream& in, const std::filesystem::path& path);
// Magic, version, header length and the header dict, padded with spaces so the
// whole preamble is a multiple of 64 bytes and at least `min_size` long.
std::string npy_preamble(const std::string& descr, const std::vector<int64_t>& shape, size_t min_size = 0);
void write_npy(const std::filesystem::path& path, const NpyArray& array);
void write_npy(const std::filesystem::path& path, const std::vector<int64_t>& shape, const float* data);
void write_npy(const std::filesystem::path& path, const std::vector<int64_t>& shape, const int64_t* data);

// A float32 array written row by row as results arrive, so memory stays bounded
// however many rows there are. Data goes to PATH.part; close() fixes the row count
// in the header and renames it to PATH, so a killed run never leaves a PATH that
// looks complete. Without close() (an error) the .part file is removed.
class NpyRowWriter {
 public:
  NpyRowWriter(std::filesystem::path path, std::vector<int64_t> row_shape);
  ~NpyRowWriter();
  NpyRowWriter(const NpyRowWriter&) = delete;
  NpyRowWriter& operator=(const NpyRowWriter&) = delete;
  void append(const float* data, size_t rows);  // rows * prod(row_shape) floats
  void close();
  size_t rows() const { return rows_; }
  const std::vector<int64_t>& row_shape() const { return row_shape_; }

 private:
  std::filesystem::path path_, part_;
  std::vector<int64_t> row_shape_;
  size_t row_floats_ = 0, rows_ = 0, preamble_size_ = 0;
  std::ofstream file_;
  bool closed_ = false;
};

}  // namespace clipscope
