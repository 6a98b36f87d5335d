#include "core/model/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>

#include "core/util/error.h"

namespace clipscope {
namespace fs = std::filesystem;

namespace {

// The spec caps the header at 100 MB.
constexpr uint64_t kMaxHeader = 100'000'000;

struct Mapping {
  void* data = MAP_FAILED;
  size_t size = 0;
  ~Mapping() {
    if (data != MAP_FAILED) munmap(data, size);
  }
};

std::optional<torch::ScalarType> dtype_of(const std::string& name) {
  static const std::map<std::string, torch::ScalarType> types = {
      {"F64", torch::kDouble}, {"F32", torch::kFloat}, {"F16", torch::kHalf},  {"BF16", torch::kBFloat16},
      {"I64", torch::kLong},   {"I32", torch::kInt},   {"I16", torch::kShort}, {"I8", torch::kChar},
      {"U8", torch::kByte},    {"BOOL", torch::kBool},
  };
  auto it = types.find(name);
  if (it == types.end()) return std::nullopt;
  return it->second;
}

uint64_t little_endian_u64(const unsigned char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

}  // namespace

bool looks_like_safetensors(const fs::path& path) {
  std::ifstream f(path, std::ios::binary);
  unsigned char head[9] = {};
  if (!f.read(reinterpret_cast<char*>(head), 9)) return false;
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  const uint64_t n = little_endian_u64(head);
  return !ec && head[8] == '{' && n >= 2 && n <= kMaxHeader && n <= size - 8;
}

namespace {

// The whole file, mapped read-only; the tensors keep the mapping alive.
std::shared_ptr<Mapping> map_file(const fs::path& path) {
  const std::string where = path.string();
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(fmt::format("{}: cannot open: {}", where, std::strerror(errno)));
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    ::close(fd);
    throw Error(fmt::format("{}: cannot stat: {}", where, std::strerror(errno)));
  }
  auto map = std::make_shared<Mapping>();
  map->size = static_cast<size_t>(st.st_size);
  if (map->size < 8) {
    ::close(fd);
    throw Error(fmt::format("{}: truncated safetensors file ({} bytes, not even a header length)", where, map->size));
  }
  map->data = mmap(nullptr, map->size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (map->data == MAP_FAILED) throw Error(fmt::format("{}: cannot map: {}", where, std::strerror(errno)));
  return map;
}

// The JSON header after the 8-byte length; `header_size` is that length.
nlohmann::json read_header(const Mapping& map, const std::string& where, uint64_t& header_size) {
  const auto* bytes = static_cast<const unsigned char*>(map.data);
  header_size = little_endian_u64(bytes);
  if (header_size > kMaxHeader || header_size > map.size - 8)
    throw Error(
        fmt::format("{}: safetensors header says {} bytes but the file has {} after the length (truncated or not "
                    "a safetensors file)",
                    where, header_size, map.size - 8));
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(bytes + 8, bytes + 8 + header_size);
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("{}: safetensors header is not valid JSON ({})", where, e.what()));
  }
  if (!header.is_object()) throw Error(fmt::format("{}: safetensors header is not a JSON object", where));
  return header;
}

// One header entry checked against the data and viewed as a tensor over the mapping
// (copied when unaligned); its byte range goes to `ranges`.
torch::Tensor tensor_entry(const std::string& name, const nlohmann::json& info, const unsigned char* data,
                           uint64_t data_size, const std::shared_ptr<Mapping>& map, const std::string& where,
                           std::vector<std::pair<uint64_t, uint64_t>>& ranges) {
  auto bad = [&](const std::string& what) { return Error(fmt::format("{}: tensor '{}': {}", where, name, what)); };
  if (!info.is_object() || !info.contains("dtype") || !info.contains("shape") || !info.contains("data_offsets"))
    throw bad("header entry lacks dtype, shape or data_offsets");
  if (!info["dtype"].is_string()) throw bad("dtype is not a string");
  const std::string dtype_name = info["dtype"].get<std::string>();
  const auto dtype = dtype_of(dtype_name);
  if (!dtype) throw bad(fmt::format("unsupported dtype {}", dtype_name));
  const auto& shape_json = info["shape"];
  const auto& offsets = info["data_offsets"];
  if (!shape_json.is_array()) throw bad("shape is not a list");
  std::vector<int64_t> shape;
  uint64_t numel = 1;
  for (const auto& d : shape_json) {
    if (!d.is_number_unsigned()) throw bad("shape holds a value that is not a non-negative integer");
    const auto dim = d.get<uint64_t>();
    if (dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) || __builtin_mul_overflow(numel, dim, &numel))
      throw bad("shape is too large");
    shape.push_back(static_cast<int64_t>(dim));
  }
  if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
      !offsets[1].is_number_unsigned())
    throw bad("data_offsets is not a pair of non-negative integers");
  const auto begin = offsets[0].get<uint64_t>(), end = offsets[1].get<uint64_t>();
  const auto element = static_cast<uint64_t>(c10::elementSize(*dtype));
  uint64_t expected = 0;
  if (__builtin_mul_overflow(numel, element, &expected)) throw bad("shape is too large");
  if (begin > end || end > data_size)
    throw bad(fmt::format("data_offsets [{}, {}] lie outside the {} data bytes of the file", begin, end, data_size));
  if (end - begin != expected)
    throw bad(fmt::format("data_offsets [{}, {}] hold {} bytes but {} [{}] needs {}", begin, end, end - begin,
                          dtype_name, fmt::join(shape, ", "), expected));
  ranges.emplace_back(begin, end);
  if (numel == 0) return torch::empty(shape, torch::TensorOptions().dtype(*dtype));
  const void* ptr = data + begin;
  torch::Tensor t = torch::from_blob(
      const_cast<void*>(ptr), shape, [map](void*) {}, torch::TensorOptions().dtype(*dtype));
  // Kernels may assume element alignment; an unaligned range is copied.
  if (reinterpret_cast<uintptr_t>(ptr) % element != 0) t = t.clone();
  return t;
}

// The format allows no overlaps and no holes: the ranges tile the data exactly.
void check_tiling(std::vector<std::pair<uint64_t, uint64_t>> ranges, uint64_t data_size, const std::string& where) {
  std::sort(ranges.begin(), ranges.end());
  uint64_t covered = 0;
  for (const auto& [begin, end] : ranges) {
    if (begin != covered)
      throw Error(fmt::format("{}: safetensors data ranges {} at byte {} (header lies about sizes)", where,
                              begin < covered ? "overlap" : "leave a hole", std::min(begin, covered)));
    covered = end;
  }
  if (covered != data_size)
    throw Error(fmt::format("{}: safetensors header accounts for {} data bytes but the file has {}", where, covered,
                            data_size));
}

}  // namespace

SafetensorsFile read_safetensors(const fs::path& path) {
  const std::string where = path.string();
  const auto map = map_file(path);
  uint64_t header_size = 0;
  const nlohmann::json header = read_header(*map, where, header_size);
  const unsigned char* data = static_cast<const unsigned char*>(map->data) + 8 + header_size;
  const uint64_t data_size = map->size - 8 - header_size;
  SafetensorsFile out;
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (const auto& [name, info] : header.items()) {
    if (name == "__metadata__") {
      if (!info.is_object()) throw Error(fmt::format("{}: __metadata__ is not an object", where));
      for (const auto& [k, v] : info.items()) out.metadata[k] = v.is_string() ? v.get<std::string>() : v.dump();
      continue;
    }
    out.tensors[name] = tensor_entry(name, info, data, data_size, map, where, ranges);
  }
  check_tiling(std::move(ranges), data_size, where);
  return out;
}

}  // namespace clipscope
