#pragma once
// The article's typographic attacks "in the wild": photos of real objects with a
// handwritten label stuck on them (../shared/data/typographic/in-the-wild/, named
// SERIES_OBJECT-TEXT.jpg, "blank" for an empty label), classified among ImageNet's
// classes and compared with the article's probabilities for the same photo
// (paper_in_the_wild_SERIES.json: [object][text].zero_shot_statistics and
// linear_probe_statistics, lists of [probability, class]).
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/model/clip.h"
#include "zeroshot/classifier.h"

namespace clipscope::experiments {

struct WildPhoto {
  std::filesystem::path path;
  int series = 0;
  std::string object, text;  // text "blank": no label written
};
// "2_apple-ipod.jpg" -> series 2, object "apple", text "ipod"; nullopt for other names.
std::optional<WildPhoto> parse_wild_photo(const std::filesystem::path& path);

using ClassProbabilities = std::vector<std::pair<std::string, double>>;  // most probable first

struct WildResult {
  WildPhoto photo;
  ClassProbabilities ours;  // top `top` classes
  // The article's, sorted (empty when it has none for this photo).
  ClassProbabilities article_zero_shot, article_probe;
};

// Whether a class reads the label: its name holds the label's text as a word, case
// ignored ("iPod" for "ipod", "laptop computer" for "laptop").
bool names_text(const std::string& class_name, const std::string& text);

struct WildSummary {
  int64_t photos = 0, compared = 0;  // photos read; of them, those the article has numbers for
  int64_t same_top1_zero_shot = 0;   // our top-1 is the article's zero-shot top-1
  // Photos with a label naming another object ("text" != "blank" and != the object):
  // how many have a top-1 class that names the label, ours and the article's.
  int64_t attacked = 0, ours_read = 0, article_zero_shot_read = 0, article_probe_read = 0, article_attacked = 0;
  nlohmann::json to_json() const;
};

struct WildRun {
  std::vector<WildResult> results;  // in file name order
  WildSummary summary;
  std::vector<std::string> skipped;  // "path: reason" for unreadable photos and names that do not parse
  nlohmann::json to_json() const;
  // Photo by photo: ours beside the article's zero-shot top-1, then the summary.
  std::string table() const;
};

struct WildOptions {
  int top = 5;
  int batch_size = 16;
  bool progress = true;
};

// The experiment's entry point: classifies every photo of `folder` whose name parses,
// and puts the article's numbers (`published`: its paper_in_the_wild_*.json files; the
// series is the number in each file's name) beside ours.
WildRun in_the_wild(CLIP& model, const Classifier& classifier, const std::filesystem::path& folder,
                    const std::vector<std::filesystem::path>& published = {}, const WildOptions& options = {});

// A contact sheet: every photo with our top `lines` classes and probabilities under it
// (and the article's zero-shot top-1 when known).
void write_wild_sheet(const std::filesystem::path& png, const WildRun& run, int lines = 3, int columns = 8);

}  // namespace clipscope::experiments
