#pragma once
// Locating ../shared (reference fixtures and data) from tests.
#include <gtest/gtest.h>

#include <filesystem>
#include <optional>

namespace clipscope::testing {

// $CLIPSCOPE_SHARED, else <source>/../shared; nullopt when neither exists.
std::optional<std::filesystem::path> shared_dir();

// A fresh, empty temporary directory removed at process exit.
std::filesystem::path temp_dir(const std::string& prefix = "clipscope-test");

}  // namespace clipscope::testing

// Skips the current test with a clear message when ../shared is absent and binds
// `shared` to its path.
#define CLIPSCOPE_REQUIRE_SHARED(shared)                                                   \
  auto shared##_opt = ::clipscope::testing::shared_dir();                                   \
  if (!shared##_opt) {                                                                      \
    GTEST_SKIP() << "../shared not found (set CLIPSCOPE_SHARED): reference fixtures absent"; \
  }                                                                                         \
  const std::filesystem::path shared = *shared##_opt
