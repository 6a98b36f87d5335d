#include "core/util/npy.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <limits>
#include <regex>

#include "core/util/error.h"
#include "core/util/files.h"
#include "core/util/strings.h"

namespace clipscope {
namespace {

constexpr char kMagic[] = "\x93NUMPY";

size_t dtype_size(const std::string& descr) {
  if (descr.size() < 3) return 0;
  return to_number<size_t>(std::string_view(descr).substr(2)).value_or(0);
}

template <typename T>
std::vector<T> convert(const NpyArray& a) {
  const int64_t n = a.numel();
  std::vector<T> out(static_cast<size_t>(n));
  const char kind = a.dtype.size() > 1 ? a.dtype[1] : '?';
  const size_t size = a.item_size();
  const char* p = a.data.data();
  for (int64_t i = 0; i < n; ++i, p += size) {
    double v = 0;
    if (kind == 'f' && size == 4) {
      float f;
      std::memcpy(&f, p, 4);
      v = f;
    } else if (kind == 'f' && size == 8) {
      double d;
      std::memcpy(&d, p, 8);
      v = d;
    } else if (kind == 'i' && size == 8) {
      int64_t x;
      std::memcpy(&x, p, 8);
      out[i] = static_cast<T>(x);
      continue;
    } else if (kind == 'i' && size == 4) {
      int32_t x;
      std::memcpy(&x, p, 4);
      v = x;
    } else if (kind == 'u' && size == 1) {
      v = static_cast<uint8_t>(*p);
    } else if (kind == 'b' && size == 1) {
      v = *p != 0;
    } else
      throw Error(fmt::format("unsupported .npy dtype '{}'", a.dtype));
    out[i] = static_cast<T>(v);
  }
  return out;
}

}  // namespace

std::string npy_preamble(const std::string& descr, const std::vector<int64_t>& shape, size_t min_size) {
  std::string shape_str = "(";
  for (size_t i = 0; i < shape.size(); ++i)
    shape_str += fmt::format("{}{}", shape[i], shape.size() == 1 ? "," : (i + 1 < shape.size() ? ", " : ""));
  shape_str += ")";
  std::string header = fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': {}, }}", descr, shape_str);
  const size_t unpadded = 10 + header.size() + 1;
  const size_t total = std::max(min_size, unpadded + (64 - unpadded % 64) % 64);
  header.append(total - unpadded, ' ');
  header += '\n';
  const uint16_t len = static_cast<uint16_t>(header.size());
  std::string out(kMagic, 6);
  out += std::string{1, 0};
  out += static_cast<char>(len & 0xff);
  out += static_cast<char>(len >> 8);
  return out + header;
}

namespace {

void write_raw(const std::filesystem::path& path, const std::string& descr, const std::vector<int64_t>& shape,
               const char* data, size_t bytes) {
  const std::string preamble = npy_preamble(descr, shape);
  std::ofstream f(path, std::ios::binary);
  if (!f) throw Error(fmt::format("{}: cannot open for writing", path.string()));
  f.write(preamble.data(), static_cast<std::streamsize>(preamble.size()));
  f.write(data, static_cast<std::streamsize>(bytes));
  if (!f) throw Error(fmt::format("{}: write failed", path.string()));
}

}  // namespace

int64_t NpyArray::numel() const {
  int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

size_t NpyArray::item_size() const { return dtype_size(dtype); }
std::vector<float> NpyArray::as_float() const { return convert<float>(*this); }
std::vector<int64_t> NpyArray::as_int64() const { return convert<int64_t>(*this); }

NpyHeader read_npy_header(std::istream& f, const std::filesystem::path& path) {
  char magic[8];
  if (!f.read(magic, 8) || std::memcmp(magic, kMagic, 6) != 0)
    throw Error(fmt::format("{}: not a .npy file", path.string()));
  const int major = magic[6];
  size_t header_len = 0;
  if (major == 1) {
    unsigned char b[2];
    f.read(reinterpret_cast<char*>(b), 2);
    header_len = b[0] | (b[1] << 8);
  } else {
    unsigned char b[4];
    f.read(reinterpret_cast<char*>(b), 4);
    header_len = b[0] | (b[1] << 8) | (b[2] << 16) | (static_cast<size_t>(b[3]) << 24);
  }
  std::string header(header_len, '\0');
  if (!f.read(header.data(), static_cast<std::streamsize>(header_len)))
    throw Error(fmt::format("{}: truncated .npy header", path.string()));

  std::smatch m;
  NpyHeader h;
  if (!std::regex_search(header, m, std::regex("'descr':\\s*'([^']+)'")))
    throw Error(fmt::format("{}: .npy header has no descr", path.string()));
  h.dtype = m[1];
  if (h.dtype[0] == '>') throw Error(fmt::format("{}: big-endian .npy is not supported", path.string()));
  if (std::regex_search(header, m, std::regex("'fortran_order':\\s*True")))
    throw Error(fmt::format("{}: Fortran-order .npy is not supported", path.string()));
  if (!std::regex_search(header, m, std::regex("'shape':\\s*\\(([^)]*)\\)")))
    throw Error(fmt::format("{}: .npy header has no shape", path.string()));
  const std::string dims = m[1];
  std::regex num("\\d+");
  for (auto it = std::sregex_iterator(dims.begin(), dims.end(), num); it != std::sregex_iterator(); ++it)
    h.shape.push_back(parse_number<int64_t>(it->str(), fmt::format("{}: .npy shape", path.string())));
  h.data_offset = static_cast<size_t>(f.tellg());
  return h;
}

NpyArray read_npy(const std::filesystem::path& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error(fmt::format("{}: cannot open .npy file", path.string()));
  const NpyHeader h = read_npy_header(f, path);
  NpyArray a;
  a.dtype = h.dtype;
  a.shape = h.shape;
  const size_t bytes = static_cast<size_t>(a.numel()) * a.item_size();
  a.data.resize(bytes);
  if (!f.read(a.data.data(), static_cast<std::streamsize>(bytes)))
    throw Error(fmt::format("{}: truncated .npy data", path.string()));
  return a;
}

void write_npy(const std::filesystem::path& path, const NpyArray& a) {
  write_raw(path, a.dtype, a.shape, a.data.data(), a.data.size());
}

void write_npy(const std::filesystem::path& path, const std::vector<int64_t>& shape, const float* data) {
  int64_t n = 1;
  for (auto d : shape) n *= d;
  write_raw(path, "<f4", shape, reinterpret_cast<const char*>(data), static_cast<size_t>(n) * 4);
}

void write_npy(const std::filesystem::path& path, const std::vector<int64_t>& shape, const int64_t* data) {
  int64_t n = 1;
  for (auto d : shape) n *= d;
  write_raw(path, "<i8", shape, reinterpret_cast<const char*>(data), static_cast<size_t>(n) * 8);
}

}  // namespace clipscope

namespace clipscope {

NpyRowWriter::NpyRowWriter(std::filesystem::path path, std::vector<int64_t> row_shape)
    : path_(std::move(path)), part_(partial_path(path_)), row_shape_(std::move(row_shape)) {
  row_floats_ = 1;
  for (auto d : row_shape_) row_floats_ *= static_cast<size_t>(d);
  // Room in the header for any row count, so close() can rewrite it in place.
  std::vector<int64_t> widest = row_shape_;
  widest.insert(widest.begin(), std::numeric_limits<int64_t>::max());
  preamble_size_ = npy_preamble("<f4", widest).size();
  file_.open(part_, std::ios::binary | std::ios::trunc);
  if (!file_) throw Error(fmt::format("{}: cannot open for writing", part_.string()));
  const std::string blank(preamble_size_, ' ');
  file_.write(blank.data(), static_cast<std::streamsize>(blank.size()));
}

NpyRowWriter::~NpyRowWriter() {
  if (!closed_) {
    file_.close();
    std::error_code ec;
    std::filesystem::remove(part_, ec);
  }
}

void NpyRowWriter::append(const float* data, size_t rows) {
  file_.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(rows * row_floats_ * sizeof(float)));
  if (!file_) throw Error(fmt::format("{}: write failed (disk full?)", part_.string()));
  rows_ += rows;
}

void NpyRowWriter::close() {
  std::vector<int64_t> shape = row_shape_;
  shape.insert(shape.begin(), static_cast<int64_t>(rows_));
  const std::string preamble = npy_preamble("<f4", shape, preamble_size_);
  file_.seekp(0);
  file_.write(preamble.data(), static_cast<std::streamsize>(preamble.size()));
  file_.close();
  if (!file_) throw Error(fmt::format("{}: write failed (disk full?)", part_.string()));
  closed_ = true;  // committed or removed: the destructor has nothing left to clean up
  commit_partial(part_, path_);
}

}  // namespace clipscope
