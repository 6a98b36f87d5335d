#include "atlas/labelling.h"

#include <fmt/format.h>

#include <algorithm>
#include <random>
#include <sstream>

#include "atlas/sheets.h"
#include "core/util/csv.h"
#include "core/util/error.h"
#include "core/util/files.h"
#include "plot/sheet.h"

namespace clipscope::atlas {

namespace fs = std::filesystem;

LabellingKit write_labelling_kit(const Atlas& atlas, const LayerInfo& layer, int64_t unit, int bins, int per_bin,
                                 uint64_t seed, const fs::path& out) {
  const auto values = unit_values(atlas, layer, unit, Quantity::Max);
  LabellingKit kit;
  kit.buckets = bucket_images(values, bins, per_bin, seed);
  struct Sample {
    int64_t image;
    size_t bucket;
  };
  std::vector<Sample> samples;
  for (size_t b = 0; b < kit.buckets.size(); ++b)
    for (auto id : kit.buckets[b].sample) samples.push_back({id, b});
  if (samples.empty()) throw ArgumentError("per_bin", std::to_string(per_bin), "no images to sample");
  std::mt19937_64 rng(seed + 1);
  std::shuffle(samples.begin(), samples.end(), rng);

  std::error_code ec;
  fs::create_directories(out, ec);
  if (ec) throw ArgumentError("out", out.string(), fmt::format("cannot create ({})", ec.message()));
  std::ostringstream labels, key;
  labels << "sample,image,path,label\n";
  key << "sample,image,bucket,bucket_lo,bucket_hi,value,std_from_zero\n";
  std::vector<plot::Tile> tiles;
  SheetOptions options;
  options.full = true;
  const int n_px = atlas.settings().n_px;
  for (size_t i = 0; i < samples.size(); ++i) {
    const auto& s = samples[i];
    const std::string path = atlas.image_path(s.image);
    const float value = values.values[static_cast<size_t>(s.image - values.first_image)];
    const auto& b = kit.buckets[s.bucket];
    labels << i + 1 << ',' << s.image << ',' << csv_field(path) << ",\n";
    key << fmt::format("{},{},{},{:.4f},{:.4f},{:.6g},{:.4f}\n", i + 1, s.image, s.bucket, b.lo, b.hi, value,
                       value / values.rms);
    ExampleRow row{static_cast<int>(i), s.image, value, 0, path};
    auto tile = example_tile(layer, row, n_px, options, fmt::format("#{}", i + 1));
    tile.outline.reset();  // activation-blind: no hint where the unit fired
    tiles.push_back(std::move(tile));
  }
  write_file_atomically(out / "labels.csv", labels.str());
  write_file_atomically(out / "key.csv", key.str());
  plot::write_contact_sheet(out / "sheet.png", tiles, 8, 128, "label each numbered image in labels.csv");
  kit.samples = static_cast<int64_t>(samples.size());
  return kit;
}

}  // namespace clipscope::atlas
