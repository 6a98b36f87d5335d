#include "words/difference.h"

#include <algorithm>

#include "core/raster/text.h"
#include "core/util/error.h"

namespace clipscope::words {

nlohmann::json Difference::to_json() const {
  nlohmann::json rows = nlohmann::json::array();
  for (size_t r = 0; r < units.size(); ++r)
    rows.push_back({{"rank", r},
                    {"unit", units[r].unit},
                    {"difference", units[r].difference},
                    {"text", units[r].text},
                    {"baseline", units[r].baseline}});
  return {{"layer", layer}, {"text", text}, {"baseline", baseline}, {"units", rows}};
}

Difference difference_engine(CLIP& model, const std::string& layer, const std::string& text,
                             const std::string& baseline, const WordStyle& style, int k) {
  if (k < 1) throw ArgumentError("k", std::to_string(k), "must be positive");
  style.validate();
  TextRasterizer raster;
  for (const auto& [parameter, word] : {std::pair{"text", &text}, {"baseline", &baseline}})
    if (const std::string problem = word_problem(raster, *word, style); !problem.empty())
      throw ArgumentError(parameter, "'" + *word + "'", problem);
  WordEncoder encoder(model, layer, style);
  const torch::Tensor acts = encoder.encode({text, baseline});
  const torch::Tensor difference = acts[0] - acts[1];
  const auto [values, units] = difference.topk(std::min<int64_t>(k, encoder.units()));
  Difference d{encoder.layer(), text, baseline, {}};
  for (int64_t r = 0; r < units.size(0); ++r) {
    const int64_t u = units[r].item<int64_t>();
    d.units.push_back({u, values[r].item<double>(), acts[0][u].item<double>(), acts[1][u].item<double>()});
  }
  return d;
}

}  // namespace clipscope::words
