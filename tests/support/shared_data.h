#pragma once
// Locating ../shared (reference fixtures and data) from tests, and small helpers
// the tests share.
#include <gtest/gtest.h>

#include <filesystem>
#include <optional>
#include <string>

#include "core/util/error.h"

namespace clipscope::testing {

// $CLIPSCOPE_SHARED, else <source>/../shared; nullopt when neither exists.
std::optional<std::filesystem::path> shared_dir();

// A fresh, empty temporary directory removed at process exit.
std::filesystem::path temp_dir(const std::string& prefix = "clipscope-test");

// Writes `bytes` to `path` in binary mode, creating its parent directories.
void write_file(const std::filesystem::path& path, const std::string& bytes);

// The whole of the file at `path`, read in binary mode ("" when it cannot be read).
std::string read_file(const std::filesystem::path& path);

// Equal texts, or a failure showing the first line where they part (gtest's own
// diff of megabytes would take gigabytes).
void expect_same_text(const std::string& a, const std::string& b, const std::string& what);

// The message of the clipscope::Error that `fn` throws ("" when it throws none).
template <typename Fn>
std::string error_message(Fn&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace clipscope::testing

// Skips the current test with a clear message when ../shared is absent and binds
// `shared` to its path.
#define CLIPSCOPE_REQUIRE_SHARED(shared)                                                     \
  auto shared##_opt = ::clipscope::testing::shared_dir();                                    \
  if (!shared##_opt) {                                                                       \
    GTEST_SKIP() << "../shared not found (set CLIPSCOPE_SHARED): reference fixtures absent"; \
  }                                                                                          \
  const std::filesystem::path shared = *shared##_opt
