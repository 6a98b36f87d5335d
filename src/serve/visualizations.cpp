#include "serve/visualizations.h"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

namespace fs = std::filesystem;

namespace clipscope::serve {

void VisualizationIndex::scan(const fs::path& root, const LayerResolver& resolve) {
  std::error_code ec;
  if (!fs::is_directory(root, ec)) return;
  std::vector<fs::path> reports;
  for (auto it = fs::recursive_directory_iterator(root, fs::directory_options::skip_permission_denied, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
    if (it->path().filename() == "visualize.json") reports.push_back(it->path());
  std::sort(reports.begin(), reports.end());  // ids in a stable order
  for (const auto& report : reports) add_report(report, resolve);
}

int VisualizationIndex::add_report(const fs::path& report, const LayerResolver& resolve) {
  nlohmann::json j;
  try {
    std::ifstream in(report);
    j = nlohmann::json::parse(in);
    if (!j.is_object() || !j.contains("renders")) throw std::runtime_error("no renders");
  } catch (const std::exception&) {
    std::lock_guard lock(mutex_);
    ++skipped_;
    return 0;
  }
  const bool facet = j.contains("facet");
  const std::string method = j.value("method", std::string("lucid"));
  std::string probe;
  if (facet && j["facet"].contains("probe")) probe = fs::path(j["facet"]["probe"].get<std::string>()).stem().string();
  int added = 0;
  std::lock_guard lock(mutex_);
  for (const auto& render : j["renders"]) {
    if (!render.contains("images")) continue;
    const auto& images = render["images"];
    for (size_t i = 0; i < images.size(); ++i) {
      const auto& image = images[i];
      if (!image.contains("layer") || !image.contains("unit") || !image.contains("file")) continue;  // free objectives
      const auto layer = resolve(image["layer"].get<std::string>());
      const fs::path file = report.parent_path() / image["file"].get<std::string>();
      if (!layer || !fs::exists(file)) continue;
      Visualization v;
      v.id = static_cast<int64_t>(all_.size());
      v.layer = *layer;
      v.unit = image["unit"].get<int64_t>();
      v.kind = facet ? "facet" : "channel";
      // A facet batch runs the facet term's strength across its images.
      v.label = facet ? fmt::format("facet {} #{}", probe, i + 1) : method;
      if (image.contains("activation") && image["activation"].is_number())
        v.activation = image["activation"].get<double>();
      v.file = file;
      by_unit_[{v.layer, v.unit}].push_back(all_.size());
      all_.push_back(std::move(v));
      ++added;
    }
  }
  return added;
}

std::vector<Visualization> VisualizationIndex::for_unit(const std::string& layer, int64_t unit) const {
  std::lock_guard lock(mutex_);
  std::vector<Visualization> out;
  if (auto it = by_unit_.find({layer, unit}); it != by_unit_.end())
    for (size_t i : it->second) out.push_back(all_[i]);
  // Plain channel visualizations first: they are what a thumbnail shows.
  std::stable_sort(out.begin(), out.end(),
                   [](const auto& a, const auto& b) { return a.kind == "channel" && b.kind != "channel"; });
  return out;
}

std::optional<Visualization> VisualizationIndex::get(int64_t id) const {
  std::lock_guard lock(mutex_);
  if (id < 0 || id >= static_cast<int64_t>(all_.size())) return std::nullopt;
  return all_[static_cast<size_t>(id)];
}

int64_t VisualizationIndex::count(const std::string& layer) const {
  std::lock_guard lock(mutex_);
  int64_t n = 0;
  for (const auto& [key, ids] : by_unit_) n += key.first == layer;
  return n;
}

int64_t VisualizationIndex::skipped_reports() const {
  std::lock_guard lock(mutex_);
  return skipped_;
}

}  // namespace clipscope::serve
