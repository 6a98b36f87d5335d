#pragma once
// The article's atlas of emotions: every feeling wheel word's attribution vector
// (the units that raise "i am feeling {word}" and the other emotion prompts),
// factorized by NMF; with 2 factors the article finds valence and arousal, with 7
// the wheel's core emotions.
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "abstractions/attribution.h"
#include "abstractions/nmf.h"
#include "core/text/feeling_wheel.h"

namespace clipscope::abstractions {

struct EmotionAtlasOptions {
  std::filesystem::path wheel;     // feeling_wheel.tsv
  AttributionOptions attribution;  // the article's three emotion prompts by default
  std::vector<int64_t> factors = {2, 7};
  NmfOptions nmf;         // its `factors` is set from `factors`
  int64_t top_units = 8;  // units listed per factor
  // Subtract the mean of all words' attribution vectors before factorizing
  // (AttributionOptions::center): uncentered, every word's top units are the same few,
  // and the atlas is about how the words differ.
  bool center = true;
};

struct EmotionFactors {
  int64_t factors = 0;
  torch::Tensor loadings;      // (words, factors), each factor scaled to a maximum of 1
  std::vector<double> errors;  // NMF's relative error per iteration
  // Per factor: its units by weight, a signed unit each ("+12": raises the words'
  // logits, "-12": lowers them), and its words by loading.
  std::vector<std::vector<std::pair<std::string, double>>> units;
  std::vector<std::vector<std::string>> words;
  // (cores, factors): mean loading of each core emotion's words.
  torch::Tensor core_means;
  // Factors matched one-to-one to core emotions (greedily by core_means; a factor
  // left over maps to ""), and the share of words whose strongest factor is their
  // core's. Chance: the largest core's share of the words.
  std::vector<std::string> factor_core;
  double agreement = 0, chance = 0;
  // Per factor: (mean loading of happy words - mean of the five negative cores' words)
  // over the pooled std, a valence reading of the factor (no external ratings are used).
  std::vector<double> valence;
};

struct EmotionAtlas {
  std::string point;
  std::vector<FeelingWord> wheel;  // every line of the wheel (a word under two cores twice)
  std::vector<FeelingWord> words;  // each word once, in wheel order
  std::vector<std::string> cores;  // the wheel's core emotions in order
  torch::Tensor attributions;      // (words, units), centered unless options.center is off
  std::vector<EmotionFactors> factorizations;
  nlohmann::json to_json() const;
  std::string table() const;  // the report the CLI prints
};

// Throws Error for an unreadable wheel, factors < 1 or more than the words.
EmotionAtlas emotion_atlas(CLIP& model, const Tokenizer& tokenizer, const EmotionAtlasOptions& options);

// A scatter of the words on a 2-factor solution, coloured by core emotion and labelled.
void write_emotion_scatter(const std::filesystem::path& png, const EmotionAtlas& atlas, const EmotionFactors& f);
// The feeling wheel (core, secondary and tertiary rings) with each word coloured by
// its strongest factor, lighter where that factor's loading is weaker.
void write_emotion_wheel(const std::filesystem::path& png, const EmotionAtlas& atlas, const EmotionFactors& f);

}  // namespace clipscope::abstractions
