#pragma once
// What a CLIP learned about the second edition's concepts, measured on images the
// world draws for the purpose: per-concept multimodal units (the article's
// finding), region units, emotion units, zero-shot accuracy per family and the
// typographic attack with concept names. demo_report calls it; so can tests.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "core/model/clip.h"
#include "core/text/tokenizer.h"

namespace clipscope::demo {

struct ConceptOptions {
  uint64_t seed = 1 + 1000003;  // held-out (training uses seed 1)
  int concepts = 256;           // evaluated concepts: every colour and shape, the rest evenly over the catalog
  int images = 8;               // per concept and modality
  std::vector<std::string> layers = {"visual.layer4", "visual.attnpool"};
  int region_images = 4;       // per country and modality (every country of the catalog)
  int emotion_images = 24;     // per core emotion: face emoji, and written words of the emotion
  int zero_shot_images = 200;  // per family
  int attack_images = 400;     // emoji with another concept's name written on them
  int batch = 256;
  double threshold = 2.0;  // z (std) a unit must reach for each modality
  // Only the per-concept multimodal units and reading (LayerConcepts without the
  // region counts; no region or emotion units, zero-shot or attack): what the tour needs.
  bool multimodal_only = false;
};

// The best unit for one concept at one layer: max over units of min(object z, word z).
struct ConceptUnit {
  std::string name, family;
  int64_t unit = -1;
  double object_z = 0;  // the concept's pictures (emoji, flag or drawn objects) vs the other concepts', in their std
  double word_z = 0;    // its written name vs the other concepts' names
  double score = 0;     // min(object_z, word_z) at the best unit
  double read = 0;      // fraction of its written-name images zero-shot classified as it (among the evaluated names)
};

struct LayerConcepts {
  std::string layer;
  int64_t units = 0;
  std::vector<ConceptUnit> concepts;
  int multimodal = 0;         // concepts with score >= threshold
  int multimodal_colors = 0;  // ... of the 8 colours
  // Chance level: the same count with every concept's pictures paired with another
  // concept's written name (a fixed derangement). Skewed unit responses make the
  // max over units of min(z, z) reach 2 std without any multimodality.
  int multimodal_shuffled = 0;
  int regions_with_silhouettes = 0;
  int three_modalities = 0;  // of those, regions whose flag, silhouette and name are >= threshold at one unit
  double fraction() const { return concepts.empty() ? 0.0 : static_cast<double>(multimodal) / concepts.size(); }
};

struct RegionUnit {
  int64_t unit = -1;
  int shared = 0;                             // countries in both top-10 lists
  std::vector<std::string> by_flag, by_name;  // top-10 countries
  std::string continent;                      // the most common continent of the 20 entries
  double continent_share = 0;                 // ... and its share
};

struct EmotionUnit {
  int64_t unit = -1;
  std::string emotion;  // the feeling wheel's core emotion
  double face_z = 0, word_z = 0;
};

struct ConceptAttack {
  double clean = 0, attacked = 0, flip = 0;  // accuracy without, with the text; fraction answering the written word
  double pixel_cover = 0;                    // mean fraction of pixels the text changed
  int images = 0;
};

struct ConceptReport {
  int64_t catalog_concepts = 0;
  std::vector<LayerConcepts> layers;
  std::vector<RegionUnit> region_units;    // at the first layer, units with shared >= 3, best first
  int region_units_shuffled = 0;           // chance: the same count with the countries' names shuffled
  std::vector<EmotionUnit> emotion_units;  // at the first layer, units >= threshold for faces and words of one emotion
  int emotion_units_shuffled = 0;          // chance: faces of one emotion paired with the words of the next
  std::vector<EmotionUnit> emotion_best;   // per core emotion, its best unit by min(face z, word z), met or not
  std::vector<std::pair<std::string, double>> zero_shot;  // family -> top-1 among the family's names
  ConceptAttack attack;
  double reading = 0;  // zero-shot reading of the evaluated concepts' written names ("the word {}", ...)
  double threshold = 2.0;
  nlohmann::json to_json() const;
  std::string to_text() const;
};

// A unit's std over the other concepts is floored at this share of the layer's typical
// (median) unit std over the same images: a unit silent on everything else has a std near
// zero there, and any trace of a response would otherwise count as thousands of std.
inline constexpr double kStdFloorShare = 0.25;

// The report's z: every label's rows against all other rows, per unit, (mean_in -
// mean_out) / max(std_out, kStdFloorShare * the median over units of their std over all
// rows). acts (N, U), labels in [0, classes). Returns (classes, U), double.
torch::Tensor label_z(const torch::Tensor& acts, const std::vector<int64_t>& labels, int64_t classes);

ConceptReport concept_report(CLIP& model, const Tokenizer& tokenizer, const ConceptOptions& options,
                             bool progress = false);

}  // namespace clipscope::demo
