#pragma once
// Place names with their geography, for region-neuron maps (the article maps a
// unit's response to rasterized country and city names onto the world).
#include <array>
#include <filesystem>
#include <string>
#include <vector>

namespace clipscope::words {

struct Place {
  std::string name;
  std::string kind;  // "country" (has rings) or "city" (a point)
  double lon = 0, lat = 0;  // a city's position; a country's ring-vertex mean, for labels
  std::vector<std::vector<std::array<double, 2>>> rings;  // outer rings, (lon, lat) degrees
};

// Reads the article's paper_regional_geo.json ({"countries": [GeoJSON features
// with properties.name], "cities": [{name, pos: [lon, lat]}]}), a GeoJSON
// FeatureCollection (Polygon / MultiPolygon -> country, Point -> city; the name
// from properties.name, NAME or ADMIN), or a CSV with columns name,lon,lat.
// Throws Error naming the file and what is wrong.
std::vector<Place> read_places(const std::filesystem::path& path);

}  // namespace clipscope::words
