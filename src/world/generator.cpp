#include "world/generator.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <exception>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/util/error.h"
#include "core/util/progress.h"

namespace clipscope::world {

namespace fs = std::filesystem;

World::World(uint64_t seed, WorldOptions options) : seed_(seed), options_(options) { options_.validate(); }

WorldSample World::sample(uint64_t index, TextRasterizer& raster) const {
  Rng rng = Rng::for_item(seed_, index);
  WorldSample item{sample_scene(rng, raster, options_), {}};
  item.image = render_scene(item.scene, raster);
  return item;
}

void write_world(const fs::path& dir, uint64_t n, const World& world, int threads, bool progress) {
  std::error_code ec;
  fs::create_directories(dir / "images", ec);
  if (ec) throw Error(fmt::format("{}: cannot create the world directory ({})", dir.string(), ec.message()));
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const int digits = std::max<int>(6, static_cast<int>(std::to_string(n).size()));

  std::vector<std::string> captions(n), labels(n);
  std::atomic<uint64_t> next{0};
  std::mutex mutex;
  std::exception_ptr failure;
  Progress bar("world", static_cast<int64_t>(n), "img", progress);
  auto work = [&] {
    try {
      TextRasterizer raster;
      for (uint64_t i; (i = next.fetch_add(1)) < n;) {
        WorldSample item = world.sample(i, raster);
        const std::string name = fmt::format("images/{:0{}}.png", i, digits);
        write_png(dir / name, item.image);
        nlohmann::json j = item.scene.labels();
        j["id"] = i;
        j["image"] = name;
        captions[i] = name + "\t" + item.scene.caption;
        labels[i] = j.dump();
        std::lock_guard lock(mutex);
        bar.add();
      }
    } catch (...) {
      std::lock_guard lock(mutex);
      if (!failure) failure = std::current_exception();
      next = n;  // stop the other workers
    }
  };
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) pool.emplace_back(work);
  for (auto& t : pool) t.join();
  if (failure) std::rethrow_exception(failure);
  bar.finish();

  auto write_lines = [&](const fs::path& path, const std::string& header, const std::vector<std::string>& lines) {
    std::ofstream out(path);
    if (!out) throw Error(fmt::format("{}: cannot be written", path.string()));
    if (!header.empty()) out << header << '\n';
    for (const auto& line : lines) out << line << '\n';
    if (!out.flush()) throw Error(fmt::format("{}: write failed (disk full?)", path.string()));
  };
  write_lines(dir / "captions.tsv", "filepath\ttitle", captions);
  write_lines(dir / "labels.jsonl", "", labels);
}

}  // namespace clipscope::world
