#include "support/shared_data.h"

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <random>
#include <vector>

namespace clipscope::testing {

std::optional<std::filesystem::path> shared_dir() {
  if (const char* env = std::getenv("CLIPSCOPE_SHARED"); env && *env) {
    if (std::filesystem::is_directory(env)) return std::filesystem::path(env);
    return std::nullopt;
  }
  auto p = std::filesystem::path(CLIPSCOPE_SOURCE_DIR).parent_path() / "shared";
  if (std::filesystem::is_directory(p / "fixtures")) return p;
  return std::nullopt;
}

namespace {
struct TempDirs {
  std::vector<std::filesystem::path> dirs;
  ~TempDirs() {
    std::error_code ec;
    for (auto& d : dirs) std::filesystem::remove_all(d, ec);
  }
};
TempDirs& temp_dirs() {
  static TempDirs t;
  return t;
}
}  // namespace

std::filesystem::path temp_dir(const std::string& prefix) {
  std::random_device rd;
  auto dir =
      std::filesystem::temp_directory_path() / (prefix + "-" + std::to_string(rd()) + "-" + std::to_string(rd()));
  std::filesystem::create_directories(dir);
  temp_dirs().dirs.push_back(dir);
  return dir;
}

void write_file(const std::filesystem::path& path, const std::string& bytes) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary);
  out << bytes;
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void expect_same_text(const std::string& a, const std::string& b, const std::string& what) {
  if (a == b) return;
  const size_t n = std::min(a.size(), b.size());
  size_t at = 0;
  while (at < n && a[at] == b[at]) ++at;
  const size_t newline = at == 0 ? std::string::npos : a.rfind('\n', at - 1);
  const size_t line = newline == std::string::npos ? 0 : newline + 1;
  ADD_FAILURE() << what << " differ at byte " << at << " of " << a.size() << " / " << b.size() << ":\n  "
                << a.substr(line, 200) << "\nvs\n  " << b.substr(line, 200);
}

}  // namespace clipscope::testing
