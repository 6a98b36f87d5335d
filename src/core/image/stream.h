#pragma once
// Turning command-line inputs into an ordered list of image paths, and decoding +
// preprocessing them on worker threads while handing them back strictly in input
// order with bounded memory (so a list of a million images costs no more memory
// than a list of ten, and image ids are positions in the list).
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/image/preprocess.h"

namespace clipscope {

// Expands each input, in order:
//  - a directory: every regular file below it (recursively; symlinked files are
//    followed, symlinked directories are not, to avoid cycles) whose extension is
//    .jpg/.jpeg/.png in any case, sorted by generic path string so that the order,
//    and so image ids, are the same on every run and machine;
//  - a .txt or .lst file (any case): one path per line, in file order; surrounding
//    whitespace and a trailing '\r' are stripped, blank lines and lines starting
//    with '#' are skipped; relative paths stay relative to the current directory;
//    the listed paths are not checked;
//  - anything else: the path as given, unchecked (a missing file becomes a skipped
//    item when streamed) — except that a missing path ending in a separator or
//    without any extension is taken to be a mistyped directory.
// Throws Error for a missing directory or list file and for directories that
// cannot be read. The result may be empty.
std::vector<std::filesystem::path> collect_image_paths(const std::vector<std::string>& inputs);

struct StreamItem {
  size_t index = 0;  // position in the input list
  std::filesystem::path path;
  std::vector<float> chw;  // the loader's output (clip_preprocess: 3*n_px*n_px); empty when `error` is set
  std::string error;       // one-line reason the image was skipped, empty when ok
  bool ok() const { return error.empty(); }
};

struct ImageStreamOptions {
  int n_px = 224;
  Normalization normalization;  // the model's mean and std (OpenAI's by default)
  // 0 = max(1, hardware_concurrency() / 2): decoding feeds a model whose own
  // intra-op threads need the other cores.
  int workers = 0;
  // Items decoded (or being decoded) ahead of the consumer; 0 = 4 * workers + 8,
  // enough to absorb uneven decode times without holding much memory.
  size_t max_ahead = 0;
};

// Decodes on worker threads; next() returns items in input order. Failures
// (exceptions from the loader) become items with `error` set; the stream goes on.
// next() is meant for one consumer thread.
class ImageStream {
 public:
  using Loader = std::function<std::vector<float>(const std::filesystem::path&)>;

  // read_image + clip_preprocess(options.n_px, options.normalization).
  ImageStream(std::vector<std::filesystem::path> paths, ImageStreamOptions options = {});
  // A custom per-item function (tests; callers that render images).
  ImageStream(std::vector<std::filesystem::path> paths, ImageStreamOptions options, Loader loader);
  ~ImageStream();  // stops and joins the workers, drained or not

  ImageStream(const ImageStream&) = delete;
  ImageStream& operator=(const ImageStream&) = delete;

  // The next item in input order (blocks until it is decoded); nullopt after the last.
  // Resumes a paused stream.
  std::optional<StreamItem> next();
  // Workers finish the item in hand and start no new one until the next call to
  // next(): for a consumer whose own work needs every core (see ImageBatcher).
  void pause_until_next();
  size_t size() const { return paths_.size(); }
  int workers() const { return static_cast<int>(threads_.size()); }
  size_t max_ahead() const { return max_ahead_; }

 private:
  void work();

  std::vector<std::filesystem::path> paths_;
  Loader loader_;
  size_t max_ahead_ = 0;

  std::atomic<size_t> next_claim_{0};
  std::mutex mutex_;
  std::condition_variable window_moved_;  // workers wait for the consumer to advance
  std::condition_variable item_ready_;    // the consumer waits for the next index
  size_t next_to_consume_ = 0;            // guarded by mutex_
  bool stop_ = false;                     // guarded by mutex_
  bool paused_ = false;                   // guarded by mutex_
  // Slot i % ring_.size() holds item i; unique because only indices in
  // [next_to_consume_, next_to_consume_ + max_ahead_) are ever in flight.
  std::vector<std::optional<StreamItem>> ring_;  // guarded by mutex_
  std::vector<std::thread> threads_;
};

}  // namespace clipscope
