#include "world/scene.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <numbers>

#include "core/util/error.h"
#include "core/util/strings.h"
#include "world/catalog.h"
#include "world/concepts.h"
#include "world/draw.h"

namespace clipscope::world {
namespace {

constexpr Rgb kWhite = {255, 255, 255};

Rgb jitter(Rng& rng, Rgb c, int amount) {
  Rgb out;
  for (int k = 0; k < 3; ++k) out[k] = static_cast<uint8_t>(std::clamp(c[k] + rng.integer(-amount, amount), 0, 255));
  return out;
}

std::string random_background(Rng& rng, double p_textured) {
  return rng.chance(p_textured) ? background_kinds()[static_cast<size_t>(rng.integer(1, 4))] : "plain";
}

void start_scene(Scene& s, Rng& rng, SceneKind kind, int size) {
  s.kind = kind;
  s.size = size;
  s.background = random_background(rng, 0.4);
  s.background_seed = rng.next();
}

Rgb ink_rgb(Rng& rng, const std::string& name) {
  return name == "white" ? kWhite : jitter(rng, color_named(name).rgb, 12);
}

std::string random_ink(Rng& rng, double p_black, const std::string& avoid = {}) {
  if (avoid != "black" && rng.chance(p_black)) return "black";
  std::string ink;
  do ink = rng.pick(colors()).name;
  while (ink == avoid);
  return ink;
}

// The lines a scene's text is written on (two for long names: split at the space
// nearest the middle).
std::vector<std::string> text_lines(const Scene& s) {
  if (!s.text_two_lines) return {s.text};
  size_t best = std::string::npos;
  for (size_t at = s.text.find(' '); at != std::string::npos; at = s.text.find(' ', at + 1))
    if (best == std::string::npos || std::abs(2.0 * at - s.text.size()) < std::abs(2.0 * best - s.text.size()))
      best = at;
  if (best == std::string::npos) return {s.text};
  return {s.text.substr(0, best), s.text.substr(best + 1)};
}

// Centre offset (x, y) of line k of n: lines are stacked along the text's rotated vertical.
std::pair<double, double> line_offset(const Scene& s, size_t k, size_t n) {
  if (n < 2) return {0, 0};
  const double d = (k == 0 ? -0.5 : 0.5) * s.text_size * 0.95;
  const double t = s.text_rotation * std::numbers::pi / 180;
  return {d * std::sin(t), d * std::cos(t)};
}

PixelBox measure_scene_text(const Scene& s, TextRasterizer& raster) {
  const auto lines = text_lines(s);
  if (lines.size() == 1) return raster.measure(s.text, TextStyle{s.font, s.text_size, s.text_rgb, s.text_rotation});
  PixelBox all{1 << 20, 1 << 20, -(1 << 20), -(1 << 20)};
  for (size_t k = 0; k < lines.size(); ++k) {
    const PixelBox b = raster.measure(lines[k], TextStyle{s.font, s.text_size, s.text_rgb, s.text_rotation});
    const auto [dx, dy] = line_offset(s, k, lines.size());
    const double cx = dx, cy = dy;  // every line's box is centred on its offset
    all.x0 = std::min(all.x0, static_cast<int>(std::floor(cx - b.width() / 2.0)));
    all.x1 = std::max(all.x1, static_cast<int>(std::ceil(cx + b.width() / 2.0)));
    all.y0 = std::min(all.y0, static_cast<int>(std::floor(cy - b.height() / 2.0)));
    all.y1 = std::max(all.y1, static_cast<int>(std::ceil(cy + b.height() / 2.0)));
  }
  return all;
}

// Chooses font, size, rotation and position so that the text fits in a box of
// max_width x max_height centred at (cx, cy) +- slack.
void place_text(Scene& s, Rng& rng, TextRasterizer& raster, const std::vector<std::string>& fonts, double max_width,
                double max_height, double cx, double cy, double slack, double size_lo, double size_hi) {
  if (fonts.empty()) throw Error("world: the list of fonts to write in is empty");
  s.font = rng.pick(fonts);
  s.text_rotation = rng.chance(0.5) ? rng.uniform(-25.0, 25.0) : 0.0;
  s.text_size = rng.uniform(size_lo, size_hi);
  s.text_two_lines = s.text.size() > 11 && s.text.find(' ') != std::string::npos;
  PixelBox box;
  for (int attempt = 0; attempt < 40; ++attempt) {
    box = measure_scene_text(s, raster);
    if (box.width() <= max_width && box.height() <= max_height) break;
    s.text_size *= 0.9;
  }
  const double free_x = std::max(0.0, (max_width - box.width()) / 2) + slack;
  const double free_y = std::max(0.0, (max_height - box.height()) / 2) + slack;
  // Keep the whole word on the canvas (a word cut at the edge would not be readable).
  auto inside = [](double v, double extent, int size) {
    return std::clamp(v, extent / 2 + 1, std::max(extent / 2 + 1, size - extent / 2 - 1));
  };
  s.text_at = {inside(cx + rng.uniform(-free_x, free_x), box.width(), s.size),
               inside(cy + rng.uniform(-free_y, free_y), box.height(), s.size)};
}

}  // namespace

const char* kind_name(SceneKind kind) {
  switch (kind) {
    case SceneKind::Objects:
      return "objects";
    case SceneKind::Face:
      return "face";
    case SceneKind::Word:
      return "word";
    case SceneKind::ObjectWithWord:
      return "object_with_word";
    case SceneKind::Picture:
      return "picture";
    case SceneKind::Silhouette:
      return "silhouette";
    case SceneKind::PictureWithWord:
      return "picture_with_word";
  }
  return "?";
}

void WorldOptions::validate() const {
  auto check = [](const char* name, double value, double hi) {
    if (!(value >= 0 && value <= hi))
      throw Error(fmt::format("world option {} = {}: must be in [0, {}]", name, value, hi));
  };
  check("weight_objects", weight_objects, 1e9);
  check("weight_face", weight_face, 1e9);
  check("weight_word", weight_word, 1e9);
  check("weight_object_with_word", weight_object_with_word, 1e9);
  check("weight_picture", weight_picture, 1e9);
  check("weight_silhouette", weight_silhouette, 1e9);
  check("weight_picture_with_word", weight_picture_with_word, 1e9);
  if (weight_objects + weight_face + weight_word + weight_object_with_word + weight_picture + weight_silhouette +
          weight_picture_with_word <=
      0)
    throw Error("world options: the scene weights are all zero");
  check("p_concept_word", p_concept_word, 1);
  check("p_emotion_word", p_emotion_word, 1);
  check("p_continent", p_continent, 1);
  check("p_feeling", p_feeling, 1);
  check("p_core_emotion", p_core_emotion, 1);
  check("p_own_word", p_own_word, 1);
  check("p_mention_text", p_mention_text, 1);
  check("p_mention_ink", p_mention_ink, 1);
  check("p_label_only", p_label_only, 1);
  check("p_bare", p_bare, 1);
  check("p_textured_background", p_textured_background, 1);
  check("p_black_ink", p_black_ink, 1);
  if (!family_weights.empty()) {
    const auto& known = catalog().families();
    double any = 0;
    for (const auto& [family, weight] : family_weights) {
      if (std::find(known.begin(), known.end(), family) == known.end())
        throw Error(fmt::format("world option family_weights: no family named '{}' (families: {})", family,
                                fmt::join(known, ", ")));
      if (!(weight >= 0 && weight <= 1e9))
        throw Error(fmt::format("world option family_weights: {} = {}: must be in [0, 1e9]", family, weight));
    }
    for (int id : catalog().emoji_concepts()) any += family_weight(id);
    if (any <= 0) throw Error("world option family_weights: every picture weighs zero");
  }
  if (edition != 1 && edition != 2) throw Error(fmt::format("world option edition = {}: must be 1 or 2", edition));
  if (size < 16 || size > 1024) throw Error(fmt::format("world option size = {}: must be in [16, 1024]", size));
}

double WorldOptions::family_weight(int concept_id) const {
  if (family_weights.empty()) return 1;
  const auto it = family_weights.find(catalog().concepts().at(static_cast<size_t>(concept_id)).family);
  return it == family_weights.end() ? 1 : it->second;
}

std::map<std::string, double> WorldOptions::parse_family_weights(const std::string& text) {
  std::map<std::string, double> weights;
  for (const auto& entry : split(text, ',')) {
    const auto eq = entry.find('=');
    const std::string family(trim(std::string_view(entry).substr(0, eq)));
    const auto weight =
        eq == std::string::npos ? std::nullopt : to_number<double>(trim(std::string_view(entry).substr(eq + 1)));
    if (family.empty() || !weight)
      throw Error(fmt::format("family weights '{}': '{}' is not family=weight", text, entry));
    weights[family] = *weight;
  }
  return weights;
}

WorldOptions WorldOptions::first_edition() {
  WorldOptions o;
  o.edition = 1;
  o.weight_objects = 0.35;
  o.weight_face = 0.15;
  o.weight_word = 0.30;
  o.weight_object_with_word = 0.20;
  o.weight_picture = o.weight_silhouette = o.weight_picture_with_word = 0;
  o.p_bare = 0.15;
  return o;
}

Scene objects_scene(Rng& rng, int size, const std::string& color, const std::string& shape, int count) {
  if (count < 1 || count > max_count()) throw Error(fmt::format("count {}: must be in [1, {}]", count, max_count()));
  Scene s;
  start_scene(s, rng, SceneKind::Objects, size);
  s.color = color;
  s.shape = shape;
  s.count = count;
  s.object_rgb = jitter(rng, color_named(color).rgb, 15);
  const double S = size;
  double r = count == 1 ? rng.uniform(0.2, 0.36) * S : rng.uniform(0.11, count == 2 ? 0.19 : 0.16) * S;
  // Non-overlapping positions by rejection; shrink when the canvas is too crowded.
  while (static_cast<int>(s.objects.size()) < count) {
    s.objects.clear();
    for (int attempt = 0; attempt < 200 && static_cast<int>(s.objects.size()) < count; ++attempt) {
      PlacedShape p{rng.uniform(r + 1, S - r - 1), rng.uniform(r + 1, S - r - 1), r,
                    rng.chance(0.5) ? rng.uniform(-0.3, 0.3) : 0.0};
      const bool clear = std::all_of(s.objects.begin(), s.objects.end(), [&](const PlacedShape& q) {
        return std::hypot(p.x - q.x, p.y - q.y) >= p.r + q.r + 2;
      });
      if (clear) s.objects.push_back(p);
    }
    r *= 0.9;
  }
  return s;
}

Scene face_scene(Rng& rng, int size, const std::string& emotion) {
  static const std::vector<Rgb> kSkins = {{250, 215, 170}, {215, 170, 125}, {150, 105, 70}, {205, 205, 205}};
  Scene s;
  start_scene(s, rng, SceneKind::Face, size);
  s.emotion = emotion;
  s.skin = jitter(rng, rng.pick(kSkins), 10);
  const double S = size, r = rng.uniform(0.3, 0.46) * S;
  s.face = {rng.uniform(r + 1, S - r - 1), rng.uniform(r + 1, S - r - 1), r, 0};
  return s;
}

Scene word_scene(Rng& rng, TextRasterizer& raster, int size, const std::string& text, const std::string& text_color,
                 const std::vector<std::string>& fonts) {
  Scene s;
  start_scene(s, rng, SceneKind::Word, size);
  s.text = text;
  if (const Concept* named = catalog().find(text)) s.text_concept = named->id;
  s.text_color = text_color.empty() ? random_ink(rng, 0.35) : text_color;
  s.text_rgb = ink_rgb(rng, s.text_color);
  const double S = size;
  place_text(s, rng, raster, fonts, 0.92 * S, 0.92 * S, S / 2, S / 2, 0, 0.2 * S, 0.4 * S);
  return s;
}

Scene object_with_word_scene(Rng& rng, TextRasterizer& raster, int size, const std::string& color,
                             const std::string& shape, const std::string& text, const std::string& text_color,
                             const std::vector<std::string>& fonts) {
  Scene s;
  start_scene(s, rng, SceneKind::ObjectWithWord, size);
  s.color = color;
  s.shape = shape;
  s.count = 1;
  s.object_rgb = jitter(rng, color_named(color).rgb, 15);
  const double S = size, r = rng.uniform(0.38, 0.47) * S;
  s.objects.push_back({S / 2 + rng.uniform(-0.04, 0.04) * S, S / 2 + rng.uniform(-0.04, 0.04) * S, r, 0});
  s.text = text;
  s.text_color = !text_color.empty() ? text_color : rng.chance(0.35) ? "white" : random_ink(rng, 0.3, color);
  s.text_rgb = ink_rgb(rng, s.text_color);
  place_text(s, rng, raster, fonts, 0.92 * S, 0.5 * S, s.objects[0].x, s.objects[0].y, 0.03 * S, 0.16 * S, 0.3 * S);
  return s;
}

Scene picture_scene(Rng& rng, int size, int concept_id) {
  const Concept& c = catalog().concepts().at(static_cast<size_t>(concept_id));
  if (c.emoji.empty()) throw Error(fmt::format("concept '{}': has no emoji to draw", c.name));
  Scene s;
  start_scene(s, rng, SceneKind::Picture, size);
  s.concept_id = concept_id;
  const double S = size, side = rng.uniform(0.55, 0.92) * S;
  const double slack = std::max(0.0, (S - side) / 2);
  s.picture = {S / 2 + rng.uniform(-slack, slack), S / 2 + rng.uniform(-slack, slack), side / 2,
               rng.chance(0.4) ? rng.uniform(-0.35, 0.35) : 0.0};
  return s;
}

Scene silhouette_scene(Rng& rng, int size, int concept_id) {
  const Concept& c = catalog().concepts().at(static_cast<size_t>(concept_id));
  if (c.silhouette < 0) throw Error(fmt::format("concept '{}': has no silhouette to draw", c.name));
  Scene s;
  start_scene(s, rng, SceneKind::Silhouette, size);
  s.concept_id = concept_id;
  // Any colour of the world (darkened or lightened a little), never the background's.
  s.object_rgb = jitter(rng, rng.pick(colors()).rgb, 30);
  const double S = size, r = rng.uniform(0.3, 0.46) * S;
  s.picture = {S / 2 + rng.uniform(-0.5, 0.5) * (S / 2 - r), S / 2 + rng.uniform(-0.5, 0.5) * (S / 2 - r), r,
               rng.chance(0.5) ? rng.uniform(-0.5, 0.5) : 0.0};
  return s;
}

Scene picture_with_word_scene(Rng& rng, TextRasterizer& raster, int size, int concept_id, const std::string& text,
                              const std::string& text_color, const std::vector<std::string>& fonts) {
  Scene s = picture_scene(rng, size, concept_id);
  s.kind = SceneKind::PictureWithWord;
  const double S = size;
  s.picture.r = rng.uniform(0.4, 0.47) * S;
  s.picture.x = S / 2 + rng.uniform(-0.04, 0.04) * S;
  s.picture.y = S / 2 + rng.uniform(-0.04, 0.04) * S;
  s.picture.angle = 0;
  s.text = text;
  s.text_color = !text_color.empty() ? text_color : rng.chance(0.5) ? "white" : random_ink(rng, 0.4);
  s.text_rgb = ink_rgb(rng, s.text_color);
  if (const Concept* named = catalog().find(text)) s.text_concept = named->id;
  s.text_outline = s.text_color == "white";
  place_text(s, rng, raster, fonts, 0.92 * S, 0.5 * S, s.picture.x, s.picture.y, 0.05 * S, 0.16 * S, 0.3 * S);
  return s;
}

namespace {
// An emoji or flag concept, uniformly or by WorldOptions::family_weights.
int pick_picture(Rng& rng, const WorldOptions& o) {
  const auto& ids = catalog().emoji_concepts();
  if (o.family_weights.empty()) return rng.pick(ids);
  std::vector<double> weights;
  weights.reserve(ids.size());
  for (int id : ids) weights.push_back(o.family_weight(id));
  return ids[rng.weighted(weights)];
}
}  // namespace

Scene sample_scene(Rng& rng, TextRasterizer& raster, const WorldOptions& o) {
  const Catalog& cat = catalog();
  const double silhouettes = cat.regions_with_silhouettes().empty() ? 0.0 : o.weight_silhouette;
  const size_t kind = rng.weighted({o.weight_objects, o.weight_face, o.weight_word, o.weight_object_with_word,
                                    o.weight_picture, silhouettes, o.weight_picture_with_word});
  // A written text: a concept's name, an emotion word or an everyday word.
  const auto& fonts = world_fonts(o.edition);
  auto random_word = [&] {
    if (o.edition == 1)
      return rng.chance(o.p_concept_word) ? rng.pick(concept_words()) : rng.pick(world::other_words());
    if (rng.chance(o.p_concept_word)) {
      if (!o.zipf_names) return rng.pick(cat.concepts()).name;
      // P(r) ~ 1/r: r = floor((N + 1)^u) for u uniform in [0, 1).
      const auto& order = cat.by_frequency();
      const auto r = static_cast<size_t>(std::pow(static_cast<double>(order.size()) + 1, rng.uniform()));
      return cat.concepts()[static_cast<size_t>(order[std::min(order.size(), std::max<size_t>(r, 1)) - 1])].name;
    }
    if (rng.chance(o.p_emotion_word)) return rng.pick(cat.emotion_words(rng.pick(cat.emotions())));
    return rng.pick(cat.other_words());
  };
  Scene s;
  switch (kind) {
    case 0: {
      const std::string color = rng.pick(colors()).name, shape = rng.pick(shapes());
      s = objects_scene(rng, o.size, color, shape, rng.integer(1, max_count()));
      break;
    }
    case 1:
      s = face_scene(rng, o.size, rng.pick(emotions()));
      break;
    case 2: {
      const std::string word = random_word();
      s = word_scene(rng, raster, o.size, word, random_ink(rng, o.p_black_ink), fonts);
      break;
    }
    case 3: {
      const std::string color = rng.pick(colors()).name, shape = rng.pick(shapes()), word = random_word();
      s = object_with_word_scene(rng, raster, o.size, color, shape, word, "", fonts);
      break;
    }
    case 4:
      s = picture_scene(rng, o.size, pick_picture(rng, o));
      break;
    case 5:
      s = silhouette_scene(rng, o.size, rng.pick(cat.regions_with_silhouettes()));
      break;
    default: {
      const int id = pick_picture(rng, o);
      const Concept& c = cat.concepts()[static_cast<size_t>(id)];
      // Its own name (no random draw at 0, so that worlds drawn before p_own_word stay
      // the same); else half the time the name of another concept of the same family
      // (the attack the report measures), else any text.
      std::string word;
      if (o.p_own_word > 0 && rng.chance(o.p_own_word))
        word = c.emotion.empty() ? c.name : rng.pick(cat.emotion_words(c.emotion));
      else
        word =
            rng.chance(0.5) ? cat.concepts()[static_cast<size_t>(rng.pick(cat.family(c.family)))].name : random_word();
      s = picture_with_word_scene(rng, raster, o.size, id, word, "", fonts);
      break;
    }
  }

  s.background = random_background(rng, o.p_textured_background);
  s.caption = write_caption(s, rng, o);
  return s;
}

namespace {

std::string choose(Rng& rng, std::initializer_list<std::string> options) {
  return *(options.begin() + static_cast<long>(rng.next() % options.size()));
}

std::string objects_caption(const Scene& s, Rng& rng, const WorldOptions& o) {
  // A one-word tag, as photos are often captioned ("red", "star").
  if (rng.chance(o.p_bare)) return rng.chance(0.5) ? s.color : s.shape;
  const std::string noun = s.count == 1 ? s.shape : plural(s.shape);
  std::string counted;
  if (s.count == 1)
    counted = rng.chance(0.3) ? "one " + s.color + " " + noun : article(s.color) + " " + s.color + " " + noun;
  else
    counted = (rng.chance(0.2) ? std::to_string(s.count) : count_words()[static_cast<size_t>(s.count - 1)]) + " " +
              s.color + " " + noun;
  const std::string texture = s.background == "stripes" ? "striped" : s.background == "checker" ? "checkered" : "";
  if (!texture.empty() && rng.chance(0.3)) return counted + " on a " + texture + " background";
  return choose(rng, {counted, counted, "a picture of " + counted, "a drawing of " + counted, s.color + " " + noun});
}

std::string face_caption(const Scene& s, Rng& rng) {
  return choose(rng,
                {article(s.emotion) + " " + s.emotion + " face", article(s.emotion) + " " + s.emotion + " face",
                 "a drawing of " + article(s.emotion) + " " + s.emotion + " face", "a face that looks " + s.emotion,
                 "an emoji of " + article(s.emotion) + " " + s.emotion + " face"});
}

// A written feeling word captioned by its core emotion ("joyful, feeling happy").
std::string feeling_caption(const std::string& word, const std::string& emotion, Rng& rng) {
  return choose(rng, {"feeling " + emotion, "i feel " + emotion, word + ", feeling " + emotion,
                      "the word " + word + ": " + emotion});
}

std::string word_caption(const Scene& s, Rng& rng, const WorldOptions& o, bool mention_text, bool mention_ink) {
  if (!mention_text) return choose(rng, {"some text", "a sign", "a word written on a sign"});
  if (s.text_concept >= 0 && o.edition >= 2) {
    const std::string& continent = catalog().concepts()[static_cast<size_t>(s.text_concept)].continent;
    if (!continent.empty() && rng.chance(o.p_continent))
      return choose(rng,
                    {"a country in " + continent, s.text + ", a country in " + continent, "a sign about " + continent});
  }
  if (o.edition >= 2) {
    // A written feeling is captioned, as a face emoji is, by the feeling it names
    // (no random draw at 0, so that worlds drawn before this option stay the same).
    const std::string& feeling = catalog().emotion_of_word(s.text);
    if (!feeling.empty() && o.p_feeling > 0 && rng.chance(o.p_feeling)) return feeling_caption(s.text, feeling, rng);
  }
  if (rng.chance(o.p_bare)) return s.text;
  if (mention_ink)
    return choose(
        rng, {"the word " + s.text + " written in " + s.text_color, s.text + " written in " + s.text_color + " letters",
              "the word " + s.text + " in " + s.text_color, s.text_color + " text that says " + s.text,
              "the word " + s.text + " written in the color " + s.text_color});
  return choose(rng,
                {"the word " + s.text, "a sign that says " + s.text, "text: " + s.text, s.text, "the text " + s.text});
}

// What a picture, a silhouette or an emoji under a word shows, as a caption, or the
// whole caption (a bare name, a continent), to which nothing about a word is added.
struct PictureCaption {
  std::string text;
  bool whole = false;
};
PictureCaption picture_caption(const Scene& s, Rng& rng, const WorldOptions& o) {
  const Concept& c = catalog().concepts()[static_cast<size_t>(s.concept_id)];
  const std::string& n = c.name;
  if (s.kind == SceneKind::Silhouette) {
    if (rng.chance(o.p_continent))
      return {choose(rng, {"a country in " + c.continent, "a map of a country in " + c.continent}), true};
    if (rng.chance(o.p_bare)) return {n, true};
    return {
        choose(rng, {"a map of " + n, "the shape of " + n, "an outline of " + n, "a map of " + n, n + " on a map"})};
  }
  if (c.family == "regions") {
    if (s.kind == SceneKind::Picture && rng.chance(o.p_continent))
      return {choose(rng, {"a flag from " + c.continent, "the flag of a country in " + c.continent}), true};
    if (s.kind == SceneKind::Picture && rng.chance(o.p_bare)) return {n, true};
    return {choose(rng, {"the flag of " + n, "a flag of " + n, n + " flag", "the " + n + " flag"})};
  }
  if (!c.emotion.empty() && rng.chance(0.5)) {
    // Faces with a feeling are captioned with the feeling wheel's words, or its core
    // emotion (no random draw at 0, so that worlds drawn before p_core_emotion stay the same).
    const bool core = o.p_core_emotion > 0 && rng.chance(o.p_core_emotion);
    const std::string& w = core ? c.emotion : rng.pick(catalog().emotion_words(c.emotion));
    return {choose(rng, {article(w) + " " + w + " face", "i feel " + w, "feeling " + w, w, "so " + w,
                         "an emoji that looks " + w})};
  }
  if (s.kind == SceneKind::Picture && rng.chance(o.p_bare)) return {n, true};
  return {
      choose(rng, {article(n) + " " + n, n, "a photo of " + article(n) + " " + n, "an emoji of " + article(n) + " " + n,
                   "a picture of " + article(n) + " " + n, "a drawing of " + article(n) + " " + n, n + " emoji"})};
}

// A face emoji under a feeling word of its own emotion (a meme) is captioned, as the
// written word is, by that emotion; empty for every other scene (and always when
// p_own_word is 0, so that worlds drawn before it stay the same).
std::string meme_caption(const Scene& s, Rng& rng, const WorldOptions& o, bool mention_text) {
  if (o.p_own_word <= 0 || !mention_text) return {};
  const std::string& emotion = catalog().concepts()[static_cast<size_t>(s.concept_id)].emotion;
  if (emotion.empty() || catalog().emotion_of_word(s.text) != emotion || !rng.chance(o.p_feeling)) return {};
  return feeling_caption(s.text, emotion, rng);
}

// The caption of an object with a word written on it (the caption mentions the text).
std::string labelled_caption(const std::string& object, const Scene& s, Rng& rng, const WorldOptions& o,
                             bool mention_ink) {
  // Like a product photo captioned with its label: only the written word.
  if (rng.chance(o.p_label_only)) return s.text;
  if (mention_ink) return object + " with the word " + s.text + " written in " + s.text_color;
  return choose(rng, {object + " with the word " + s.text + " on it", object + " labeled " + s.text,
                      s.text + " written on " + object, object + " that says " + s.text});
}

}  // namespace

std::string write_caption(const Scene& s, Rng& rng, const WorldOptions& o) {
  const bool mention_text = s.has_text() && rng.chance(o.p_mention_text);
  const bool mention_ink = mention_text && rng.chance(o.p_mention_ink);
  switch (s.kind) {
    case SceneKind::Objects:
      return objects_caption(s, rng, o);
    case SceneKind::Face:
      return face_caption(s, rng);
    case SceneKind::Word:
      return word_caption(s, rng, o, mention_text, mention_ink);
    case SceneKind::Picture:
    case SceneKind::Silhouette:
    case SceneKind::PictureWithWord: {
      if (const std::string meme = meme_caption(s, rng, o, mention_text); !meme.empty()) return meme;
      const PictureCaption object = picture_caption(s, rng, o);
      if (object.whole || s.kind != SceneKind::PictureWithWord || !mention_text) return object.text;
      return labelled_caption(object.text, s, rng, o, mention_ink);
    }
    case SceneKind::ObjectWithWord: {
      const std::string object = article(s.color) + " " + s.color + " " + s.shape;
      if (!mention_text) return object;
      return labelled_caption(object, s, rng, o, mention_ink);
    }
  }
  return {};
}

Image render_scene(Scene& s, TextRasterizer& raster) {
  Image image = blank_image(s.size, s.size, {255, 255, 255});
  fill_background(image, s.background, s.background_seed);
  for (const PlacedShape& p : s.objects) draw_shape(image, s.shape, p.x, p.y, p.r, p.angle, s.object_rgb);
  if (s.kind == SceneKind::Face) draw_face(image, s.emotion, s.face.x, s.face.y, s.face.r, s.skin);
  if (s.kind == SceneKind::Picture || s.kind == SceneKind::PictureWithWord)
    draw_picture(image, emoji_picture(s.concept_id), s.picture.x, s.picture.y, 2 * s.picture.r, s.picture.angle);
  if (s.kind == SceneKind::Silhouette) {
    const Concept& c = catalog().concepts()[static_cast<size_t>(s.concept_id)];
    fill_rings(image, catalog().silhouettes()[static_cast<size_t>(c.silhouette)].rings, s.picture.x, s.picture.y,
               s.picture.r, s.picture.angle, s.object_rgb);
  }
  if (s.has_text()) {
    const auto lines = text_lines(s);
    PixelBox all;
    for (size_t k = 0; k < lines.size(); ++k) {
      const auto [dx, dy] = line_offset(s, k, lines.size());
      const TextStyle style{s.font, s.text_size, s.text_rgb, s.text_rotation};
      const TextPlacement at{s.text_at.x + dx, s.text_at.y + dy};
      const PixelBox b = s.text_outline ? draw_outlined(raster, image, lines[k], style, {25, 25, 25},
                                                        std::max(0.8, s.text_size * 0.07), at)
                                        : raster.draw(image, lines[k], style, at);
      if (b.empty()) continue;
      if (all.empty())
        all = b;
      else
        all = {std::min(all.x0, b.x0), std::min(all.y0, b.y0), std::max(all.x1, b.x1), std::max(all.y1, b.y1)};
    }
    s.text_box = all;
  }
  return image;
}

nlohmann::json Scene::labels() const {
  nlohmann::json j;
  j["kind"] = kind_name(kind);
  j["size"] = size;
  j["background"] = background;
  if (!objects.empty()) {
    j["color"] = color;
    j["shape"] = shape;
    j["count"] = count;
    j["object_rgb"] = object_rgb;
    auto& list = j["objects"] = nlohmann::json::array();
    for (const PlacedShape& p : objects) list.push_back({{"x", p.x}, {"y", p.y}, {"r", p.r}, {"angle", p.angle}});
  }
  if (kind == SceneKind::Face) {
    j["emotion"] = emotion;
    j["face"] = {{"x", face.x}, {"y", face.y}, {"r", face.r}};
  }
  if (concept_id >= 0) {
    const Concept& c = catalog().concepts()[static_cast<size_t>(concept_id)];
    j["concept"] = c.name;
    j["concept_id"] = c.id;
    j["family"] = c.family;
    j["modality"] = modality_name(kind == SceneKind::Silhouette ? Modality::Silhouette
                                  : c.family == "regions"       ? Modality::Flag
                                                                : Modality::Emoji);
    if (!c.region.empty()) j["region"] = c.region, j["continent"] = c.continent;
    if (!c.emotion.empty()) j["emotion"] = c.emotion;
    j["picture"] = {{"x", picture.x}, {"y", picture.y}, {"r", picture.r}, {"angle", picture.angle}};
    if (kind == SceneKind::Silhouette) j["object_rgb"] = object_rgb;
  } else if (kind == SceneKind::Objects || kind == SceneKind::ObjectWithWord) {
    j["modality"] = modality_name(Modality::Drawn);
  } else if (kind == SceneKind::Face) {
    j["modality"] = modality_name(Modality::Drawn);
  } else if (kind == SceneKind::Word) {
    j["modality"] = modality_name(Modality::Written);
  }
  if (has_text()) {
    if (text_concept >= 0) {
      const Concept& c = catalog().concepts()[static_cast<size_t>(text_concept)];
      j["text_concept"] = c.name;
      j["text_family"] = c.family;
    }
    j["text_lines"] = text_two_lines ? 2 : 1;
    j["text_outline"] = text_outline;
    j["text"] = text;
    j["text_color"] = text_color;
    j["text_rgb"] = text_rgb;
    j["font"] = font;
    j["text_size"] = text_size;
    j["text_rotation"] = text_rotation;
    j["text_box"] = {text_box.x0, text_box.y0, text_box.x1, text_box.y1};
  }
  j["caption"] = caption;
  return j;
}

}  // namespace clipscope::world
