#pragma once
// The blind-labelling kit (the article's appendix method for a unit's meaning
// across its whole range): images sampled uniformly across the unit's activation
// range, shuffled and numbered, written as labels.csv (fill in the label
// column), sheet.png (the numbered images, no hint where the unit fired) and
// key.csv (each sample's bucket and value: keep it closed while labelling).
// labels.csv is what `condprob --labels` reads back. One entry point that
// `clipscope buckets` and the tests call.
#include <cstdint>
#include <filesystem>
#include <vector>

#include "atlas/atlas.h"
#include "atlas/queries.h"

namespace clipscope::atlas {

struct LabellingKit {
  std::vector<Bucket> buckets;
  int64_t samples = 0;
};

// Throws ArgumentError naming "bins", "per_bin" or "out", and Error when the atlas
// keeps no per-image values for the layer (it needs a max matrix).
LabellingKit write_labelling_kit(const Atlas& atlas, const LayerInfo& layer, int64_t unit, int bins, int per_bin,
                                 uint64_t seed, const std::filesystem::path& out);

}  // namespace clipscope::atlas
