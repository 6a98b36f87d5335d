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
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

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

}  // namespace clipscope::labels
