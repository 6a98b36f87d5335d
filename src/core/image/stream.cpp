#include "core/image/stream.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <new>
#include <utility>

#include "core/image/image.h"
#include "core/image/preprocess.h"
#include "core/util/error.h"
#include "core/util/strings.h"

namespace clipscope {

namespace fs = std::filesystem;

namespace {

std::string lower_extension(const fs::path& path) { return lower_ascii(path.extension().string()); }

bool is_image_extension(const std::string& ext) { return ext == ".jpg" || ext == ".jpeg" || ext == ".png"; }
bool is_list_extension(const std::string& ext) { return ext == ".txt" || ext == ".lst"; }

void walk_directory(const fs::path& dir, std::vector<fs::path>& out) {
  std::vector<fs::path> found;
  std::error_code ec;
  // Symlinked directories are not followed: a link to an ancestor would loop.
  fs::recursive_directory_iterator it(dir, ec);
  if (ec) throw Error(dir.string() + ": cannot read directory: " + ec.message());
  while (it != fs::recursive_directory_iterator()) {
    const fs::path path = it->path();
    const bool regular = it->is_regular_file(ec);            // follows symlinked files
    if (ec && ec != std::errc::no_such_file_or_directory) {  // a broken link is just not a file
      throw Error(path.string() + ": cannot read: " + ec.message());
    }
    if (regular && is_image_extension(lower_extension(path))) found.push_back(path);
    it.increment(ec);  // fails when `path` is a directory it cannot open
    if (ec) throw Error(path.string() + ": cannot read directory: " + ec.message());
  }
  // Directory iteration order is filesystem-specific; ids must not be.
  std::sort(found.begin(), found.end(),
            [](const fs::path& a, const fs::path& b) { return a.generic_string() < b.generic_string(); });
  out.insert(out.end(), std::make_move_iterator(found.begin()), std::make_move_iterator(found.end()));
}

void read_list(const fs::path& list, std::vector<fs::path>& out) {
  std::error_code ec;
  if (!fs::exists(list, ec)) throw Error(list.string() + ": no such file or directory");
  std::ifstream in(list, std::ios::binary);
  if (!in) throw Error(list.string() + ": cannot open: " + std::strerror(errno));
  std::string line;
  bool first = true;
  while (std::getline(in, line)) {
    if (first && line.rfind("\xEF\xBB\xBF", 0) == 0) line.erase(0, 3);  // editors' UTF-8 BOM
    first = false;
    line = std::string(trim(line));  // also drops the '\r' of CRLF files
    if (line.empty() || line[0] == '#') continue;
    out.emplace_back(line);
  }
  if (in.bad()) throw Error(list.string() + ": cannot read");
}

std::string one_line(std::string s) {
  std::replace(s.begin(), s.end(), '\n', ' ');
  std::replace(s.begin(), s.end(), '\r', ' ');
  return s;
}

}  // namespace

std::vector<fs::path> collect_image_paths(const std::vector<std::string>& inputs) {
  std::vector<fs::path> out;
  for (const auto& input : inputs) {
    const fs::path path(input);
    std::error_code ec;
    const auto status = fs::status(path, ec);
    if (fs::is_directory(status)) {
      walk_directory(path, out);
    } else if (is_list_extension(lower_extension(path))) {
      read_list(path, out);
    } else if (!fs::exists(status) && (path.extension().empty() || input.ends_with('/') ||
                                       input.ends_with(static_cast<char>(fs::path::preferred_separator)))) {
      // No image has a path like this; failing now beats one skipped "image".
      throw Error(input + ": no such file or directory");
    } else {
      out.push_back(path);
    }
  }
  return out;
}

ImageStream::ImageStream(std::vector<fs::path> paths, ImageStreamOptions options)
    : ImageStream(std::move(paths), options, Loader{}) {}

ImageStream::ImageStream(std::vector<fs::path> paths, ImageStreamOptions options, Loader loader)
    : paths_(std::move(paths)), loader_(std::move(loader)) {
  if (options.workers < 0) throw Error("image stream: workers must be >= 0");
  if (!loader_) {
    if (options.n_px <= 0) throw Error("image stream: n_px must be positive");
    loader_ = [n_px = options.n_px, normalization = options.normalization](const fs::path& p) {
      return clip_preprocess(read_image(p), n_px, normalization);
    };
  }
  int workers = options.workers;
  if (workers == 0) workers = std::max(1, static_cast<int>(std::thread::hardware_concurrency() / 2));
  max_ahead_ = options.max_ahead ? options.max_ahead : 4 * static_cast<size_t>(workers) + 8;
  // Slots beyond the list length would never be used.
  ring_.resize(std::min(max_ahead_, std::max<size_t>(paths_.size(), 1)));
  const size_t n_threads = std::min(static_cast<size_t>(workers), paths_.size());
  try {
    for (size_t t = 0; t < n_threads; ++t) threads_.emplace_back(&ImageStream::work, this);
  } catch (...) {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    window_moved_.notify_all();
    for (auto& t : threads_) t.join();
    throw;
  }
}

ImageStream::~ImageStream() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  window_moved_.notify_all();
  item_ready_.notify_all();
  for (auto& t : threads_) t.join();
}

void ImageStream::pause_until_next() {
  std::lock_guard lock(mutex_);
  paused_ = true;
}

std::optional<StreamItem> ImageStream::next() {
  std::unique_lock lock(mutex_);
  if (paused_) {
    paused_ = false;
    window_moved_.notify_all();
  }
  if (next_to_consume_ >= paths_.size()) return std::nullopt;
  auto& slot = ring_[next_to_consume_ % ring_.size()];
  item_ready_.wait(lock, [&] { return slot.has_value(); });
  StreamItem item = std::move(*slot);
  slot.reset();
  ++next_to_consume_;
  lock.unlock();
  window_moved_.notify_all();
  return item;
}

void ImageStream::work() {
  for (;;) {
    const size_t i = next_claim_.fetch_add(1);
    if (i >= paths_.size()) return;
    {
      // i >= next_to_consume_ always holds here (item i is not stored yet), so the
      // subtraction cannot wrap; it avoids overflow for huge max_ahead values.
      std::unique_lock lock(mutex_);
      window_moved_.wait(lock, [&] { return stop_ || (!paused_ && i - next_to_consume_ < max_ahead_); });
      if (stop_) return;
    }
    StreamItem item;
    item.index = i;
    bool failed = false;
    try {
      try {
        item.path = paths_[i];
        item.chw = loader_(paths_[i]);
      } catch (const std::bad_alloc&) {
        throw;
      } catch (const Error& e) {
        failed = true;
        item.error = one_line(e.what());  // already names the file
      } catch (const std::exception& e) {
        failed = true;
        item.error = one_line(paths_[i].string() + ": " + e.what());
      } catch (...) {
        failed = true;
        item.error = paths_[i].string() + ": unknown error";
      }
      if (failed && item.error.empty()) item.error = paths_[i].string() + ": cannot load";
    } catch (const std::bad_alloc&) {
      // Also reached when building the message above runs out of memory.
      failed = true;
      try {
        item.error = paths_[i].string() + ": out of memory";
      } catch (...) {
        item.error = "out of memory";  // fits the small-string buffer: no allocation
      }
    }
    if (failed) item.chw = {};
    bool is_next = false;
    {
      std::lock_guard lock(mutex_);
      if (stop_) return;
      ring_[i % ring_.size()] = std::move(item);
      is_next = i == next_to_consume_;
    }
    if (is_next) item_ready_.notify_all();
  }
}

}  // namespace clipscope
