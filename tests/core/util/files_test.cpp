#include "core/util/files.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "core/util/error.h"
#include "support/shared_data.h"

namespace clipscope {
namespace {

namespace fs = std::filesystem;

TEST(Files, WriteFileAtomicallyReplacesTheFileAndLeavesNoPart) {
  const fs::path dir = testing::temp_dir();
  const fs::path file = dir / "report.json";
  write_file_atomically(file, "old");
  write_file_atomically(file, "new\n");
  EXPECT_EQ(testing::read_file(file), "new\n");
  EXPECT_EQ(partial_path(file), dir / "report.json.part");
  EXPECT_FALSE(fs::exists(partial_path(file)));
}

TEST(Files, AFailedWriteKeepsTheOldFileAndRemovesThePart) {
  const fs::path dir = testing::temp_dir();
  const fs::path file = dir / "weights.npy";
  write_file_atomically(file, "old");
  EXPECT_THROW(write_atomically(file,
                                [](const fs::path& part) {
                                  std::ofstream(part) << "half";
                                  throw std::runtime_error("killed");
                                }),
               std::runtime_error);
  EXPECT_EQ(testing::read_file(file), "old");
  EXPECT_FALSE(fs::exists(partial_path(file)));
}

TEST(Files, ADirectoryIsWrittenAtomicallyToo) {
  const fs::path dir = testing::temp_dir();
  const fs::path world = dir / "world";
  write_atomically(world, [](const fs::path& part) {
    fs::create_directories(part / "images");
    std::ofstream(part / "labels.jsonl") << "{}\n";
  });
  EXPECT_TRUE(fs::exists(world / "labels.jsonl"));
  EXPECT_FALSE(fs::exists(partial_path(world)));
}

TEST(Files, AnUnwritablePlaceIsAnErrorNamingTheFile) {
  const fs::path dir = testing::temp_dir();
  const fs::path file = dir / "no-such-folder" / "x.json";
  try {
    write_file_atomically(file, "x");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(file.string() + ": cannot write"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace clipscope
