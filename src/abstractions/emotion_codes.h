#pragma once
// Sparse emotion codes (the article's "jealous = champion + hug + grumpy − crying"):
// every feeling wheel word written as a few units of the image tower's last layer.
//
// The attribution vectors are the dense weights of a linear classifier over those units
// (the bilinear view: a word's logit is the units' values · its vector, scaled as CLIP
// scales a cosine). A word's code is a sparse logistic regression on them: on a set of
// images, a binary logistic regression with an L1 penalty whose target on each image is
// σ(z_w − z̄), the probability, by the attribution vectors, that the image goes with the
// word rather than with the average word of the wheel; each word's own regularization
// path runs until its code has the chosen number of units. Units a reader should not see
// in an explanation (lexical units, a user's list) are left out.
#include <torch/types.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "abstractions/attribution.h"
#include "abstractions/sparse_probe.h"
#include "core/model/image_batches.h"
#include "core/text/feeling_wheel.h"
#include "words/wordvec.h"

namespace clipscope::abstractions {

struct EmotionCodesOptions {
  std::filesystem::path wheel;     // feeling_wheel.tsv
  AttributionOptions attribution;  // the point and the prompts (its `center` is not used)
  // Each word's fit: neurons_per_class is the code's length (the article's codes have 2
  // to 4 units); `validation` is the share of the images held out (stratified by the
  // dense classifier's top word) to measure how well the codes reproduce it.
  SparseProbeOptions probe = {.path = 40};
  // Units no code may use: these, the units a file lists (words::read_unit_list) and the
  // lexical units of an atlas's word database for the point (words::find_lexical_units
  // with `lexical_rule`, the rule wordvec masks by).
  std::vector<int64_t> exclude;
  std::filesystem::path exclude_file;
  std::filesystem::path lexical_atlas;
  words::LexicalRule lexical_rule;
  int label_words = 3;  // wheel words naming each unit
  int batch_size = 32;
  bool progress = false;
};

struct EmotionCodes {
  std::string point;
  std::vector<FeelingWord> words;  // each once, in wheel order
  torch::Tensor attributions;      // (words, units), uncentered
  std::vector<int64_t> units;      // the units codes may use: the columns of weight
  std::vector<int64_t> excluded;   // sorted, distinct
  int64_t lexical = 0;             // of them, found lexical in options.lexical_atlas
  // The codes on standardized values of `units`: a word's logit relative to the average
  // word is weight[w]·(x − mean)/std + bias[w].
  torch::Tensor weight, bias, mean, std;
  std::vector<PathPoint> fits;  // per word, the path point kept (its λ, units, iterations)
  double logit_scale = 0;
  int64_t images = 0, skipped = 0, held_out = 0;
  // Held out, means over words: the share of images where a code's logit and the word's
  // relative logit z_w − z̄ have the same sign (chance: the more frequent sign's share),
  // and the correlation between them.
  double agreement = 0, chance = 0, correlation = 0;
  // The share of the codes' weights whose sign is that of the word's centred attribution
  // to the unit (a unit raising the word's logit more than the other words' enters with +).
  double sign_agreement = 0;
  // Per unit of the layer (all of them): the wheel words its centred attribution
  // raises most, best first: what the unit stands for among the emotions.
  std::vector<std::vector<std::string>> unit_words;

  // Word w's code: (unit of the layer, weight on its standardized value), largest |weight| first.
  std::vector<std::pair<int64_t, double>> code(size_t w) const;
  // "jealous = +412 (scared insecure afraid) + 17 (…) − 5 (…)" for word w.
  std::string formula(size_t w) const;
  nlohmann::json to_json() const;
  std::string csv() const;    // word,core,rank,unit,weight,unit_words,lambda
  std::string table() const;  // the report the CLI prints: the fit, then each word's formula by core
};

// The dense classifier's logits on `features` (N, units of the point): the logit scale ×
// features·attributionsᵀ / ‖features·directions‖, i.e. CLIP's scaled cosine between a
// word and the image embedding the affine last step makes of the features.
torch::Tensor bilinear_logits(const torch::Tensor& features, const torch::Tensor& attributions,
                              const torch::Tensor& directions, double logit_scale);

// The units' values a code reads, per image: the spatial mean of a ResNet's last layer
// (what the attention pool averages), or a ViT's class token as ln_post normalizes it
// (without its gain, which the directions hold). Unreadable images are skipped and counted.
EncodedImages code_features(CLIP& model, const std::vector<std::filesystem::path>& images, const std::string& point,
                            int batch_size, bool progress);

// Throws Error for an unreadable wheel, no readable image, an excluded unit out of range,
// an unreadable unit file, an atlas without a word database for the point, or a point
// without directions (attribute_texts' errors).
EmotionCodes emotion_codes(CLIP& model, const Tokenizer& tokenizer, const std::vector<std::filesystem::path>& images,
                           const EmotionCodesOptions& options);

// Writes into `dir`: codes.json (`json`, e.g. to_json() with the model added, and the
// weights' file name), codes.csv, weights.npy (words × usable units, on standardized
// values) and codes.png: the article's Fig. 8 view of the codes, the positive weights
// of the core and secondary words on their units.
void write_emotion_codes(const std::filesystem::path& dir, const EmotionCodes& codes, nlohmann::json json);

}  // namespace clipscope::abstractions
