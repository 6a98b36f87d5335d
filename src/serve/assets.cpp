#include "serve/assets.h"

#include <algorithm>

namespace clipscope::serve {

const Asset* find_asset(std::string_view name) {
  const auto& list = assets();
  const auto it = std::find_if(list.begin(), list.end(), [&](const Asset& a) { return a.name == name; });
  return it == list.end() ? nullptr : &*it;
}

std::string_view content_type(std::string_view name) {
  auto ends_with = [&](std::string_view suffix) { return name.ends_with(suffix); };
  if (ends_with(".html")) return "text/html; charset=utf-8";
  if (ends_with(".js") || ends_with(".mjs")) return "text/javascript; charset=utf-8";
  if (ends_with(".css")) return "text/css; charset=utf-8";
  if (ends_with(".svg")) return "image/svg+xml";
  if (ends_with(".png")) return "image/png";
  return "application/octet-stream";
}

}  // namespace clipscope::serve
