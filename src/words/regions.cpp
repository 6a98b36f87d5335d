#include "words/regions.h"

#include <fmt/format.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/raster/text.h"
#include "core/util/csv.h"
#include "core/util/error.h"
#include "core/util/files.h"
#include "core/util/strings.h"

namespace clipscope::words {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

std::vector<std::array<double, 2>> read_ring(const json& ring) {
  std::vector<std::array<double, 2>> out;
  for (const auto& p : ring) out.push_back({p.at(0).get<double>(), p.at(1).get<double>()});
  return out;
}

std::string feature_name(const json& properties) {
  for (const char* key : {"name", "NAME", "ADMIN", "admin"})
    if (properties.contains(key) && properties[key].is_string()) return properties[key].get<std::string>();
  return "";
}

// A GeoJSON feature as a place; holes (inner rings) are dropped: the maps fill countries whole.
Place feature_place(const json& feature) {
  Place p;
  p.name = feature_name(feature.value("properties", json::object()));
  const json& g = feature.at("geometry");
  const std::string type = g.at("type").get<std::string>();
  if (type == "Point") {
    p.kind = PlaceKind::City;
    p.lon = g.at("coordinates").at(0).get<double>();
    p.lat = g.at("coordinates").at(1).get<double>();
    return p;
  }
  p.kind = PlaceKind::Country;
  if (type == "Polygon")
    p.rings.push_back(read_ring(g.at("coordinates").at(0)));
  else if (type == "MultiPolygon")
    for (const auto& polygon : g.at("coordinates")) p.rings.push_back(read_ring(polygon.at(0)));
  else
    throw std::invalid_argument("geometry " + type + " is not a Point, Polygon or MultiPolygon");
  double sx = 0, sy = 0, n = 0;
  for (const auto& ring : p.rings)
    for (const auto& [lon, lat] : ring) sx += lon, sy += lat, ++n;
  if (n > 0) p.lon = sx / n, p.lat = sy / n;
  return p;
}

std::vector<Place> read_csv(const fs::path& path) {
  std::ifstream in(path);
  std::vector<Place> out;
  std::string line;
  std::getline(in, line);  // header
  for (int line_no = 2; std::getline(in, line); ++line_no) {
    if (line.empty() || line == "\r") continue;
    const std::vector<std::string> fields = csv_fields(line);
    const auto lon = fields.size() < 3 ? std::nullopt : to_number<double>(trim(fields[1]));
    const auto lat = fields.size() < 3 ? std::nullopt : to_number<double>(trim(fields[2]));
    if (!lon || !lat) throw Error(fmt::format("{}:{}: expected name,lon,lat", path.string(), line_no));
    Place p;
    p.name = fields[0];
    p.lon = *lon;
    p.lat = *lat;
    p.kind = PlaceKind::City;
    out.push_back(p);
  }
  return out;
}

}  // namespace

std::string place_kind_name(PlaceKind kind) { return kind == PlaceKind::Country ? "country" : "city"; }

std::vector<Place> read_places(const fs::path& path) {
  std::ifstream in(path);
  if (!in) throw Error(fmt::format("{}: cannot open", path.string()));
  std::vector<Place> out;
  if (path.extension() == ".csv") {
    out = read_csv(path);
  } else {
    try {
      const json doc = json::parse(in);
      std::vector<json> features;
      if (doc.contains("countries") || doc.contains("cities")) {
        for (const auto& f : doc.value("countries", json::array())) out.push_back(feature_place(f));
        for (const auto& c : doc.value("cities", json::array()))
          out.push_back({c.at("name").get<std::string>(),
                         PlaceKind::City,
                         c.at("pos").at(0).get<double>(),
                         c.at("pos").at(1).get<double>(),
                         {}});
      } else if (doc.value("type", "") == "FeatureCollection") {
        for (const auto& f : doc.at("features")) out.push_back(feature_place(f));
      } else {
        throw std::invalid_argument("neither {countries, cities} nor a GeoJSON FeatureCollection");
      }
    } catch (const json::exception& e) {
      throw Error(fmt::format("{}: not valid place data ({})", path.string(), e.what()));
    } catch (const std::invalid_argument& e) {
      throw Error(fmt::format("{}: not valid place data ({})", path.string(), e.what()));
    }
  }
  for (const auto& p : out) {
    if (p.name.empty()) throw Error(fmt::format("{}: a place without a name", path.string()));
    if (!(p.lon >= -180 && p.lon <= 180 && p.lat >= -90 && p.lat <= 90))
      throw Error(fmt::format("{}: {} at ({}, {}) is not a longitude/latitude", path.string(), p.name, p.lon, p.lat));
  }
  if (out.empty()) throw Error(fmt::format("{}: no places", path.string()));
  return out;
}

PlaceResponses place_responses(CLIP& model, const std::string& layer, int64_t unit, const std::vector<Place>& places,
                               const std::string& baseline, const WordStyle& style, int batch_size,
                               const std::function<void(int64_t, int64_t)>& progress) {
  TextRasterizer raster;
  if (const std::string problem = word_problem(raster, baseline, style); !problem.empty())
    throw ArgumentError("baseline", "'" + baseline + "'", problem);
  PlaceResponses r;
  r.unit = unit;
  r.baseline = baseline;
  std::vector<std::string> names;
  for (const auto& p : places) {
    if (std::string problem = word_problem(raster, p.name, style); !problem.empty()) {
      r.skipped.emplace_back(p.name, std::move(problem));
      continue;
    }
    names.push_back(p.name);
    r.places.push_back(p);
  }
  if (names.empty()) throw ArgumentError("places", "", "no place name can be rasterized");
  WordEncoder encoder(model, layer, style, batch_size);
  r.layer = encoder.layer();
  if (unit < 0 || unit >= encoder.units())
    throw ArgumentError("unit", fmt::format("{}:{}", r.layer, unit),
                        fmt::format("out of range ({} has units 0-{})", r.layer, encoder.units() - 1));
  const auto total = static_cast<int64_t>(names.size());
  const torch::Tensor acts = encoder
                                 .encode(names,
                                         [&](int64_t n) {
                                           if (progress) progress(n, total);
                                         })
                                 .select(1, unit);
  const double base = encoder.encode({baseline})[0][unit].item<double>();
  for (int64_t i = 0; i < total; ++i) r.values.push_back(acts[i].item<double>() - base);
  return r;
}

void write_place_table(const fs::path& csv, const PlaceResponses& responses) {
  std::ostringstream table;
  table << "name,kind,lon,lat,activation\n";
  for (size_t i = 0; i < responses.places.size(); ++i) {
    const Place& p = responses.places[i];
    table << csv_field(p.name) << ',' << place_kind_name(p.kind) << ',' << p.lon << ',' << p.lat << ','
          << responses.values[i] << '\n';
  }
  write_file_atomically(csv, table.str());
}

}  // namespace clipscope::words
