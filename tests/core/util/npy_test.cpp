#include "core/util/npy.h"

#include <gtest/gtest.h>

#include <fstream>

#include "core/util/error.h"
#include "support/shared_data.h"

using namespace clipscope;

TEST(Npy, RoundTripsFloatAndInt) {
  auto dir = clipscope::testing::temp_dir();
  std::vector<float> f = {1.5f, -2.0f, 3.25f, 0.f, 7.f, 8.f};
  write_npy(dir / "f.npy", {2, 3}, f.data());
  auto a = read_npy(dir / "f.npy");
  EXPECT_EQ(a.dtype, "<f4");
  EXPECT_EQ(a.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(a.as_float(), f);

  std::vector<int64_t> i = {1, 49407, -3};
  write_npy(dir / "i.npy", {3}, i.data());
  auto b = read_npy(dir / "i.npy");
  EXPECT_EQ(b.shape, (std::vector<int64_t>{3}));
  EXPECT_EQ(b.as_int64(), i);
}

TEST(Npy, HeaderIsAlignedTo64Bytes) {
  auto dir = clipscope::testing::temp_dir();
  float x = 1;
  write_npy(dir / "x.npy", {1}, &x);
  EXPECT_EQ(std::filesystem::file_size(dir / "x.npy") % 64, 4u);
}

TEST(Npy, ReadsNumpyWrittenFixture) {
  CLIPSCOPE_REQUIRE_SHARED(shared);
  auto a = read_npy(shared / "fixtures" / "tokens.npy");
  ASSERT_EQ(a.shape.size(), 2u);
  EXPECT_EQ(a.shape[1], 77);
  EXPECT_EQ(a.as_int64()[0], 49406);
}

TEST(Npy, RejectsNonNpyAndTruncated) {
  auto dir = clipscope::testing::temp_dir();
  std::ofstream(dir / "bad.npy") << "hello";
  EXPECT_THROW(read_npy(dir / "bad.npy"), Error);
  EXPECT_THROW(read_npy(dir / "missing.npy"), Error);
  std::vector<float> f(100, 1.f);
  write_npy(dir / "t.npy", {100}, f.data());
  std::filesystem::resize_file(dir / "t.npy", 200);
  EXPECT_THROW(read_npy(dir / "t.npy"), Error);
}

TEST(NpyRowWriter, AppendsRowsAndFixesTheRowCountOnClose) {
  const auto dir = clipscope::testing::temp_dir();
  const auto path = dir / "rows.npy";
  {
    clipscope::NpyRowWriter writer(path, {2, 3});
    std::vector<float> batch(2 * 6);
    for (size_t i = 0; i < batch.size(); ++i) batch[i] = static_cast<float>(i);
    writer.append(batch.data(), 2);
    writer.append(batch.data() + 6, 1);
    EXPECT_FALSE(std::filesystem::exists(path));  // only PATH.part until close()
    writer.close();
  }
  const auto a = clipscope::read_npy(path);
  EXPECT_EQ(a.shape, (std::vector<int64_t>{3, 2, 3}));
  const auto v = a.as_float();
  ASSERT_EQ(v.size(), 18u);
  EXPECT_EQ(v[0], 0.0f);
  EXPECT_EQ(v[11], 11.0f);
  EXPECT_EQ(v[12], 6.0f);  // the third row repeats the batch's second row
  EXPECT_EQ(v[17], 11.0f);
  EXPECT_FALSE(std::filesystem::exists(dir / "rows.npy.part"));
}

TEST(NpyRowWriter, AnUnclosedWriterLeavesNoFile) {
  const auto dir = clipscope::testing::temp_dir();
  {
    clipscope::NpyRowWriter writer(dir / "killed.npy", {4});
    const float row[4] = {1, 2, 3, 4};
    writer.append(row, 1);
  }
  EXPECT_FALSE(std::filesystem::exists(dir / "killed.npy"));
  EXPECT_FALSE(std::filesystem::exists(dir / "killed.npy.part"));
}
