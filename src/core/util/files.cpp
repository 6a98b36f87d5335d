#include "core/util/files.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "core/util/error.h"

namespace clipscope {

namespace fs = std::filesystem;

void write_file_atomically(const fs::path& path, std::string_view bytes) {
  const fs::path part = path.string() + ".part";
  std::FILE* f = std::fopen(part.c_str(), "wb");
  if (!f) throw Error(fmt::format("{}: cannot write ({})", path.string(), std::strerror(errno)));
  const bool written = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size() && std::fflush(f) == 0;
  const int saved = errno;
  const bool closed = std::fclose(f) == 0;
  std::error_code ec;
  if (!written || !closed) {
    fs::remove(part, ec);
    throw Error(fmt::format("{}: cannot write ({})", path.string(), std::strerror(written ? errno : saved)));
  }
  fs::rename(part, path, ec);
  if (ec) {
    std::error_code ignored;
    fs::remove(part, ignored);
    throw Error(fmt::format("{}: cannot write ({})", path.string(), ec.message()));
  }
}

}  // namespace clipscope
