#include "core/util/files.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "core/util/error.h"
#include "core/util/strings.h"

namespace clipscope {

namespace fs = std::filesystem;

fs::path partial_path(const fs::path& path) { return path.string() + ".part"; }

void commit_partial(const fs::path& part, const fs::path& path) {
  std::error_code ec;
  fs::rename(part, path, ec);
  if (!ec) return;
  std::error_code ignored;
  fs::remove_all(part, ignored);
  throw Error(fmt::format("{}: cannot write ({})", path.string(), ec.message()));
}

void write_atomically(const fs::path& path, const std::function<void(const fs::path& part)>& write) {
  const fs::path part = partial_path(path);
  try {
    write(part);
  } catch (...) {
    std::error_code ignored;
    fs::remove_all(part, ignored);
    throw;
  }
  commit_partial(part, path);
}

void write_file_atomically(const fs::path& path, std::string_view bytes) {
  write_atomically(path, [&](const fs::path& part) {
    std::FILE* f = std::fopen(part.c_str(), "wb");
    if (!f) throw Error(fmt::format("{}: cannot write ({})", path.string(), std::strerror(errno)));
    const bool written = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size() && std::fflush(f) == 0;
    const int saved = errno;
    const bool closed = std::fclose(f) == 0;
    if (!written || !closed)
      throw Error(fmt::format("{}: cannot write ({})", path.string(), std::strerror(written ? errno : saved)));
  });
}

std::vector<std::string> read_list_file(const std::filesystem::path& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ArgumentError(what, path.string(), "cannot open");
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) {
    const auto entry = trim(line);
    if (!entry.empty() && entry.front() != '#') out.emplace_back(entry);
  }
  if (in.bad()) throw ArgumentError(what, path.string(), "read error");
  if (out.empty()) throw ArgumentError(what, path.string(), "has no entries");
  return out;
}

}  // namespace clipscope
