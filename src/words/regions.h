#pragma once
// Place names with their geography, for region-neuron maps (the article maps a
// unit's response to rasterized country and city names onto the world).
#include <array>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "core/model/clip.h"
#include "words/encoder.h"

namespace clipscope::words {

enum class PlaceKind { Country, City };       // a country has rings; a city is a point
std::string place_kind_name(PlaceKind kind);  // "country", "city"

struct Place {
  std::string name;
  PlaceKind kind = PlaceKind::Country;
  double lon = 0, lat = 0;                                // a city's position; a country's ring-vertex mean, for labels
  std::vector<std::vector<std::array<double, 2>>> rings;  // outer rings, (lon, lat) degrees
};

// Reads the article's paper_regional_geo.json ({"countries": [GeoJSON features
// with properties.name], "cities": [{name, pos: [lon, lat]}]}), a GeoJSON
// FeatureCollection (Polygon / MultiPolygon -> country, Point -> city; the name
// from properties.name, NAME or ADMIN), or a CSV with columns name,lon,lat.
// Throws Error naming the file and what is wrong.
std::vector<Place> read_places(const std::filesystem::path& path);

// A unit's response to each place's rasterized name, minus a baseline text's:
// what the article's region maps show. One entry point that `clipscope
// region-map` and the tests call.
struct PlaceResponses {
  std::string layer;  // canonical
  int64_t unit = 0;
  std::string baseline;
  std::vector<Place> places;                                 // the places measured, in the order given
  std::vector<double> values;                                // per place: activation minus the baseline's
  std::vector<std::pair<std::string, std::string>> skipped;  // names that cannot be rasterized in the style, and why
};

// Throws ArgumentError naming "unit" (out of range), "baseline" (cannot be
// rasterized) or "places" (no name can be). `progress` is called after every
// model batch with the names done and the total.
PlaceResponses place_responses(CLIP& model, const std::string& layer, int64_t unit, const std::vector<Place>& places,
                               const std::string& baseline, const WordStyle& style, int batch_size = 32,
                               const std::function<void(int64_t done, int64_t total)>& progress = {});

// The responses as CSV (name,kind,lon,lat,activation), written atomically.
void write_place_table(const std::filesystem::path& csv, const PlaceResponses& responses);

}  // namespace clipscope::words
