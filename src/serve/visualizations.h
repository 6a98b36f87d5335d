#pragma once
// The feature visualizations the page can show: every image of every
// visualize.json (written by `clipscope visualize`) found below a folder —
// by convention ATLAS/optvis — plus those the server renders itself. Each gets a
// numeric id, the only way the page can ask for one (no paths cross the API).
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace clipscope::serve {

struct Visualization {
  int64_t id = 0;
  std::string layer;  // canonical, as the atlas names it
  int64_t unit = 0;
  std::string kind;   // "channel" or "facet"
  std::string label;  // e.g. "lucid", "facet face (strength 2.7)"
  std::optional<double> activation;
  std::filesystem::path file;
};

class VisualizationIndex {
 public:
  // Maps a layer name as visualize wrote it to the atlas's canonical name (or
  // nullopt when the atlas has no such layer: that image is left out).
  using LayerResolver = std::function<std::optional<std::string>(const std::string&)>;

  // Reads every visualize.json below root (missing root: nothing). A file that is
  // not a readable report is skipped and counted.
  void scan(const std::filesystem::path& root, const LayerResolver& resolve);
  // Adds the images of one visualize.json; returns how many.
  int add_report(const std::filesystem::path& report, const LayerResolver& resolve);

  std::vector<Visualization> for_unit(const std::string& layer, int64_t unit) const;
  std::optional<Visualization> get(int64_t id) const;
  int64_t count(const std::string& layer) const;  // units of the layer with at least one
  int64_t skipped_reports() const;

 private:
  mutable std::mutex mutex_;
  std::vector<Visualization> all_;
  std::map<std::pair<std::string, int64_t>, std::vector<size_t>> by_unit_;
  int64_t skipped_ = 0;
};

}  // namespace clipscope::serve
