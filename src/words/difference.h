#pragma once
// The channel difference engine (the CLIP-circuits follow-up): the units of a
// layer ranked by a rasterized text's activation minus a baseline text's. One
// entry point that `clipscope diff` and the tests call.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/model/clip.h"
#include "words/encoder.h"

namespace clipscope::words {

struct UnitDifference {
  int64_t unit = 0;
  double difference = 0, text = 0, baseline = 0;  // text - baseline; the two activations
};

struct Difference {
  std::string layer;  // canonical
  std::string text, baseline;
  std::vector<UnitDifference> units;  // the k largest differences, largest first
  // {"layer", "text", "baseline", "units": [{rank, unit, difference, text, baseline}]}
  nlohmann::json to_json() const;
};

// Throws ArgumentError naming "k", "text" or "baseline" (a text that cannot be
// rasterized in `style`, with why).
Difference difference_engine(CLIP& model, const std::string& layer, const std::string& text,
                             const std::string& baseline, const WordStyle& style, int k = 20);

}  // namespace clipscope::words
