// Unit tests of the atlas's float16 activation matrices (src/atlas/matrix.h):
// written column block by column block, read back row by row, checked against the
// values written (rounded to float16 independently with c10::Half).
#include "atlas/matrix.h"

#include <c10/util/Half.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <random>
#include <vector>

#include "core/util/npy.h"
#include "support/shared_data.h"

namespace clipscope::atlas {
namespace {

namespace fs = std::filesystem;
using clipscope::testing::error_message;
using clipscope::testing::temp_dir;

float as_half(float v) { return static_cast<float>(c10::Half(v)); }

// A (units, columns) matrix of random values, column-major so that a column is
// contiguous and a unit's values are `stride` apart when read from the transpose.
struct Values {
  int64_t units, columns;
  std::vector<float> by_column;  // column j, unit u at [j * units + u]
  float at(int64_t u, int64_t j) const { return by_column[static_cast<size_t>(j * units + u)]; }
};

Values random_values(int64_t units, int64_t columns, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  Values v{units, columns, std::vector<float>(static_cast<size_t>(units * columns))};
  for (auto& x : v.by_column) x = normal(rng);
  return v;
}

void expect_row(const fs::path& file, const Values& v, int64_t u, const std::vector<bool>& written) {
  const auto row = read_matrix_row(file, u);
  ASSERT_EQ(static_cast<int64_t>(row.size()), v.columns);
  for (int64_t j = 0; j < v.columns; ++j) {
    if (written[static_cast<size_t>(j)]) {
      const float want = v.at(u, j);
      EXPECT_EQ(row[static_cast<size_t>(j)], as_half(want)) << "unit " << u << " column " << j;
      EXPECT_NEAR(row[static_cast<size_t>(j)], want, 1e-3 * std::fabs(want) + 1e-7);
    } else {
      EXPECT_TRUE(std::isnan(row[static_cast<size_t>(j)])) << "unit " << u << " column " << j << " never set";
    }
  }
}

TEST(MatrixWriter, ColumnsReadBackAsRows) {
  const fs::path file = temp_dir() / "m.npy";
  const int64_t units = 5, columns = 17;
  const Values v = random_values(units, columns, 1);
  std::vector<bool> written(columns, true);
  for (int64_t j : {2, 6, 7, 8, 9, 10, 16}) written[static_cast<size_t>(j)] = false;  // incl. a whole block
  {
    MatrixWriter w(file, units, columns, 0, 3);
    EXPECT_EQ(w.path(), file);
    for (int64_t j = 0; j < columns; ++j)
      if (written[static_cast<size_t>(j)]) w.set_column(j, v.by_column.data() + j * units, 1);
    w.flush(columns);
  }
  EXPECT_EQ(matrix_shape(file), (std::vector<int64_t>{units, columns}));
  for (int64_t u = 0; u < units; ++u) expect_row(file, v, u, written);

  // A standard .npy: float16, C order, (units, columns).
  const NpyArray a = read_npy(file);
  EXPECT_EQ(a.dtype, "<f2");
  EXPECT_EQ(a.shape, (std::vector<int64_t>{units, columns}));
  ASSERT_EQ(a.data.size(), static_cast<size_t>(units * columns) * 2);
  for (int64_t u = 0; u < units; ++u)
    for (int64_t j = 0; j < columns; ++j) {
      uint16_t bits;
      std::memcpy(&bits, a.data.data() + (u * columns + j) * 2, 2);
      const float got = static_cast<float>(c10::Half(bits, c10::Half::from_bits()));
      if (written[static_cast<size_t>(j)]) {
        EXPECT_EQ(got, as_half(v.at(u, j)));
      } else
        EXPECT_TRUE(std::isnan(got));
    }
}

TEST(MatrixWriter, StridedColumnsAndSpecialValues) {
  const fs::path file = temp_dir() / "m.npy";
  const int64_t units = 3, columns = 4;
  // Values of unit u for column j at [u * columns + j]: a row-major (units, columns) source.
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  const std::vector<float> source = {0.0f, -1.5f, 65504.0f, 1e6f, nan, inf, -inf, 1e-8f, 0.1f, 2.0f, -3.25f, 1024.5f};
  {
    MatrixWriter w(file, units, columns, 0, 2);
    for (int64_t j = 0; j < columns; ++j) w.set_column(j, source.data() + j, columns);
    w.flush(columns);
  }
  for (int64_t u = 0; u < units; ++u) {
    const auto row = read_matrix_row(file, u);
    for (int64_t j = 0; j < columns; ++j) {
      const float want = as_half(source[static_cast<size_t>(u * columns + j)]);
      if (std::isnan(want)) {
        EXPECT_TRUE(std::isnan(row[static_cast<size_t>(j)]));
      } else
        EXPECT_EQ(row[static_cast<size_t>(j)], want) << "unit " << u << " column " << j;
    }
  }
  EXPECT_TRUE(std::isinf(read_matrix_row(file, 0)[3]));  // 1e6 overflows float16
}

TEST(MatrixWriter, ResumeKeepsEarlierColumns) {
  const fs::path file = temp_dir() / "m.npy";
  const int64_t units = 4, columns = 14;
  const Values v = random_values(units, columns, 2);
  const std::vector<bool> all(columns, true);
  const int64_t end = 8;  // not a multiple of the block size
  {
    MatrixWriter w(file, units, columns, 0, 3);
    for (int64_t j = 0; j < end; ++j) w.set_column(j, v.by_column.data() + j * units, 1);
    w.flush(end);
    // Columns set after the flush, but never flushed, are lost with the writer ("crash").
    const std::vector<float> junk(static_cast<size_t>(units), 99.0f);
    w.set_column(end, junk.data(), 1);
  }
  {
    MatrixWriter w(file, units, columns, end, 3);
    // Before the resume point: rejected.
    EXPECT_NE(error_message([&] { w.set_column(end - 1, v.by_column.data(), 1); }), "");
    for (int64_t j = end; j < columns; ++j) w.set_column(j, v.by_column.data() + j * units, 1);
    w.flush(columns);
  }
  for (int64_t u = 0; u < units; ++u) expect_row(file, v, u, all);
}

TEST(MatrixWriter, FlushMidBlockThenContinue) {
  const fs::path file = temp_dir() / "m.npy";
  const int64_t units = 3, columns = 10;
  const Values v = random_values(units, columns, 3);
  MatrixWriter w(file, units, columns, 0, 4);
  for (int64_t j = 0; j < columns; ++j) {
    w.set_column(j, v.by_column.data() + j * units, 1);
    if (j % 3 == 1) {
      w.flush(j + 1);
      // Flushed columns are on disk now.
      const auto row = read_matrix_row(file, 1);
      for (int64_t c = 0; c <= j; ++c) EXPECT_EQ(row[static_cast<size_t>(c)], as_half(v.at(1, c)));
      EXPECT_NE(error_message([&] { w.set_column(j, v.by_column.data(), 1); }), "") << "column " << j;
    }
  }
  w.flush(columns + 5);  // clamped to the matrix
  for (int64_t u = 0; u < units; ++u) expect_row(file, v, u, std::vector<bool>(columns, true));
}

TEST(MatrixWriter, Errors) {
  const fs::path dir = temp_dir();
  const fs::path file = dir / "m.npy";
  { MatrixWriter(file, 2, 5, 0, 2).flush(0); }
  EXPECT_EQ(matrix_shape(file), (std::vector<int64_t>{2, 5}));
  // Resuming with another shape, or a file that is missing.
  EXPECT_NE(error_message([&] { MatrixWriter(file, 3, 5, 2, 2); }), "");
  EXPECT_NE(error_message([&] { MatrixWriter(file, 2, 6, 2, 2); }), "");
  EXPECT_NE(error_message([&] { MatrixWriter(dir / "absent.npy", 2, 5, 2, 2); }), "");
  EXPECT_NE(error_message([&] { MatrixWriter(dir / "no" / "such" / "dir.npy", 2, 5, 0, 2); }), "");
  MatrixWriter w(file, 2, 5, 0, 2);
  const float values[2] = {1, 2};
  EXPECT_NE(error_message([&] { w.set_column(5, values, 1); }), "");  // beyond the matrix
  EXPECT_NE(error_message([&] { w.set_column(-1, values, 1); }), "");
  // Reading: a unit out of range; a file that is not a 2-d float16 matrix.
  EXPECT_NE(error_message([&] { read_matrix_row(file, 2); }), "");
  EXPECT_NE(error_message([&] { read_matrix_row(file, -1); }), "");
  const std::vector<float> f32 = {1, 2, 3, 4};
  write_npy(dir / "f32.npy", {2, 2}, f32.data());
  EXPECT_NE(error_message([&] { read_matrix_row(dir / "f32.npy", 0); }), "");
  EXPECT_NE(error_message([&] { matrix_shape(dir / "f32.npy"); }), "");
  EXPECT_NE(error_message([&] { matrix_shape(dir / "absent.npy"); }), "");
}

TEST(MatrixCopy, PlacesColumnsIntoBiggerMatrix) {
  const fs::path dir = temp_dir();
  const int64_t units = 4, n = 5, m = 13, first = 6;
  const Values small = random_values(units, n, 4), big = random_values(units, m, 5);
  {
    MatrixWriter w(dir / "small.npy", units, n, 0, 2);
    for (int64_t j = 0; j < n; ++j) w.set_column(j, small.by_column.data() + j * units, 1);
    w.flush(n);
    MatrixWriter b(dir / "big.npy", units, m, 0, 3);
    for (int64_t j = 0; j < m; ++j) b.set_column(j, big.by_column.data() + j * units, 1);
    b.flush(m);
  }
  copy_matrix_columns(dir / "small.npy", dir / "big.npy", first);
  EXPECT_EQ(matrix_shape(dir / "big.npy"), (std::vector<int64_t>{units, m}));
  for (int64_t u = 0; u < units; ++u) {
    const auto row = read_matrix_row(dir / "big.npy", u);
    for (int64_t j = 0; j < m; ++j) {
      const float want = j >= first && j < first + n ? small.at(u, j - first) : big.at(u, j);
      EXPECT_EQ(row[static_cast<size_t>(j)], as_half(want)) << "unit " << u << " column " << j;
    }
  }
  // Into the last columns exactly, and into a fresh (all-NaN) matrix.
  { MatrixWriter(dir / "fresh.npy", units, m, 0, m).flush(m); }  // one block: see FlushPastMoreThanOneBlock…
  copy_matrix_columns(dir / "small.npy", dir / "fresh.npy", m - n);
  for (int64_t u = 0; u < units; ++u) {
    const auto row = read_matrix_row(dir / "fresh.npy", u);
    for (int64_t j = 0; j < m; ++j) {
      if (j < m - n) {
        EXPECT_TRUE(std::isnan(row[static_cast<size_t>(j)])) << j;
      } else
        EXPECT_EQ(row[static_cast<size_t>(j)], as_half(small.at(u, j - (m - n))));
    }
  }
}

TEST(MatrixCopy, ShapeMismatchThrows) {
  const fs::path dir = temp_dir();
  { MatrixWriter(dir / "small.npy", 3, 4, 0, 2).flush(0); }
  { MatrixWriter(dir / "big.npy", 3, 10, 0, 2).flush(0); }
  { MatrixWriter(dir / "other.npy", 2, 10, 0, 2).flush(0); }
  EXPECT_NE(error_message([&] { copy_matrix_columns(dir / "small.npy", dir / "other.npy", 0); }), "");  // units
  EXPECT_NE(error_message([&] { copy_matrix_columns(dir / "small.npy", dir / "big.npy", 7); }), "");    // past the end
  EXPECT_NE(error_message([&] { copy_matrix_columns(dir / "big.npy", dir / "small.npy", 0); }), "");    // too wide
  EXPECT_NE(error_message([&] { copy_matrix_columns(dir / "absent.npy", dir / "big.npy", 0); }), "");
  EXPECT_EQ(error_message([&] { copy_matrix_columns(dir / "small.npy", dir / "big.npy", 6); }), "");
}

// flush(end) with more unset columns before `end` than one block holds (e.g. the
// last block_columns+ images of a shard were all unreadable, or a resumed run whose
// remaining images all fail) must write them as NaN. Run in a child process: the
// writer overruns its buffer here (write_block with end - block_start > block).
// Writes column 0 only, flushes all 12 columns with blocks of 3 and exits 0 when the
// file then holds column 0's values and NaN everywhere else.
[[noreturn]] void flush_unset_blocks_and_exit(const fs::path& file) {
  const int64_t units = 3, columns = 12;
  const std::vector<float> first = {1.0f, 2.0f, 3.0f};
  {
    MatrixWriter w(file, units, columns, 0, 3);
    w.set_column(0, first.data(), 1);
    w.flush(columns);  // columns 1..11 never set: more than one block
  }
  bool ok = true;
  for (int64_t u = 0; u < units; ++u) {
    const auto row = read_matrix_row(file, u);
    ok = ok && row[0] == first[static_cast<size_t>(u)];
    for (int64_t j = 1; j < columns; ++j) ok = ok && std::isnan(row[static_cast<size_t>(j)]);
    for (float x : row) std::fprintf(stderr, "%g ", x);  // shown when the test fails
    std::fprintf(stderr, "\n");
  }
  std::_Exit(ok ? 0 : 1);
}

TEST(MatrixWriter, FlushPastMoreThanOneBlockOfUnsetColumns) {
  const fs::path file = temp_dir() / "m.npy";
  EXPECT_EXIT(flush_unset_blocks_and_exit(file), ::testing::ExitedWithCode(0), "");
}

// copy_matrix_columns with a negative first column must refuse, not write into the
// target's .npy header (unit 0's copy lands before the data offset).
TEST(MatrixCopy, NegativeFirstColumnThrows) {
  const fs::path dir = temp_dir();
  { MatrixWriter(dir / "small.npy", 2, 3, 0, 2).flush(0); }
  { MatrixWriter(dir / "big.npy", 2, 10, 0, 2).flush(0); }
  EXPECT_NE(error_message([&] { copy_matrix_columns(dir / "small.npy", dir / "big.npy", -1); }), "");
  EXPECT_EQ(matrix_shape(dir / "big.npy"), (std::vector<int64_t>{2, 10}));
}

}  // namespace
}  // namespace clipscope::atlas
