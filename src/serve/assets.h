#pragma once
// The page's static files (src/serve/web), compiled into the binary so that
// `clipscope serve` needs nothing beside it and works offline.
#include <string_view>
#include <vector>

namespace clipscope::serve {

struct Asset {
  std::string_view name;  // file name, e.g. "app.js"
  std::string_view bytes;
};

const std::vector<Asset>& assets();
// By exact file name; nullptr when there is none (names are never paths).
const Asset* find_asset(std::string_view name);
// "text/html; charset=utf-8" etc., from the name's extension.
std::string_view content_type(std::string_view name);

}  // namespace clipscope::serve
