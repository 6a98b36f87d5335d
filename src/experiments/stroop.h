#pragma once
// The article's Stroop test: colour words written in every ink, classified
// zero-shot among the colours with the prompt "my favorite word, written in the
// color {}". Which does CLIP report: the ink or the word? The article's
// probabilities are in ../shared/data/typographic/paper_stroop_experiment.json.
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/image/image.h"
#include "core/model/clip.h"
#include "core/raster/text.h"
#include "core/text/tokenizer.h"

namespace clipscope::experiments {

inline constexpr const char* kStroopPrompt = "my favorite word, written in the color {}";
// The article's inks (and classes), in its order, and its words: the colour words
// but "black", and the control word "example", each written in every ink.
const std::vector<std::string>& article_stroop_colours();
const std::vector<std::string>& article_stroop_words();

struct StroopStimulus {
  std::string word;  // a colour word or a control word
  size_t ink = 0;    // index into the colours
  Image image;
};

struct StroopOptions {
  std::vector<std::string> colours = article_stroop_colours();
  std::string prompt = kStroopPrompt;  // "{}" for the colour
  int batch_size = 32;
};

// One word in one ink. p_*: mean probabilities over the cell's images (softmax over
// the colours at the model's logit scale); top1_*: the fraction of them classified
// as the ink or as the word. For a control word the word fields are NaN.
struct StroopCell {
  std::string word, ink;
  int64_t images = 0;
  double p_ink = 0, p_word = 0, top1_ink = 0, top1_word = 0;
};

struct StroopResult {
  std::vector<std::string> colours;            // the classes and the inks (columns)
  std::vector<std::string> words;              // rows: the colour words in colour order, then the others
  std::vector<std::vector<StroopCell>> cells;  // [word][ink]
  // Means over cells: congruent (word = ink) and incongruent (word != ink, colour words only).
  double congruent_p_ink = 0, incongruent_p_ink = 0, incongruent_p_word = 0;
  double congruent_top1_ink = 0, incongruent_top1_ink = 0, incongruent_top1_word = 0;

  const StroopCell* cell(const std::string& word, const std::string& ink) const;
  nlohmann::json to_json() const;
  // P(ink) per cell as a table; with `published`, the article's value beside each.
  std::string table(const StroopResult* published = nullptr) const;
};

// Classifies the stimuli and gathers them by word and ink. Throws ArgumentError for an
// ink out of range, fewer than 2 colours or a prompt without "{}".
StroopResult stroop(CLIP& model, const Tokenizer& tokenizer, const std::vector<StroopStimulus>& stimuli,
                    const StroopOptions& options = {});

// Stimuli at `size` pixels: every word once in every ink (CSS colour names), in
// DejaVu Sans Bold on white, centred, as large as fits 80 % of the width.
std::vector<StroopStimulus> render_stroop_stimuli(TextRasterizer& raster, int size,
                                                  const std::vector<std::string>& colours,
                                                  const std::vector<std::string>& words);

struct StroopRun {
  StroopResult result;
  std::optional<StroopResult> published;  // the article's, when its file was given
};
// The experiment's entry point: the article's stimuli (render_stroop_stimuli at the
// model's resolution) classified by `model`; with `published` (the article's JSON) its
// numbers beside them.
StroopRun article_stroop(CLIP& model, const Tokenizer& tokenizer, const StroopOptions& options = {},
                         const std::vector<std::string>& words = article_stroop_words(),
                         const std::filesystem::path& published = {});

// The article's probabilities (its JSON: output[ink][word].results = [[p, colour], ...])
// as a result with one image per cell (top-1 from the probabilities).
StroopResult read_published_stroop(const std::filesystem::path& json);

// The grid as a picture: a row per word, a column per ink, each cell the word in its
// ink over a bar of P(ink) (and, for colour words, P(word) in grey).
void write_stroop_grid(const std::filesystem::path& png, const StroopResult& result);

}  // namespace clipscope::experiments
