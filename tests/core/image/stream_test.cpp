// collect_image_paths and the ordered, bounded decode stream.
#include "core/image/stream.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "core/image/image.h"
#include "core/image/preprocess.h"
#include "core/image/test_images.h"
#include "core/util/error.h"
#include "support/shared_data.h"

namespace clipscope {
namespace {

namespace fs = std::filesystem;
using clipscope::testing::error_message;
using clipscope::testing::random_image;
using clipscope::testing::read_file;
using clipscope::testing::temp_dir;
using clipscope::testing::write_file;
using Clock = std::chrono::steady_clock;

std::vector<fs::path> numbered_paths(size_t n) {
  std::vector<fs::path> paths;
  for (size_t i = 0; i < n; ++i) paths.emplace_back("item-" + std::to_string(i));
  return paths;
}

size_t number_of(const fs::path& p) { return std::stoul(p.filename().string().substr(5)); }

void atomic_max(std::atomic<long>& target, long value) {
  long seen = target.load();
  while (seen < value && !target.compare_exchange_weak(seen, value)) {}
}

std::vector<StreamItem> drain(ImageStream& stream) {
  std::vector<StreamItem> items;
  while (auto item = stream.next()) items.push_back(std::move(*item));
  return items;
}

// --- ImageStream

TEST(ImageStream, PreservesOrderWhenDecodeTimesVary) {
  for (int workers : {1, 2, 4}) {
    SCOPED_TRACE("workers = " + std::to_string(workers));
    std::atomic<unsigned> seed{1};
    ImageStream::Loader loader = [&](const fs::path& p) {
      std::mt19937 rng(seed.fetch_add(1) * 7919u);
      std::this_thread::sleep_for(std::chrono::microseconds(rng() % 1500));
      return std::vector<float>{static_cast<float>(number_of(p)), 0.5f};
    };
    ImageStream stream(numbered_paths(200), {.workers = workers, .max_ahead = 16}, loader);
    EXPECT_EQ(stream.size(), 200u);
    EXPECT_EQ(stream.workers(), workers);
    for (size_t i = 0; i < 200; ++i) {
      auto item = stream.next();
      ASSERT_TRUE(item.has_value());
      ASSERT_EQ(item->index, i);
      EXPECT_EQ(item->path, fs::path("item-" + std::to_string(i)));
      ASSERT_TRUE(item->ok()) << item->error;
      EXPECT_EQ(item->chw, (std::vector<float>{static_cast<float>(i), 0.5f}));
    }
    EXPECT_FALSE(stream.next().has_value());
    EXPECT_FALSE(stream.next().has_value());  // stays at the end
  }
}

TEST(ImageStream, LookAheadIsBoundedWithASlowConsumer) {
  constexpr size_t kItems = 120;
  constexpr size_t kMaxAhead = 5;
  std::atomic<long> max_started{-1};
  std::atomic<long> finished{0};
  std::atomic<int> active{0};
  std::atomic<int> max_active{0};
  ImageStream::Loader loader = [&](const fs::path& p) {
    const long i = static_cast<long>(number_of(p));
    atomic_max(max_started, i);
    const int now = ++active;
    int seen = max_active.load();
    while (seen < now && !max_active.compare_exchange_weak(seen, now)) {}
    std::this_thread::sleep_for(std::chrono::microseconds(100));
    --active;
    ++finished;
    return std::vector<float>{static_cast<float>(i)};
  };
  ImageStream stream(numbered_paths(kItems), {.workers = 3, .max_ahead = kMaxAhead}, loader);
  bool window_filled = false;
  for (size_t consumed = 0; consumed < kItems; ++consumed) {
    auto item = stream.next();
    ASSERT_TRUE(item.has_value());
    ASSERT_EQ(item->index, consumed);
    std::this_thread::sleep_for(std::chrono::milliseconds(2));  // the slow consumer
    // Between calls to next(), items consumed + 1 .. consumed + kMaxAhead may have
    // started, and no later one.
    const long limit = static_cast<long>(std::min(consumed + kMaxAhead, kItems - 1));
    ASSERT_LE(max_started.load(), limit) << "after consuming " << consumed + 1;
    ASSERT_LE(finished.load() - static_cast<long>(consumed + 1), static_cast<long>(kMaxAhead));
    if (consumed + kMaxAhead < kItems && max_started.load() == limit) window_filled = true;
  }
  EXPECT_FALSE(stream.next().has_value());
  EXPECT_TRUE(window_filled) << "the workers never used the look-ahead window";
  EXPECT_LE(max_active.load(), 3);
}

TEST(ImageStream, DefaultsFollowTheWorkerCount) {
  ImageStream::Loader loader = [](const fs::path&) { return std::vector<float>{}; };
  ImageStream stream(numbered_paths(100), {.workers = 2}, loader);
  EXPECT_EQ(stream.workers(), 2);
  EXPECT_EQ(stream.max_ahead(), 4u * 2 + 8);
  ImageStream defaulted(numbered_paths(100), {}, loader);
  EXPECT_GE(defaulted.workers(), 1);
  EXPECT_EQ(defaulted.max_ahead(), 4u * defaulted.workers() + 8);
  ImageStream few(numbered_paths(2), {.workers = 8}, loader);
  EXPECT_EQ(few.workers(), 2);  // no idle threads for short lists
  EXPECT_EQ(drain(few).size(), 2u);
}

TEST(ImageStream, PausedWorkersStartNothingUntilTheNextCall) {
  std::atomic<int> started{0};
  std::vector<fs::path> paths(40, "x");
  ImageStreamOptions options;
  options.workers = 2;
  options.max_ahead = 40;
  ImageStream stream(paths, options, [&](const fs::path&) {
    ++started;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    return std::vector<float>(1);
  });
  ASSERT_TRUE(stream.next());
  stream.pause_until_next();
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // items in hand finish
  const int at_pause = started.load();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(started.load(), at_pause);
  EXPECT_LT(at_pause, 40);
  size_t consumed = 1;
  while (stream.next()) ++consumed;  // next() resumes the workers
  EXPECT_EQ(consumed, 40u);
  EXPECT_EQ(started.load(), 40);
}

TEST(ImageStream, EmptyListEndsAtOnce) {
  ImageStream stream({}, {.workers = 4});
  EXPECT_EQ(stream.size(), 0u);
  EXPECT_FALSE(stream.next().has_value());
}

TEST(ImageStream, DecodeErrorsBecomeSkippedItemsInPlace) {
  const auto dir = temp_dir();
  constexpr int kNpx = 32;
  const Image a = random_image(40, 30, 1);
  const Image b = random_image(17, 50, 2);
  write_png(dir / "a.png", a);
  write_png(dir / "b.png", b);
  write_jpeg(dir / "c.jpg", random_image(64, 48, 3));
  // A JPEG cut in half and a PNG cut short: corrupt image data.
  const std::string jpeg = read_file(dir / "c.jpg");
  write_file(dir / "truncated.jpg", jpeg.substr(0, jpeg.size() / 2));
  const std::string png = read_file(dir / "b.png");
  write_file(dir / "truncated.png", png.substr(0, png.size() / 2));
  write_file(dir / "garbage.jpg", std::string("\xFF\xD8\xFF\x00\x11garbage garbage", 20));
  write_file(dir / "empty.png", "");
  write_file(dir / "notes.jpg", "these are my notes, not a picture\n");

  const std::vector<fs::path> paths = {
      dir / "truncated.jpg", dir / "a.png", dir / "empty.png", dir / "missing.jpg",   dir / "b.png",
      dir / "garbage.jpg",   dir / "c.jpg", dir / "notes.jpg", dir / "truncated.png", dir / "a.png",
  };
  const std::set<size_t> good = {1, 4, 6, 9};
  ImageStream stream(paths, {.n_px = kNpx, .workers = 3});
  const auto items = drain(stream);
  ASSERT_EQ(items.size(), paths.size());
  for (size_t i = 0; i < items.size(); ++i) {
    SCOPED_TRACE(paths[i].string());
    EXPECT_EQ(items[i].index, i);
    EXPECT_EQ(items[i].path, paths[i]);
    if (good.count(i)) {
      ASSERT_TRUE(items[i].ok()) << items[i].error;
      EXPECT_EQ(items[i].chw, clip_preprocess(read_image(paths[i]), kNpx));  // bit-exact
      EXPECT_EQ(items[i].chw.size(), 3u * kNpx * kNpx);
    } else {
      EXPECT_FALSE(items[i].ok());
      EXPECT_TRUE(items[i].chw.empty());
      EXPECT_NE(items[i].error.find(paths[i].filename().string()), std::string::npos) << items[i].error;
      EXPECT_EQ(items[i].error.find('\n'), std::string::npos);
      // The reason is read_image's own message.
      EXPECT_EQ(items[i].error, error_message([&] { read_image(paths[i]); }));
    }
  }
  EXPECT_NE(items[3].error.find("no such file"), std::string::npos) << items[3].error;
}

TEST(ImageStream, LoaderExceptionsOfAnyKindBecomeErrors) {
  ImageStream::Loader loader = [](const fs::path& p) -> std::vector<float> {
    switch (number_of(p) % 5) {
      case 1:
        throw Error(p.string() + ": custom failure");
      case 2:
        throw std::runtime_error("line one\nline two");
      case 3:
        throw std::bad_alloc();
      case 4:
        throw 42;
      default:
        return {1.0f};
    }
  };
  ImageStream stream(numbered_paths(25), {.workers = 2}, loader);
  const auto items = drain(stream);
  ASSERT_EQ(items.size(), 25u);
  for (size_t i = 0; i < items.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(items[i].index, i);
    const std::string name = "item-" + std::to_string(i);
    switch (i % 5) {
      case 0:
        EXPECT_TRUE(items[i].ok());
        EXPECT_EQ(items[i].chw, std::vector<float>{1.0f});
        break;
      case 1:
        EXPECT_EQ(items[i].error, name + ": custom failure");
        break;
      case 2:
        EXPECT_EQ(items[i].error, name + ": line one line two");
        break;
      case 3:
        EXPECT_EQ(items[i].error, name + ": out of memory");
        break;
      case 4:
        EXPECT_EQ(items[i].error, name + ": unknown error");
        break;
    }
    if (i % 5 != 0) {
      EXPECT_TRUE(items[i].chw.empty());
    }
  }
}

TEST(ImageStream, EarlyDestructionReturnsPromptly) {
  // Workers busy in slow loads.
  {
    ImageStream::Loader slow = [](const fs::path&) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      return std::vector<float>{1.0f};
    };
    const auto start = Clock::now();
    {
      ImageStream stream(numbered_paths(100), {.workers = 4, .max_ahead = 8}, slow);
      ASSERT_TRUE(stream.next().has_value());
    }
    EXPECT_LT(Clock::now() - start, std::chrono::seconds(2));
  }
  // Workers blocked waiting for the consumer to make room.
  {
    std::atomic<int> loads{0};
    ImageStream::Loader fast = [&](const fs::path&) {
      ++loads;
      return std::vector<float>(1000, 1.0f);
    };
    const auto start = Clock::now();
    {
      ImageStream stream(numbered_paths(100), {.workers = 4, .max_ahead = 6}, fast);
      ASSERT_TRUE(stream.next().has_value());
      std::this_thread::sleep_for(std::chrono::milliseconds(50));  // let them fill the window
      EXPECT_LE(loads.load(), 1 + 6);
    }
    EXPECT_LT(Clock::now() - start, std::chrono::seconds(2));
  }
  // Never consumed at all.
  {
    ImageStream stream(numbered_paths(100), {.workers = 2, .max_ahead = 3},
                       [](const fs::path&) { return std::vector<float>{}; });
  }
}

// --- collect_image_paths

TEST(CollectImagePaths, WalksFoldersRecursivelySortedAndFiltered) {
  const auto dir = temp_dir();
  for (const char* name : {"b/z.JPG", "b/a.png", "a.Jpeg", "c/d/e/deep.PNG", "c/d/x.jpg", "B.jpeg", "top.jpg"}) {
    write_file(dir / name, "x");
  }
  for (const char* name : {"notes.txt", "b/readme.md", "c/d/image.gif", "c/raw.jpg.bak", "noext", "c/jpg"}) {
    write_file(dir / name, "x");
  }
  fs::create_directories(dir / "empty" / "folder.png");  // a directory with an image-like name
  const auto paths = collect_image_paths({dir.string()});
  std::vector<std::string> rel;
  for (const auto& p : paths) rel.push_back(p.lexically_relative(dir).generic_string());
  EXPECT_EQ(rel, (std::vector<std::string>{"B.jpeg", "a.Jpeg", "b/a.png", "b/z.JPG", "c/d/e/deep.PNG", "c/d/x.jpg",
                                           "top.jpg"}));
  for (const auto& p : paths) EXPECT_TRUE(fs::is_regular_file(p)) << p;
}

TEST(CollectImagePaths, FollowsSymlinkedFiles) {
  const auto dir = temp_dir();
  write_file(dir / "real" / "a.png", "x");
  fs::create_directories(dir / "walk");
  std::error_code ec;
  fs::create_symlink(dir / "real" / "a.png", dir / "walk" / "link.png", ec);
  if (ec) GTEST_SKIP() << "cannot create symlinks here: " << ec.message();
  fs::create_symlink(dir / "nowhere.png", dir / "walk" / "broken.png", ec);
  const auto paths = collect_image_paths({(dir / "walk").string()});
  ASSERT_EQ(paths.size(), 1u);
  EXPECT_EQ(paths[0].filename(), "link.png");
}

TEST(CollectImagePaths, ListFilesKeepOrderAndSkipCommentsAndBlankLines) {
  const auto dir = temp_dir();
  const auto list = dir / "images.txt";
  write_file(list,
             "# my images\r\n"
             "zebra.jpg\r\n"
             "\r\n"
             "   /abs/path/photo one.png  \r\n"
             "\t# indented comment\n"
             "relative/dir/apple.JPEG\n"
             "   \n"
             "not-checked.jpg");  // no final newline
  const auto paths = collect_image_paths({list.string()});
  EXPECT_EQ(paths, (std::vector<fs::path>{"zebra.jpg", "/abs/path/photo one.png", "relative/dir/apple.JPEG",
                                          "not-checked.jpg"}));
  // .lst works too, in any case, and inputs concatenate in order.
  write_file(dir / "more.LST",
             "\xEF\xBB\xBF"
             "first.png\nsecond.png\n");
  write_file(dir / "folder" / "x.png", "x");
  const auto mixed =
      collect_image_paths({(dir / "more.LST").string(), "single.jpg", (dir / "folder").string(), list.string()});
  ASSERT_EQ(mixed.size(), 2u + 1 + 1 + 4);
  EXPECT_EQ(mixed[0], fs::path("first.png"));
  EXPECT_EQ(mixed[1], fs::path("second.png"));
  EXPECT_EQ(mixed[2], fs::path("single.jpg"));
  EXPECT_EQ(mixed[3], dir / "folder" / "x.png");
  EXPECT_EQ(mixed[4], fs::path("zebra.jpg"));
}

TEST(CollectImagePaths, MissingInputs) {
  const auto dir = temp_dir();
  const std::string missing_dir = (dir / "no-such-folder").string();
  EXPECT_EQ(error_message([&] { collect_image_paths({missing_dir}); }), missing_dir + ": no such file or directory");
  const std::string missing_slash = (dir / "photos").string() + "/";
  EXPECT_EQ(error_message([&] { collect_image_paths({missing_slash}); }),
            missing_slash + ": no such file or directory");
  const std::string missing_list = (dir / "list.txt").string();
  EXPECT_EQ(error_message([&] { collect_image_paths({missing_list}); }), missing_list + ": no such file or directory");
  // A missing image is passed on: it becomes a skipped item when streamed.
  const std::string missing_image = (dir / "gone.jpg").string();
  EXPECT_EQ(collect_image_paths({missing_image}), std::vector<fs::path>{missing_image});
  // Empty folders and lists are fine.
  fs::create_directories(dir / "empty");
  write_file(dir / "empty.txt", "# nothing\n\n");
  EXPECT_TRUE(collect_image_paths({(dir / "empty").string(), (dir / "empty.txt").string()}).empty());
  EXPECT_TRUE(collect_image_paths({}).empty());
}

TEST(CollectImagePaths, UnreadableSubdirectoryIsAnError) {
  const auto dir = temp_dir();
  write_file(dir / "ok" / "a.png", "x");
  write_file(dir / "locked" / "b.png", "x");
  fs::permissions(dir / "locked", fs::perms::none);
  std::error_code ec;
  const bool readable = fs::directory_iterator(dir / "locked", ec) != fs::directory_iterator();
  if (readable || !ec) {  // e.g. running as root
    fs::permissions(dir / "locked", fs::perms::owner_all);
    GTEST_SKIP() << "permissions are not enforced here";
  }
  const std::string message = error_message([&] { collect_image_paths({dir.string()}); });
  fs::permissions(dir / "locked", fs::perms::owner_all);
  EXPECT_NE(message.find((dir / "locked").string()), std::string::npos) << message;
  EXPECT_NE(message.find("cannot read directory"), std::string::npos) << message;
}

// --- with ../shared

TEST(ImageStreamShared, ImageNetSampleMatchesPreprocessInOrder) {
  CLIPSCOPE_REQUIRE_SHARED(shared);
  const auto folder = shared / "data" / "images" / "imagenet-sample";
  ASSERT_TRUE(fs::is_directory(folder)) << folder;
  const auto paths = collect_image_paths({folder.string()});
  ASSERT_EQ(paths.size(), 100u);
  ASSERT_TRUE(std::is_sorted(paths.begin(), paths.end(), [](const fs::path& a, const fs::path& b) {
    return a.generic_string() < b.generic_string();
  }));
  ImageStream stream(paths, {.n_px = 224, .workers = 2});
  for (size_t i = 0; i < paths.size(); ++i) {
    auto item = stream.next();
    ASSERT_TRUE(item.has_value());
    ASSERT_EQ(item->index, i);
    ASSERT_EQ(item->path, paths[i]);
    ASSERT_TRUE(item->ok()) << item->error;
    ASSERT_EQ(item->chw, clip_preprocess(read_image(paths[i]), 224)) << paths[i];
  }
  EXPECT_FALSE(stream.next().has_value());
}

}  // namespace
}  // namespace clipscope
