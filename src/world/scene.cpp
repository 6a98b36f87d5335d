#include "world/scene.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numbers>

#include "core/util/error.h"
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

// Chooses font, size, rotation and position so that the text fits in a box of
// max_width x max_height centred at (cx, cy) +- slack.
void place_text(Scene& s, Rng& rng, TextRasterizer& raster, double max_width, double max_height, double cx,
                double cy, double slack, double size_lo, double size_hi) {
  s.font = rng.pick(world_fonts());
  s.text_rotation = rng.chance(0.5) ? rng.uniform(-25.0, 25.0) : 0.0;
  s.text_size = rng.uniform(size_lo, size_hi);
  PixelBox box;
  for (int attempt = 0; attempt < 40; ++attempt) {
    box = raster.measure(s.text, TextStyle{s.font, s.text_size, s.text_rgb, s.text_rotation});
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
    case SceneKind::Objects: return "objects";
    case SceneKind::Face: return "face";
    case SceneKind::Word: return "word";
    case SceneKind::ObjectWithWord: return "object_with_word";
  }
  return "?";
}

void WorldOptions::validate() const {
  auto check = [](const char* name, double value, double hi) {
    if (!(value >= 0 && value <= hi)) throw Error(fmt::format("world option {} = {}: must be in [0, {}]", name, value, hi));
  };
  check("weight_objects", weight_objects, 1e9);
  check("weight_face", weight_face, 1e9);
  check("weight_word", weight_word, 1e9);
  check("weight_object_with_word", weight_object_with_word, 1e9);
  if (weight_objects + weight_face + weight_word + weight_object_with_word <= 0)
    throw Error("world options: the scene weights are all zero");
  check("p_concept_word", p_concept_word, 1);
  check("p_mention_text", p_mention_text, 1);
  check("p_mention_ink", p_mention_ink, 1);
  check("p_label_only", p_label_only, 1);
  check("p_bare", p_bare, 1);
  check("p_textured_background", p_textured_background, 1);
  check("p_black_ink", p_black_ink, 1);
  if (size < 16 || size > 1024) throw Error(fmt::format("world option size = {}: must be in [16, 1024]", size));
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

Scene word_scene(Rng& rng, TextRasterizer& raster, int size, const std::string& text, const std::string& text_color) {
  Scene s;
  start_scene(s, rng, SceneKind::Word, size);
  s.text = text;
  s.text_color = text_color.empty() ? random_ink(rng, 0.35) : text_color;
  s.text_rgb = ink_rgb(rng, s.text_color);
  const double S = size;
  place_text(s, rng, raster, 0.92 * S, 0.92 * S, S / 2, S / 2, 0, 0.2 * S, 0.4 * S);
  return s;
}

Scene object_with_word_scene(Rng& rng, TextRasterizer& raster, int size, const std::string& color,
                             const std::string& shape, const std::string& text, const std::string& text_color) {
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
  place_text(s, rng, raster, 0.92 * S, 0.5 * S, s.objects[0].x, s.objects[0].y, 0.03 * S, 0.16 * S, 0.3 * S);
  return s;
}

Scene sample_scene(Rng& rng, TextRasterizer& raster, const WorldOptions& o) {
  const size_t kind = rng.weighted({o.weight_objects, o.weight_face, o.weight_word, o.weight_object_with_word});
  auto random_word = [&] { return rng.chance(o.p_concept_word) ? rng.pick(concept_words()) : rng.pick(other_words()); };
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
      s = word_scene(rng, raster, o.size, word, random_ink(rng, o.p_black_ink));
      break;
    }
    default: {
      const std::string color = rng.pick(colors()).name, shape = rng.pick(shapes()), word = random_word();
      s = object_with_word_scene(rng, raster, o.size, color, shape, word, "");
      break;
    }
  }
  s.background = random_background(rng, o.p_textured_background);
  s.caption = write_caption(s, rng, o);
  return s;
}

std::string write_caption(const Scene& s, Rng& rng, const WorldOptions& o) {
  auto choose = [&rng](std::initializer_list<std::string> options) {
    return *(options.begin() + static_cast<long>(rng.next() % options.size()));
  };
  const bool mention_text = s.has_text() && rng.chance(o.p_mention_text);
  const bool mention_ink = mention_text && rng.chance(o.p_mention_ink);
  switch (s.kind) {
    case SceneKind::Objects: {
      // A one-word tag, as photos are often captioned ("red", "star").
      if (rng.chance(o.p_bare)) return rng.chance(0.5) ? s.color : s.shape;
      const std::string noun = s.count == 1 ? s.shape : plural(s.shape);
      std::string counted;
      if (s.count == 1) counted = rng.chance(0.3) ? "one " + s.color + " " + noun : article(s.color) + " " + s.color + " " + noun;
      else counted = (rng.chance(0.2) ? std::to_string(s.count) : count_words()[static_cast<size_t>(s.count - 1)]) + " " + s.color + " " + noun;
      const std::string texture = s.background == "stripes" ? "striped" : s.background == "checker" ? "checkered" : "";
      if (!texture.empty() && rng.chance(0.3)) return counted + " on a " + texture + " background";
      return choose({counted, counted, "a picture of " + counted, "a drawing of " + counted, s.color + " " + noun});
    }
    case SceneKind::Face:
      return choose({article(s.emotion) + " " + s.emotion + " face", article(s.emotion) + " " + s.emotion + " face",
                     "a drawing of " + article(s.emotion) + " " + s.emotion + " face", "a face that looks " + s.emotion,
                     "an emoji of " + article(s.emotion) + " " + s.emotion + " face"});
    case SceneKind::Word: {
      if (!mention_text) return choose({"some text", "a sign", "a word written on a sign"});
      if (rng.chance(o.p_bare)) return s.text;
      if (mention_ink)
        return choose({"the word " + s.text + " written in " + s.text_color, s.text + " written in " + s.text_color + " letters",
                       "the word " + s.text + " in " + s.text_color, s.text_color + " text that says " + s.text,
                       "the word " + s.text + " written in the color " + s.text_color});
      return choose({"the word " + s.text, "a sign that says " + s.text, "text: " + s.text, s.text, "the text " + s.text});
    }
    case SceneKind::ObjectWithWord: {
      const std::string object = article(s.color) + " " + s.color + " " + s.shape;
      if (!mention_text) return object;
      // Like a product photo captioned with its label: only the written word.
      if (rng.chance(o.p_label_only)) return s.text;
      if (mention_ink) return object + " with the word " + s.text + " written in " + s.text_color;
      return choose({object + " with the word " + s.text + " on it", object + " labeled " + s.text,
                     s.text + " written on " + object, object + " that says " + s.text});
    }
  }
  return {};
}

Image render_scene(Scene& s, TextRasterizer& raster) {
  Image image = blank_image(s.size, s.size, {255, 255, 255});
  fill_background(image, s.background, s.background_seed);
  for (const PlacedShape& p : s.objects) draw_shape(image, s.shape, p.x, p.y, p.r, p.angle, s.object_rgb);
  if (s.kind == SceneKind::Face) draw_face(image, s.emotion, s.face.x, s.face.y, s.face.r, s.skin);
  if (s.has_text()) s.text_box = raster.draw(image, s.text, TextStyle{s.font, s.text_size, s.text_rgb, s.text_rotation}, s.text_at);
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
  if (has_text()) {
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
