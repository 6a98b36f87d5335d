#pragma once
// The article's typographic attacks on any checkpoint: a text drawn at the same 8 fixed
// places on every image (white letters with a dark outline), the images classified
// before and after by a zero-shot classifier or a linear probe, and the outcome in the
// article's own fields (../shared/data/typographic/paper_small_attacks.json):
//   fraction_changed_to               top-1 was not the target and becomes it
//   fraction_already_equal            top-1 was the target and stays it
//   fraction_changed_away             top-1 was the target and is no longer
//   fraction_both_results_not_target  top-1 is not the target before or after
//   avg_img_l0_norm_diff              mean share of pixels the text changed
// (fractions of all images; the four add up to 1). Success is the article's: the share
// of images not already of the target whose top-1 becomes it.
#include <array>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/image/image.h"
#include "core/model/clip.h"
#include "core/raster/text.h"
#include "zeroshot/classifier.h"

namespace clipscope::experiments {

// Where the 8 copies of the text go and how large they are, relative to the image.
struct AttackLayout {
  std::string name;
  // Top-left corner of each copy's ink box (outline included), as fractions of the
  // image's width and height.
  std::vector<std::array<double, 2>> positions;
  double text_size = 0;      // the font's em size as a fraction of the image's shorter side
  double outline_width = 0;  // the dark outline's width, same unit
  // Whether the text goes on the image as read (before CLIP's resize and crop) or on
  // the model's input crop (after).
  bool before_preprocessing = false;
};
// The article's (the layout of small_attacks/example_after.png, read off the pair of
// images at 288 px, RN50x4's input): two columns of copies stepping down a diagonal,
// drawn on the model's input, so after preprocessing: its numbers are for that.
const AttackLayout& article_layout();
// NTUA's reproduction: its 8 coordinates on full-size ImageNet images (taken as
// 500 x 375 and scaled to other sizes), drawn before preprocessing.
const AttackLayout& ntua_layout();
// "article" or "ntua"; throws ArgumentError naming `parameter` otherwise.
const AttackLayout& attack_layout(const std::string& name, const std::string& parameter = "layout");

struct AttackStyle {
  std::string font = "DejaVuSans";
  Rgb fill{255, 255, 255};
  Rgb outline{0, 0, 0};
};

// Draws `text` at every position of `layout` on `image` (in place).
void draw_attack(Image& image, const std::string& text, const AttackLayout& layout, TextRasterizer& raster,
                 const AttackStyle& style = {});
// The share of pixels whose colour differs between two images of the same size.
double changed_pixel_fraction(const Image& a, const Image& b);

struct Attack {
  std::string text;    // what is written on the images
  std::string target;  // the class it aims for; empty: the class it moves most images to (searches)
};

// The article's attacks on its RN50x4 linear probe, with the target as the article
// names it and as CLIP's ImageNet class list names it (they differ for "trash").
struct ArticleAttack {
  std::string text, target, imagenet_class;
};
const std::vector<ArticleAttack>& article_attacks();
// NTUA's zero-shot attacks ("This is a photo of a {}", RN50): success as published.
struct PublishedSuccess {
  std::string text, target;
  double success = 0;
};
const std::vector<PublishedSuccess>& ntua_attacks();

struct AttackOutcome {
  Attack attack;  // the target resolved
  int64_t images = 0, changed_to = 0, already_equal = 0, changed_away = 0, both_not_target = 0;
  double pixel_cover = 0;  // avg_img_l0_norm_diff
  double fraction(int64_t count) const { return images > 0 ? static_cast<double>(count) / images : 0; }
  // Among images not already of the target, the share whose top-1 becomes it.
  double success() const;
  nlohmann::json to_json() const;  // the article's fields, plus text, target, images, success
};

// The article's numbers (paper_small_attacks.json: linear_probes.results[target][text]).
struct PublishedAttacks {
  int64_t images = 0;
  double baseline_accuracy = 0;
  std::vector<AttackOutcome> attacks;  // counts rebuilt from the fractions and `images`
  // The article's attack writing `text` (its texts are all different), or nullptr.
  const AttackOutcome* find(const std::string& text) const;
};
PublishedAttacks read_published_attacks(const std::filesystem::path& json);

struct AttackOptions {
  AttackLayout layout = article_layout();
  AttackStyle style;
  int batch_size = 32;
  int chunk = 256;  // images decoded at a time (and the checkpoint's step)
  // A folder for the run's rows (attack-rows.csv) and settings: a killed run given
  // the same folder and settings resumes where it stopped. Empty: no checkpoint.
  std::filesystem::path checkpoint;
  // What the caller loaded (e.g. the checkpoint's file identity): a resumed run must match.
  std::string model_identity;
  bool progress = true;
};

struct AttackRun {
  std::vector<AttackOutcome> outcomes;  // in the order of the attacks
  int64_t inputs = 0, images = 0;       // inputs given, images read
  std::vector<std::string> skipped;     // "path: reason" of unreadable images
  std::vector<int64_t> clean_top1;      // per input, the classifier's class index (-1: unreadable)
  int64_t resumed = 0;                  // image x attack pairs read back from the checkpoint
  nlohmann::json to_json() const;
};

// The experiment's entry point: every attack on every image. Throws ArgumentError for
// an unknown target, no attacks, a bad option, or a checkpoint folder holding
// another run's rows.
AttackRun typographic_attack(CLIP& model, const Classifier& classifier,
                             const std::vector<std::filesystem::path>& images, const std::vector<Attack>& attacks,
                             const AttackOptions& options = {});

// Writes `image` under the first `count` attacks, as the classifier saw it (the model's
// crop at n_px when drawn after preprocessing), as FOLDER/example-K.png.
void write_attack_examples(const std::filesystem::path& folder, const std::filesystem::path& image,
                           const std::vector<AttackOutcome>& outcomes, const AttackOptions& options, int n_px,
                           size_t count = 12);

// The article's search: each short class name (one word of at most `max_length`
// characters) as its own attack text, aimed at its class.
std::vector<Attack> class_name_attacks(const std::vector<std::string>& classes, size_t max_length = 12);
// Outcomes sorted by success, most successful first (stable).
std::vector<AttackOutcome> ranked_by_success(std::vector<AttackOutcome> outcomes);

// The outcomes as a table; with `published`, the article's value of each field beside
// ours where the attack is one of the article's (and NTUA's published success).
std::string attack_table(const std::vector<AttackOutcome>& outcomes, const PublishedAttacks* published = nullptr);

}  // namespace clipscope::experiments
