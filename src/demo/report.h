#pragma once
// What a CLIP learned about the synthetic world, measured against its ground
// truth: retrieval, zero-shot accuracy per concept family, multimodal units,
// typographic attacks and the Stroop test. `clipscope demo-report` prints it and
// the tests assert the shipped demo model's targets from it.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "core/model/clip.h"
#include "core/text/tokenizer.h"
#include "demo/concepts.h"

namespace clipscope::demo {

// The world edition the shipped demo model (models/demo) was trained on: the
// second (emoji, flags, silhouettes, 1,638 concept names; issue 19).
inline constexpr int kShippedWorldEdition = 2;

struct ReportOptions {
  int world_edition = kShippedWorldEdition;  // of the held-out world and the fonts words are drawn in
  uint64_t seed = 1 + 1000003;               // held-out world (training uses seed 1)
  int retrieval_pairs = 1000;                // in groups of retrieval_candidates
  int retrieval_candidates = 100;
  int zero_shot_images = 400;  // per concept family
  int unit_images = 50;        // per concept, objects and written words each
  std::string unit_layer = "visual.layer4";
  int attack_images = 200;  // per family (colour, shape)
  int stroop_images = 4;    // per (word, ink) cell
  int batch = 256;
  bool concepts = true;  // the second edition's concept measures (ConceptReport)
  ConceptOptions concept_options;
};

struct MultimodalUnit {
  std::string name;  // the concept
  int64_t unit = -1;
  double object_z = 0;  // concept objects vs other objects, in std of the other objects
  double word_z = 0;    // the concept's written word (black on white) vs other words, in std of other words
};

struct Report {
  std::string model;
  // Top-1 retrieval: right when the retrieved item has the true caption or the
  // same ground truth (images no caption can tell apart); "exact" = the very pair.
  double image_to_text_top1 = 0, text_to_image_top1 = 0;
  double image_to_text_exact = 0, text_to_image_exact = 0;
  double zero_shot_color = 0, zero_shot_shape = 0, zero_shot_count = 0, zero_shot_emotion = 0, zero_shot_reading = 0;
  std::string unit_layer;
  std::vector<MultimodalUnit> color_units, shape_units;
  int multimodal_colors = 0, multimodal_shapes = 0;  // units >= 2 std for both the object and the word
  // Typographic attack: accuracy without text, with a wrong concept word written
  // on the object, and the fraction of predictions that became the written word.
  double attack_color_clean = 0, attack_color_attacked = 0, attack_color_flip = 0;
  double attack_shape_clean = 0, attack_shape_attacked = 0, attack_shape_flip = 0;
  // Stroop: rows = written word, columns = ink; each cell = fraction classified
  // as the ink colour with "my favorite word, written in the color {}".
  std::vector<std::string> stroop_colors;
  std::vector<std::vector<double>> stroop_ink;
  std::vector<std::vector<double>> stroop_word;  // fraction classified as the written word
  double stroop_congruent_ink = 0, stroop_incongruent_ink = 0, stroop_incongruent_word = 0;
  // The second edition's concepts: multimodal, region and emotion units, zero-shot by
  // family, the typographic attack with concept names (empty when not measured).
  ConceptReport concepts;
  bool has_concepts = false;
  int world_edition = kShippedWorldEdition;  // the concept targets apply to second-edition models

  // The targets the shipped demo model must meet (issues 3 and 19), checked on the numbers.
  struct Target {
    std::string name;
    double value, goal;
    bool met() const { return value >= goal; }
  };
  std::vector<Target> targets() const;
  nlohmann::json to_json() const;
  std::string to_text() const;
};

Report demo_report(CLIP& model, const Tokenizer& tokenizer, const ReportOptions& options, bool progress = false);

}  // namespace clipscope::demo
