#pragma once
// The synthetic world as a stream of (image, caption, ground truth) items:
// item i of a world with seed s is always the same, whatever the thread count,
// so training can generate data on the fly and `clipscope world` can write it.
#include <cstdint>
#include <filesystem>

#include "core/image/image.h"
#include "core/raster/text.h"
#include "world/scene.h"

namespace clipscope::world {

struct WorldSample {
  Scene scene;  // ground truth, with its caption
  Image image;
};

class World {
 public:
  explicit World(uint64_t seed, WorldOptions options = {});
  // raster: the calling thread's own (FreeType is not thread-safe).
  WorldSample sample(uint64_t index, TextRasterizer& raster) const;
  const WorldOptions& options() const { return options_; }
  uint64_t seed() const { return seed_; }

 private:
  uint64_t seed_;
  WorldOptions options_;
};

// Writes items [0, n) of the world to `dir`: images/NNNNNNNN.png, captions.tsv
// (open_clip's CSV layout: "filepath<TAB>title" with a header line) and labels.jsonl
// (one JSON object of ground truth per image, in order). threads <= 0: every core.
// Throws Error naming the path when the directory cannot be written.
void write_world(const std::filesystem::path& dir, uint64_t n, const World& world, int threads, bool progress);

}  // namespace clipscope::world
