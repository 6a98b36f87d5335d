#pragma once
// The atlas's optional full activation matrices: one (units, images) float16 .npy
// per layer and quantity, unit-major so that everything about one unit — a
// histogram, buckets for a conditional-probability plot, a correlation with another
// unit — is one contiguous read (2 MB for a million images). Standard .npy, so
// numpy.load(path, mmap_mode="r") opens it too. Unreadable images are NaN.
#include <cstdint>
#include <filesystem>
#include <vector>

namespace clipscope::atlas {

// Writes a matrix in place, column block by column block, as images stream in. The
// file is created at full size up front, so a resumed run reopens it and rewrites
// only the columns after its last checkpoint.
class MatrixWriter {
 public:
  // resume_at > 0: keep the existing file (it must have this shape) and write from
  // that column on; 0 creates the file afresh.
  MatrixWriter(std::filesystem::path path, int64_t units, int64_t columns, int64_t resume_at = 0,
               int64_t block_columns = 1024);
  ~MatrixWriter();
  MatrixWriter(const MatrixWriter&) = delete;
  MatrixWriter& operator=(const MatrixWriter&) = delete;

  // Column `column` (>= the last flushed one) gets values[u * stride] for every unit u.
  void set_column(int64_t column, const float* values, int64_t stride);
  // Writes every column before `end` that is still buffered (columns never set are
  // NaN) and syncs the file: after this, columns < end are on disk.
  void flush(int64_t end);
  const std::filesystem::path& path() const { return path_; }

 private:
  void write_block(int64_t end);
  std::filesystem::path path_;
  int64_t units_, columns_, block_;
  int fd_ = -1;
  size_t data_offset_ = 0;
  int64_t block_start_ = 0;       // first column held in the buffer
  std::vector<uint16_t> buffer_;  // units × block_, float16 bits
};

// Copies every row of matrix `from` (units, n) into columns [first_column,
// first_column + n) of matrix `to` (units, m), row by row (memory: one row), and syncs.
void copy_matrix_columns(const std::filesystem::path& from, const std::filesystem::path& to, int64_t first_column);

// One unit's row of a matrix file, as float (NaN for unreadable images).
std::vector<float> read_matrix_row(const std::filesystem::path& path, int64_t unit);
// The shape (units, columns) of a matrix file.
std::vector<int64_t> matrix_shape(const std::filesystem::path& path);

}  // namespace clipscope::atlas
