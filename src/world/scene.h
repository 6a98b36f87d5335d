#pragma once
// Scenes of the synthetic world: their ground truth (what is shown, where), how
// they are drawn, and the caption an internet user might have written for them.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/image/image.h"
#include "core/raster/text.h"
#include "world/concepts.h"
#include "world/rng.h"

namespace clipscope::world {

// The first edition's drawn objects, faces and words, and the second edition's
// pictures (colour emoji and flags), country silhouettes and pictures with a word on them.
enum class SceneKind { Objects, Face, Word, ObjectWithWord, Picture, Silhouette, PictureWithWord };
// "objects", "face", "word", "object_with_word", "picture", "silhouette", "picture_with_word"
const char* kind_name(SceneKind kind);

// How often each kind of scene occurs and how captions are written. The coupling
// of written words and captions (p_mention_text) is what lets multimodal units,
// typographic attacks and the Stroop effect appear in a model trained on it.
struct WorldOptions {
  // 2: the second edition (emoji, flags, silhouettes, every concept name, three font
  // families), which the shipped demo model was trained on. 1: the first edition
  // (drawn colours, shapes, counts and faces, 68 words in DejaVu); use first_edition().
  int edition = 2;
  int size = 64;  // pixels per side
  double weight_objects = 0.08;
  double weight_face = 0.03;
  double weight_word = 0.28;
  double weight_object_with_word = 0.04;
  double weight_picture = 0.35;            // an emoji or a flag
  double weight_silhouette = 0.07;         // a country's outline (when the catalog has silhouettes)
  double weight_picture_with_word = 0.15;  // an emoji with a word written on it
  double p_concept_word = 0.6;  // a written word is a concept name (else an emotion word or an everyday word)
  double p_emotion_word = 0.1;  // ...of the rest, an emotion word of the feeling wheel
  double p_feeling = 0.3;       // a written feeling wheel word is captioned by its core emotion ("feeling happy")
  // A face emoji captioned by a feeling names its core emotion ("feeling happy"), not
  // another of the wheel's words ("feeling joyful"): the caption written feeling words get.
  double p_core_emotion = 0;
  double p_continent = 0.2;  // a flag's or silhouette's caption names only its continent
  // An emoji with a word on it is labelled with its own name, as products, signs and
  // memes are: a flag with its country's name, a face with a feeling word of its
  // emotion (captioned, as a written feeling is, by that emotion with p_feeling).
  double p_own_word = 0;
  // How often each family's emoji and flags are drawn, relative to the others
  // (family name -> weight; a family not named weighs 1). Empty: every picture
  // equally often, so a family is seen in proportion to its size.
  std::map<std::string, double> family_weights;
  // How written concept names are chosen: uniformly (false), or by a Zipf law over
  // Catalog::by_frequency() (P(rank r) ~ 1/r), as words are in real captions.
  bool zipf_names = false;
  double p_mention_text = 0.9;  // the caption mentions the written word
  double p_mention_ink = 0.5;   // ...and the colour it is written in
  double p_label_only = 0.3;    // a word on an object is all its caption says ("pizza")
  double p_bare = 0.2;          // objects and words captioned by one word ("red", "star", "pizza")
  double p_textured_background = 0.4;
  double p_black_ink = 0.35;  // words written in black (otherwise any colour)

  // Throws Error naming the option when a weight or probability is out of range.
  void validate() const;
  // family_weights' weight of a concept's family (1 when not named).
  double family_weight(int concept_id) const;
  // "emotions=4,time=2" (the form the CLI takes) -> family_weights; throws Error
  // naming the entry that is not family=number.
  static std::map<std::string, double> parse_family_weights(const std::string& text);
  // The first edition's options (issue 3's world): no pictures or silhouettes.
  static WorldOptions first_edition();
};

struct PlacedShape {
  double x = 0, y = 0, r = 0, angle = 0;  // centre, radius (pixels), rotation (radians)
};

struct Scene {
  SceneKind kind = SceneKind::Objects;
  int size = 64;
  std::string background = "plain";
  uint64_t background_seed = 0;
  // Objects (kind Objects: `count` of them; ObjectWithWord: one).
  std::string color, shape;
  Rgb object_rgb{0, 0, 0};
  int count = 0;
  std::vector<PlacedShape> objects;
  // Face.
  std::string emotion;
  Rgb skin{0, 0, 0};
  PlacedShape face;
  // Written text (kinds Word and ObjectWithWord).
  std::string text, text_color, font;
  Rgb text_rgb{0, 0, 0};
  double text_size = 0, text_rotation = 0;  // pixels, degrees
  TextPlacement text_at;
  bool text_two_lines = false;
  bool text_outline = false;  // white words on pictures get a dark outline (the article's attack style)  // long names
                              // are written on two lines, split at the middle space
  PixelBox text_box;          // filled in by render_scene
  // Second edition: the concept shown (a picture or silhouette; -1 otherwise), its
  // placement (x, y, r = half the larger side, angle) and, for words, the concept
  // the written text names (-1 for other words).
  int concept_id = -1;
  PlacedShape picture;
  int text_concept = -1;
  std::string caption;

  bool has_text() const { return !text.empty(); }
  // The ground truth as JSON (what labels.jsonl holds per image).
  nlohmann::json labels() const;
};

// Scenes with chosen concepts and random everything else (positions, sizes,
// background, font...), laid out for a canvas of `size` pixels. The rasterizer
// measures text so that it fits.
Scene objects_scene(Rng& rng, int size, const std::string& color, const std::string& shape, int count);
Scene face_scene(Rng& rng, int size, const std::string& emotion);
// text_color: a colour concept name, "white", or one drawn at random when empty.
// fonts: the faces to choose from (world_fonts(1) for the first edition's).
Scene word_scene(Rng& rng, TextRasterizer& raster, int size, const std::string& text, const std::string& text_color,
                 const std::vector<std::string>& fonts = world_fonts());
Scene object_with_word_scene(Rng& rng, TextRasterizer& raster, int size, const std::string& color,
                             const std::string& shape, const std::string& text, const std::string& text_color,
                             const std::vector<std::string>& fonts = world_fonts());

// Second-edition scenes: a concept of the catalog shown as its emoji (or flag), a
// region's silhouette in a random colour, and an emoji with a text written on it.
Scene picture_scene(Rng& rng, int size, int concept_id);
Scene silhouette_scene(Rng& rng, int size, int concept_id);
Scene picture_with_word_scene(Rng& rng, TextRasterizer& raster, int size, int concept_id, const std::string& text,
                              const std::string& text_color, const std::vector<std::string>& fonts = world_fonts());

// A random scene of the world, with its caption.
Scene sample_scene(Rng& rng, TextRasterizer& raster, const WorldOptions& options);
// A caption for the scene as people write them: it names what is shown and,
// usually, the written word.
std::string write_caption(const Scene& scene, Rng& rng, const WorldOptions& options);

// Draws the scene (and records the text's ink box in scene.text_box).
Image render_scene(Scene& scene, TextRasterizer& raster);

}  // namespace clipscope::world
