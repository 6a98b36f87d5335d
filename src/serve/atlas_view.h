#pragma once
// What the page shows of an atlas, as JSON: read-only queries over atlas.db (its
// examples, statistics and word database), its matrices and the feature
// visualizations found beside it. Safe to call from many request threads.
#include <torch/types.h>

#include <cstdint>
#include <filesystem>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "atlas/atlas.h"
#include "atlas/queries.h"
#include "serve/visualizations.h"
#include "words/database.h"

namespace clipscope::serve {

struct ViewOptions {
  std::filesystem::path atlas;
  std::filesystem::path visualizations;         // where visualize.json folders are looked for; empty: ATLAS/optvis
  std::optional<std::filesystem::path> labels;  // per-image labels for conditional-probability plots
  std::string label_key = "label";
  int condprob_bins = 12;
  size_t image_cache_bytes = 64 << 20;  // encoded example images kept in memory
};

// Encoded images by key, least recently used dropped first.
class ImageCache {
 public:
  explicit ImageCache(size_t capacity) : capacity_(capacity) {}
  std::shared_ptr<const std::string> get(const std::string& key);
  void put(const std::string& key, std::shared_ptr<const std::string> bytes);

 private:
  using Entry = std::pair<std::string, std::shared_ptr<const std::string>>;
  std::mutex mutex_;
  size_t capacity_, size_ = 0;
  std::list<Entry> order_;  // most recent first
  std::unordered_map<std::string, std::list<Entry>::iterator> entries_;
};

class AtlasView {
 public:
  explicit AtlasView(const ViewOptions& options);

  // Layer by canonical or indexed name; HttpError 404 naming the atlas's layers.
  const atlas::LayerInfo& layer(const std::string& name) const;
  // HttpError 404 when the unit is out of the layer's range.
  void check_unit(const atlas::LayerInfo& layer, int64_t unit) const;
  int n_px() const { return n_px_; }
  const std::filesystem::path& visualization_dir() const { return vis_dir_; }
  VisualizationIndex& visualizations() { return vis_; }
  const atlas::Atlas& atlas() const { return atlas_; }
  // The word sets of indexed layers, and a set's baseline activations.
  const std::vector<words::WordSet>& word_sets() const { return word_sets_; }
  torch::Tensor word_baseline(const words::WordSet& set) const;

  // The overview, with the featured units (ATLAS/featured.json, e.g. the tour's
  // multimodal units) when the atlas has them.
  nlohmann::json overview() const;
  // The featured units as read: {"title", "description", "units": [{layer, unit, note}]}
  // (entries naming layers or units the atlas lacks are dropped); null without a file.
  const nlohmann::json& featured() const { return featured_; }
  // A page of a layer's units, each with its label and family where stored (clipscope
  // label, clipscope families); `family` (empty: all) keeps the units of one family.
  nlohmann::json unit_grid(const std::string& layer, int64_t offset, int64_t limit, const std::string& sort,
                           const std::string& family = "") const;
  nlohmann::json unit(const std::string& layer, int64_t unit, int k) const;
  // by: "correlation" (of the units' per-image max over a sample of images; needs a
  // max matrix) or "words" (cosine of the units' responses over the word list).
  nlohmann::json neighbors(const std::string& layer, int64_t unit, const std::string& by, int k) const;
  // {"words": [...], "suggestions": [...]} from the word database.
  nlohmann::json word_search(const std::string& query, int k) const;
  nlohmann::json word(const std::string& word, int k) const;
  // Units whose stored labels are the query or start with it: [{layer, unit, label, rank, score, thumb}].
  nlohmann::json label_search(const std::string& query, int k) const;

  // An example as the model saw it: cropped around its cell, or whole with the cell
  // outlined; `size` pixels square. JPEG bytes.
  std::shared_ptr<const std::string> example_jpeg(const std::string& layer, int64_t unit, atlas::ExampleList list,
                                                  int rank, int size, bool full) const;

  // Unit tiles for the page: [{unit, <score_name>: value, thumb}].
  nlohmann::json unit_tiles(const atlas::LayerInfo& layer, const std::vector<std::pair<int64_t, double>>& units,
                            const std::string& score_name) const;
  std::string thumbnail_url(const atlas::LayerInfo& layer, int64_t unit) const;
  // The image files of a unit's top k examples by spatial max.
  std::vector<std::filesystem::path> example_paths(const atlas::LayerInfo& layer, int64_t unit, int k) const;
  // The unit's RMS over images of its per-image max (the "std from zero" unit).
  double rms(const atlas::LayerInfo& layer, int64_t unit) const;

 private:
  struct LayerStats {
    std::vector<double> rms, max;
    std::vector<int64_t> by_max;  // units, largest max first
    std::optional<std::filesystem::path> max_matrix;
  };
  const LayerStats& stats(const atlas::LayerInfo& layer) const { return stats_.at(layer.id); }
  std::optional<words::WordSet> word_set(const atlas::LayerInfo& layer) const;
  nlohmann::json read_featured(const std::filesystem::path& file) const;
  nlohmann::json featured_tiles() const;  // featured() with thumbnails, for the overview
  // A layer's stored labels (the top one per unit) and families; under db_mutex_.
  struct Annotations {
    std::optional<std::string> method;  // the labels' method; empty without labels
    std::map<int64_t, std::vector<std::pair<std::string, double>>> labels;
    std::map<int64_t, std::pair<std::string, std::vector<std::string>>> families;  // family, its words
  };
  Annotations annotations(const atlas::LayerInfo& layer, std::optional<int64_t> unit = std::nullopt) const;
  torch::Tensor correlation_rows(const atlas::LayerInfo& layer) const;
  torch::Tensor word_profiles(const atlas::LayerInfo& layer, const words::WordSet& set) const;

  mutable std::mutex db_mutex_;                       // one SQLite connection each, shared by the request threads
  mutable atlas::Atlas atlas_;                        // queried under db_mutex_ (maximal texts read its connection)
  mutable std::optional<words::WordDatabase> words_;  // queried under db_mutex_
  std::vector<words::WordSet> word_sets_;
  atlas::Settings settings_;
  int n_px_ = 0;
  int64_t readable_images_ = 0, skipped_images_ = 0;  // counted once: the atlas is read-only
  std::map<int, int64_t> set_words_;                  // encoded words per word set id
  std::filesystem::path vis_dir_;
  std::map<int, LayerStats> stats_;
  std::optional<atlas::Labels> labels_;
  int condprob_bins_;
  VisualizationIndex vis_;
  nlohmann::json featured_;  // null, or as featured() describes
  mutable ImageCache images_;
  mutable std::mutex neighbor_mutex_;
  mutable std::map<int, torch::Tensor> correlation_rows_, word_profiles_;  // by layer id, built on first use
};

}  // namespace clipscope::serve
