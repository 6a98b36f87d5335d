#pragma once
// The tour: what clipscope is for, on the demo model, in one call. It draws a
// world, indexes it into an atlas, adds a word database of the world's concept
// names, and finds the units that respond to a concept both as a picture and as its
// written name (the article's multimodal neurons), which it records in the atlas as
// the page's featured units. Every step is skipped when a previous run finished it,
// so a second run is quick; `clipscope tour` then serves the atlas.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "atlas/indexer.h"
#include "core/model/clip.h"
#include "core/text/tokenizer.h"

namespace clipscope::tour {

struct TourOptions {
  std::filesystem::path dir = "tour";  // world/, atlas/, words.txt
  uint64_t images = 3000;              // world images indexed
  uint64_t world_seed = 7;             // not the training seed (1) nor the report's
  std::string layer = "visual.layer4";
  int k = 50;                  // examples kept per unit
  int featured = 12;           // multimodal units featured on the page
  int concepts = 256;          // concepts searched for multimodal units (demo::ConceptOptions)
  int images_per_concept = 8;  // ... pictures and written names drawn of each
  bool progress = true;
};

// A unit the page shows first, and why.
struct FeaturedUnit {
  std::string layer;
  int64_t unit = 0;
  std::string concept_name, family;
  double picture_z = 0, word_z = 0;  // the concept's pictures and written name vs the other concepts', in std
  nlohmann::json to_json() const;
};

struct TourResult {
  std::filesystem::path world, atlas;
  std::vector<FeaturedUnit> featured;
  std::vector<std::string> steps_done;    // "world", "index", "words", "featured": built by this run
  std::vector<std::string> steps_reused;  // ... found complete from an earlier run
};

// Builds (or completes) the tour in options.dir with `model`, which must be a model of
// the world (the demo model): the featured units come from demo::concept_report.
// Throws Error naming the file or step that failed.
TourResult build_tour(CLIP& model, const atlas::ModelIdentity& identity, const Tokenizer& tokenizer,
                      const TourOptions& options);

// The featured units file the page reads: ATLAS/featured.json,
// {"title", "description", "units": [{layer, unit, note, ...}]}.
std::filesystem::path featured_file(const std::filesystem::path& atlas_dir);

}  // namespace clipscope::tour
