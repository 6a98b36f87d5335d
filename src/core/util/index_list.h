#pragma once
// Lists of indices as users type them: "12", "12,40,7", "0-9,12", "all".
#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/util/error.h"
#include "core/util/strings.h"

namespace clipscope {

// "12", "12,40,7", "0-9,12" or "all" -> indices in [0, count), in the order given
// (ranges inclusive). Throws ArgumentError naming `parameter` and the whole list for
// an item that is not an index or a range, or one out of range (`what` names the
// range in that message: "unit 800 is out of range for visual.layer4 (768 units)").
inline std::vector<int64_t> parse_index_list(std::string_view list, int64_t count, const std::string& parameter,
                                             std::string_view what) {
  const std::string text(list);
  if (trim(list) == "all") {
    std::vector<int64_t> all(static_cast<size_t>(std::max<int64_t>(count, 0)));
    for (int64_t i = 0; i < count; ++i) all[static_cast<size_t>(i)] = i;
    return all;
  }
  std::vector<int64_t> out;
  for (const auto& raw : split(list, ',')) {
    const std::string_view item = trim(raw);
    const auto dash = item.find('-', 1);
    const auto lo = to_number<int64_t>(item.substr(0, dash));
    const auto hi = dash == std::string_view::npos ? lo : to_number<int64_t>(item.substr(dash + 1));
    if (!lo || !hi || *lo < 0 || *hi < *lo)
      throw ArgumentError(parameter, text, fmt::format("'{}' is not an index or a range A-B", item));
    if (*hi >= count)
      throw ArgumentError(parameter, text, fmt::format("{} {} is out of range for {}", parameter, *hi, what));
    for (int64_t i = *lo; i <= *hi; ++i) out.push_back(i);
  }
  return out;
}

}  // namespace clipscope
