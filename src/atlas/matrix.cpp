#include "atlas/matrix.h"

#include <c10/util/Half.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>

#include "core/util/error.h"
#include "core/util/npy.h"

namespace clipscope::atlas {

namespace fs = std::filesystem;

namespace {

uint16_t half_bits(float value) { return c10::Half(value).x; }
float from_half_bits(uint16_t bits) { return static_cast<float>(c10::Half(bits, c10::Half::from_bits())); }

void write_all(int fd, const void* data, size_t bytes, size_t offset, const fs::path& path) {
  const char* p = static_cast<const char*>(data);
  while (bytes > 0) {
    const ssize_t n = ::pwrite(fd, p, bytes, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      throw Error(fmt::format("{}: cannot write ({})", path.string(), std::strerror(errno)));
    }
    p += n;
    offset += static_cast<size_t>(n);
    bytes -= static_cast<size_t>(n);
  }
}

NpyHeader header_of(const fs::path& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error(fmt::format("{}: cannot open activation matrix", path.string()));
  NpyHeader h = read_npy_header(f, path);
  if (h.dtype != "<f2" || h.shape.size() != 2)
    throw Error(fmt::format("{}: not an atlas matrix (expected 2-d float16)", path.string()));
  return h;
}

}  // namespace

MatrixWriter::MatrixWriter(fs::path path, int64_t units, int64_t columns, int64_t resume_at, int64_t block_columns)
    : path_(std::move(path)), units_(units), columns_(columns), block_(block_columns), block_start_(resume_at) {
  const bool resume = resume_at > 0;
  if (resume) {
    const NpyHeader h = header_of(path_);
    if (h.shape != std::vector<int64_t>{units, columns})
      throw Error(fmt::format("{}: has shape ({}, {}), the atlas expects ({}, {})", path_.string(), h.shape[0],
                              h.shape[1], units, columns));
    data_offset_ = h.data_offset;
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CLOEXEC);
  } else {
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  }
  if (fd_ < 0) throw Error(fmt::format("{}: cannot open for writing ({})", path_.string(), std::strerror(errno)));
  if (!resume) {
    const std::string preamble = npy_preamble("<f2", {units, columns});
    write_all(fd_, preamble.data(), preamble.size(), 0, path_);
    data_offset_ = preamble.size();
    // Full size now (sparse until written), so a resumed run finds it.
    const auto size = static_cast<off_t>(data_offset_ + static_cast<size_t>(units * columns) * 2);
    if (::ftruncate(fd_, size) != 0)
      throw Error(fmt::format("{}: cannot size the file ({})", path_.string(), std::strerror(errno)));
  }
  buffer_.assign(static_cast<size_t>(units_ * block_), half_bits(std::numeric_limits<float>::quiet_NaN()));
}

MatrixWriter::~MatrixWriter() {
  if (fd_ >= 0) ::close(fd_);
}

void MatrixWriter::set_column(int64_t column, const float* values, int64_t stride) {
  if (column < block_start_ || column >= columns_)
    throw Error(fmt::format("{}: column {} written out of order", path_.string(), column));
  while (column >= block_start_ + block_) write_block(block_start_ + block_);
  const int64_t at = column - block_start_;
  for (int64_t u = 0; u < units_; ++u) buffer_[static_cast<size_t>(u * block_ + at)] = half_bits(values[u * stride]);
}

void MatrixWriter::write_block(int64_t end) {
  const int64_t n = end - block_start_;
  if (n > 0) {
    for (int64_t u = 0; u < units_; ++u) {
      const size_t offset = data_offset_ + static_cast<size_t>(u * columns_ + block_start_) * 2;
      write_all(fd_, buffer_.data() + u * block_, static_cast<size_t>(n) * 2, offset, path_);
    }
  }
  // The columns after `end` in the buffer (none, unless flushed mid-block) move to the front.
  const int64_t keep = block_ - n;
  const uint16_t nan = half_bits(std::numeric_limits<float>::quiet_NaN());
  for (int64_t u = 0; u < units_; ++u) {
    uint16_t* row = buffer_.data() + u * block_;
    std::memmove(row, row + n, static_cast<size_t>(keep) * 2);
    std::fill(row + keep, row + block_, nan);
  }
  block_start_ = end;
}

void MatrixWriter::flush(int64_t end) {
  end = std::min(end, columns_);
  while (end > block_start_ + block_) write_block(block_start_ + block_);
  if (end > block_start_) write_block(end);
  if (::fdatasync(fd_) != 0) throw Error(fmt::format("{}: cannot sync ({})", path_.string(), std::strerror(errno)));
}

void copy_matrix_columns(const fs::path& from, const fs::path& to, int64_t first_column) {
  const NpyHeader source = header_of(from), target = header_of(to);
  if (first_column < 0 || source.shape[0] != target.shape[0] || first_column + source.shape[1] > target.shape[1])
    throw Error(fmt::format("{}: shape ({}, {}) does not fit columns {}- of {}", from.string(), source.shape[0],
                            source.shape[1], first_column, to.string()));
  std::ifstream in(from, std::ios::binary);
  const int fd = ::open(to.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) throw Error(fmt::format("{}: cannot open for writing ({})", to.string(), std::strerror(errno)));
  std::vector<char> row(static_cast<size_t>(source.shape[1]) * 2);
  try {
    in.seekg(static_cast<std::streamoff>(source.data_offset));
    for (int64_t u = 0; u < source.shape[0]; ++u) {
      if (!in.read(row.data(), static_cast<std::streamsize>(row.size())))
        throw Error(fmt::format("{}: truncated activation matrix", from.string()));
      const size_t offset = target.data_offset + static_cast<size_t>(u * target.shape[1] + first_column) * 2;
      write_all(fd, row.data(), row.size(), offset, to);
    }
    if (::fdatasync(fd) != 0) throw Error(fmt::format("{}: cannot sync ({})", to.string(), std::strerror(errno)));
  } catch (...) {
    ::close(fd);
    throw;
  }
  ::close(fd);
}

std::vector<int64_t> matrix_shape(const fs::path& path) { return header_of(path).shape; }

std::vector<float> read_matrix_row(const fs::path& path, int64_t unit) {
  const NpyHeader h = header_of(path);
  if (unit < 0 || unit >= h.shape[0])
    throw Error(fmt::format("{}: unit {} out of range (0-{})", path.string(), unit, h.shape[0] - 1));
  const auto columns = static_cast<size_t>(h.shape[1]);
  std::vector<uint16_t> bits(columns);
  std::ifstream f(path, std::ios::binary);
  f.seekg(static_cast<std::streamoff>(h.data_offset + static_cast<size_t>(unit) * columns * 2));
  if (!f.read(reinterpret_cast<char*>(bits.data()), static_cast<std::streamsize>(columns * 2)))
    throw Error(fmt::format("{}: truncated activation matrix", path.string()));
  std::vector<float> row(columns);
  for (size_t i = 0; i < columns; ++i) row[i] = from_half_bits(bits[i]);
  return row;
}

}  // namespace clipscope::atlas
