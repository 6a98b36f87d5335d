#include "atlas/queries.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "atlas/matrix.h"
#include "core/util/csv.h"
#include "core/util/error.h"
#include "core/util/strings.h"

namespace clipscope::atlas {

namespace fs = std::filesystem;

PixelBox cell_box(const LayerInfo& layer, int32_t cell, int n_px) {
  int64_t index = cell;
  if (layer.layout == Layout::LND || layer.layout == Layout::NLD) index = cell - 1;  // token 0 is the class token
  if (index < 0 || layer.grid_height * layer.grid_width <= 1 || index >= layer.grid_height * layer.grid_width)
    return {0, 0, n_px, n_px};
  const auto row = index / layer.grid_width, col = index % layer.grid_width;
  const auto x0 = static_cast<int>(col * n_px / layer.grid_width),
             x1 = static_cast<int>((col + 1) * n_px / layer.grid_width);
  const auto y0 = static_cast<int>(row * n_px / layer.grid_height),
             y1 = static_cast<int>((row + 1) * n_px / layer.grid_height);
  return {x0, y0, x1 - x0, y1 - y0};
}

PixelBox crop_around(const PixelBox& cell, int n_px, double fraction) {
  int side = std::max({static_cast<int>(std::lround(fraction * n_px)), cell.width, cell.height});
  side = std::clamp(side, 1, n_px);
  const int cx = cell.x + cell.width / 2, cy = cell.y + cell.height / 2;
  return {std::clamp(cx - side / 2, 0, n_px - side), std::clamp(cy - side / 2, 0, n_px - side), side, side};
}

UnitValues unit_values(const Atlas& atlas, const LayerInfo& layer, int64_t unit, Quantity quantity) {
  atlas.check_unit(layer, unit);
  const auto file = atlas.matrix(layer, quantity);
  if (!file)
    throw Error(fmt::format("atlas {} keeps no per-image '{}' values for {} (index it keeping the {} matrix of {})",
                            atlas.dir().string(), quantity_name(quantity), layer.name, quantity_name(quantity),
                            layer.name));
  UnitValues v;
  v.values = read_matrix_row(*file, unit);
  v.first_image = atlas.shard().first;
  v.rms = atlas.summary(layer, unit, quantity).rms;
  return v;
}

torch::Tensor correlation_rows(const fs::path& matrix, int64_t max_samples) {
  if (max_samples < 2) throw ArgumentError("max_samples", std::to_string(max_samples), "must be at least 2");
  const auto shape = matrix_shape(matrix);
  const int64_t units = shape.at(0), columns = shape.at(1);
  const int64_t stride = std::max<int64_t>(1, (columns + max_samples - 1) / max_samples);
  const int64_t samples = (columns + stride - 1) / stride;
  torch::Tensor rows = torch::zeros({units, samples});
  auto r = rows.accessor<float, 2>();
  for (int64_t u = 0; u < units; ++u) {
    const auto values = read_matrix_row(matrix, u);
    double sum = 0;
    int64_t n = 0;
    for (int64_t j = 0; j < samples; ++j)
      if (const float v = values[static_cast<size_t>(j * stride)]; std::isfinite(v)) sum += v, ++n;
    const double mean = n ? sum / static_cast<double>(n) : 0;
    double squares = 0;
    for (int64_t j = 0; j < samples; ++j) {
      const float v = values[static_cast<size_t>(j * stride)];
      const double d = std::isfinite(v) ? v - mean : 0;
      r[u][j] = static_cast<float>(d);
      squares += d * d;
    }
    if (squares > 0) rows[u].div_(std::sqrt(squares));
  }
  return rows;
}

std::vector<double> bucket_edges(const UnitValues& unit, int bins) {
  if (bins < 1) throw ArgumentError("bins", std::to_string(bins), "must be at least 1");
  double lo = INFINITY, hi = -INFINITY;
  for (float v : unit.values)
    if (std::isfinite(v)) lo = std::min(lo, static_cast<double>(v)), hi = std::max(hi, static_cast<double>(v));
  if (!std::isfinite(lo) || unit.rms <= 0) throw Error("the unit has no nonzero values to bucket");
  lo /= unit.rms;
  hi /= unit.rms;
  std::vector<double> edges;
  for (int i = 0; i <= bins; ++i) edges.push_back(lo + (hi - lo) * i / bins);
  return edges;
}

namespace {

int bucket_of(double value_in_rms, const std::vector<double>& edges) {
  const int bins = static_cast<int>(edges.size()) - 1;
  const double span = edges.back() - edges.front();
  if (span <= 0) return 0;
  return std::clamp(static_cast<int>(std::floor((value_in_rms - edges.front()) / span * bins)), 0, bins - 1);
}

std::string normal_path(const fs::path& p) { return fs::absolute(p).lexically_normal().string(); }

}  // namespace

std::vector<Bucket> bucket_images(const UnitValues& unit, int bins, int per_bin, uint64_t seed) {
  if (per_bin < 1) throw ArgumentError("per_bin", std::to_string(per_bin), "must be at least 1");
  const auto edges = bucket_edges(unit, bins);
  std::vector<std::vector<int64_t>> members(static_cast<size_t>(bins));
  for (size_t j = 0; j < unit.values.size(); ++j)
    if (std::isfinite(unit.values[j]))
      members[static_cast<size_t>(bucket_of(unit.values[j] / unit.rms, edges))].push_back(unit.first_image +
                                                                                          static_cast<int64_t>(j));
  std::mt19937_64 rng(seed);
  std::vector<Bucket> buckets;
  for (int b = 0; b < bins; ++b) {
    Bucket bucket;
    bucket.lo = edges[static_cast<size_t>(b)];
    bucket.hi = edges[static_cast<size_t>(b) + 1];
    auto& m = members[static_cast<size_t>(b)];
    bucket.population = static_cast<int64_t>(m.size());
    std::sample(m.begin(), m.end(), std::back_inserter(bucket.sample), per_bin, rng);
    buckets.push_back(std::move(bucket));
  }
  return buckets;
}

Labels read_labels(const Atlas& atlas, const fs::path& file, const std::string& key) {
  std::ifstream in(file);
  if (!in) throw ArgumentError("labels", file.string(), "cannot open");
  std::map<std::string, int64_t> id_of_path;
  std::set<int64_t> readable_ids;
  {
    SQLite::Statement q(const_cast<Atlas&>(atlas).database(), "SELECT id, path FROM images WHERE status = 'ok'");
    while (q.executeStep()) {
      id_of_path[q.getColumn(1).getString()] = q.getColumn(0).getInt64();
      readable_ids.insert(q.getColumn(0).getInt64());
    }
  }
  Labels labels;
  auto assign = [&](const std::string& image, const std::string& label, const fs::path& relative_to) {
    if (label.empty()) return void(++labels.unlabelled);
    int64_t id = -1;
    fs::path p(image);
    auto it = id_of_path.find(normal_path(p.is_absolute() ? p : relative_to / p));
    if (it == id_of_path.end()) it = id_of_path.find(normal_path(p));  // relative to the working directory
    if (it != id_of_path.end()) {
      id = it->second;
    } else if (const auto number = to_number<int64_t>(image); number && readable_ids.count(*number)) {
      id = *number;  // an image id, as buckets' labels.csv has
    }
    if (id < 0) return void(++labels.unmatched);
    labels.by_image[id] = label;
  };
  const fs::path base = file.parent_path();
  std::string line;
  const std::string ext = file.extension().string();
  if (ext == ".jsonl" || ext == ".json") {
    int64_t number = 0;
    while (std::getline(in, line)) {
      ++number;
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      nlohmann::json j;
      try {
        j = nlohmann::json::parse(line);
      } catch (const std::exception&) {
        throw ArgumentError("labels", file.string(), fmt::format("line {} is not JSON", number));
      }
      if (!j.contains("image") || !j["image"].is_string())
        throw ArgumentError("labels", file.string(), fmt::format("line {} has no \"image\" path", number));
      const auto it = j.find(key);
      std::string label;
      if (it != j.end() && !it->is_null()) label = it->is_string() ? it->get<std::string>() : it->dump();
      assign(j["image"].get<std::string>(), label, base);
    }
  } else {
    if (!std::getline(in, line)) throw ArgumentError("labels", file.string(), "empty file");
    const auto header = csv_fields(line);
    auto column = [&](std::initializer_list<const char*> names) {
      for (const char* name : names)
        for (size_t i = 0; i < header.size(); ++i)
          if (header[i] == name) return static_cast<int>(i);
      return -1;
    };
    const int image_col = column({"path", "image"}), label_col = column({key.c_str()});
    if (image_col < 0 || label_col < 0)
      throw ArgumentError("labels", file.string(),
                          fmt::format("the header needs an 'image' or 'path' column and a '{}' column", key));
    while (std::getline(in, line)) {
      if (line.empty() || line == "\r") continue;
      const auto fields = csv_fields(line);
      const auto get = [&](int c) { return c < static_cast<int>(fields.size()) ? fields[static_cast<size_t>(c)] : ""; };
      assign(get(image_col), get(label_col), base);
    }
  }
  return labels;
}

ConditionalProbability conditional_probability(const UnitValues& unit, const Labels& labels, int bins) {
  const auto edges = bucket_edges(unit, bins);
  ConditionalProbability cp;
  std::set<std::string> names;
  for (const auto& [id, label] : labels.by_image) names.insert(label);
  cp.labels.assign(names.begin(), names.end());
  cp.labelled.assign(static_cast<size_t>(bins), 0);
  std::map<std::string, std::vector<int64_t>> counts;
  for (const auto& name : cp.labels) counts[name].assign(static_cast<size_t>(bins), 0);
  for (const auto& [id, label] : labels.by_image) {
    const int64_t j = id - unit.first_image;
    if (j < 0 || j >= static_cast<int64_t>(unit.values.size())) continue;
    const float v = unit.values[static_cast<size_t>(j)];
    if (!std::isfinite(v)) continue;
    const auto b = static_cast<size_t>(bucket_of(v / unit.rms, edges));
    ++counts[label][b];
    ++cp.labelled[b];
  }
  for (int b = 0; b < bins; ++b) {
    cp.lo.push_back(edges[static_cast<size_t>(b)]);
    cp.hi.push_back(edges[static_cast<size_t>(b) + 1]);
  }
  for (const auto& name : cp.labels) {
    std::vector<double> p(static_cast<size_t>(bins), 0.0);
    for (size_t b = 0; b < p.size(); ++b)
      if (cp.labelled[b] > 0) p[b] = static_cast<double>(counts[name][b]) / static_cast<double>(cp.labelled[b]);
    cp.p.push_back(std::move(p));
  }
  return cp;
}

}  // namespace clipscope::atlas
