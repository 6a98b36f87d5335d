// ImageBatcher: model-ready batches in input order, unreadable images set aside,
// and a decode schedule that fits the machine's cores.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <thread>

#include "core/image/image.h"
#include "core/image/preprocess.h"
#include "core/model/image_batches.h"
#include "support/shared_data.h"

namespace clipscope {
namespace {

namespace fs = std::filesystem;

Image gradient(int width, int height, int seed) {
  Image image;
  image.width = width;
  image.height = height;
  image.rgb.resize(static_cast<size_t>(width) * height * 3);
  for (size_t i = 0; i < image.rgb.size(); ++i) image.rgb[i] = static_cast<uint8_t>((i * 7 + seed * 31) % 256);
  return image;
}

TEST(ImageBatcher, BatchesReadableImagesInOrderAndSetsTheRestAside) {
  const fs::path dir = testing::temp_dir();
  std::vector<fs::path> paths;
  for (int i = 0; i < 11; ++i) {
    paths.push_back(dir / ("img" + std::to_string(i) + ".png"));
    if (i == 3 || i == 8)
      testing::write_file(paths.back(), "not a png");
    else
      write_png(paths.back(), gradient(40 + i, 30 + 2 * i, i));
  }
  for (auto schedule : {DecodeSchedule::Overlap, DecodeSchedule::Bursts}) {
    ImageStreamOptions options;
    options.n_px = 32;
    ImageBatcher batches(paths, 4, options, schedule);
    std::vector<size_t> indices;
    std::vector<int64_t> sizes;
    while (auto batch = batches.next()) {
      sizes.push_back(batch->images.size(0));
      for (size_t r = 0; r < batch->indices.size(); ++r) {
        const size_t i = batch->indices[r];
        EXPECT_EQ(batch->paths[r], paths[i]);
        const auto expected = clip_preprocess(read_image(paths[i]), 32);
        const auto row = batch->images[static_cast<int64_t>(r)].contiguous();
        EXPECT_TRUE(std::equal(expected.begin(), expected.end(), row.data_ptr<float>())) << i;
        indices.push_back(i);
      }
    }
    EXPECT_EQ(indices, (std::vector<size_t>{0, 1, 2, 4, 5, 6, 7, 9, 10}));
    EXPECT_EQ(sizes, (std::vector<int64_t>{4, 4, 1}));
    ASSERT_EQ(batches.skipped().size(), 2u);
    EXPECT_EQ(batches.skipped()[0].index, 3u);
    EXPECT_EQ(batches.skipped()[1].index, 8u);
  }
}

TEST(ImageBatcher, InputWindowsKeepEveryBatchToItsPositions) {
  const fs::path dir = testing::temp_dir();
  std::vector<fs::path> paths;
  for (int i = 0; i < 11; ++i) {
    paths.push_back(dir / ("img" + std::to_string(i) + ".png"));
    // Inputs 4-7 (a whole window) and 9 are unreadable.
    if ((i >= 4 && i <= 7) || i == 9)
      testing::write_file(paths.back(), "");
    else
      write_png(paths.back(), gradient(20, 20, i));
  }
  ImageStreamOptions options;
  options.n_px = 16;
  ImageBatcher batches(paths, 4, options);
  batches.batch_by_input_windows();
  std::vector<std::vector<size_t>> got;
  while (auto batch = batches.next()) got.push_back(batch->indices);
  EXPECT_EQ(got, (std::vector<std::vector<size_t>>{{0, 1, 2, 3}, {8, 10}}));
  EXPECT_EQ(batches.skipped().size(), 5u);
}

TEST(ImageBatcher, DecodesBetweenBatchesWhenTheModelTakesEveryCore) {
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const std::vector<fs::path> none;
  ImageBatcher busy(none, 4, {}, DecodeSchedule::Auto, cores);
  EXPECT_EQ(busy.schedule(), DecodeSchedule::Bursts);
  if (cores >= 2) {
    ImageBatcher spare(std::vector<fs::path>(8, "x.png"), 4, {}, DecodeSchedule::Auto, cores - 1);
    EXPECT_EQ(spare.schedule(), DecodeSchedule::Overlap);
    EXPECT_EQ(spare.workers(), 1);
  }
  EXPECT_THROW(ImageBatcher(none, 0), Error);
}

}  // namespace
}  // namespace clipscope
