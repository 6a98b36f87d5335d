#pragma once
// `clipscope label`: every unit of an atlas's layers described by the concepts of a list,
// CLIP-Dissect's way — the layer's activations over the atlas's images (its matrix) against
// a CLIP's similarities between those images and the concepts (labels/similarity.h). The
// labelling CLIP may differ from the atlas's model, as CLIP-Dissect uses one CLIP to label
// another network. Labels are stored in the atlas (tables documented in docs/labels.md).
// The long part, the images' embeddings, is kept in chunks below ATLAS/labels, so a killed
// run resumes where it stopped.
#include <cstdint>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include <SQLiteCpp/Database.h>

#include "atlas/indexer.h"
#include "core/model/clip.h"
#include "core/text/tokenizer.h"
#include "labels/similarity.h"

namespace clipscope::labels {

enum class Method { SoftWpmi, Wpmi, Cosine, CosineCubed };
Method parse_method(const std::string& name);  // soft-wpmi | wpmi | cos | cos3; throws ArgumentError
std::string method_name(Method method);

struct LabelOptions {
  std::vector<std::string> layers;  // atlas layers; empty: every layer with a matrix of `quantity`
  std::string quantity = "mean";    // the matrix read: CLIP-Dissect uses the spatial mean
  Method method = Method::SoftWpmi;
  int top = 5;                  // labels stored per unit
  std::string prompt = "{}";    // the concept's text, "{}" replaced by the concept
  int batch = 32;               // images per forward pass
  int64_t chunk_images = 1024;  // images per embedding chunk kept on disk
  bool progress = false;
  SoftWpmiOptions soft_wpmi;
  WpmiOptions wpmi;
  int crash_after = 0;  // tests: stop like a killed process after this many chunks
};

// One unit's labels, best first.
struct UnitLabel {
  std::string concept_name;
  double score = 0;
};

struct LabelReport {
  std::vector<std::string> layers;
  int64_t images = 0, concepts = 0;
  int64_t chunks_computed = 0, chunks_reused = 0;
  double seconds = 0;
};

// Labels every unit of the options' layers and stores the top `top` per unit (replacing
// an earlier run of the same layer and method). `identity` is the labelling CLIP's.
LabelReport label_atlas(CLIP& model, const Tokenizer& tokenizer, const atlas::ModelIdentity& identity,
                        const std::filesystem::path& atlas_dir, const std::vector<std::string>& concepts,
                        const LabelOptions& options = {});

// The stored labels of one unit by a method (empty when none).
std::vector<UnitLabel> stored_labels(const std::filesystem::path& atlas_dir, const std::string& layer, int64_t unit,
                                     Method method = Method::SoftWpmi);
// Every labelled unit of a layer and its labels (empty when the layer has none), from the
// atlas's folder or its open database (serve reads through its own connection).
std::map<int64_t, std::vector<UnitLabel>> stored_layer_labels(const std::filesystem::path& atlas_dir,
                                                              const std::string& layer,
                                                              Method method = Method::SoftWpmi);
std::map<int64_t, std::vector<UnitLabel>> stored_layer_labels(SQLite::Database& db, const std::string& layer,
                                                              Method method);
// The method a layer's stored labels were made by (soft-wpmi first when there are several);
// nullopt when it has none.
std::optional<Method> stored_method(SQLite::Database& db, const std::string& layer);

// Units whose stored labels are `query` or start with it (case-insensitive), exact ones
// first, then by the label's rank and score; at most `limit`.
struct LabelMatch {
  std::string layer;
  Method method = Method::SoftWpmi;
  int64_t unit = 0;
  std::string concept_name;
  int rank = 0;
  double score = 0;
};
std::vector<LabelMatch> find_labelled_units(SQLite::Database& db, const std::string& query, int limit);

}  // namespace clipscope::labels
