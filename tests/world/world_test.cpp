// The synthetic world: determinism, ground truth that matches the pixels, and
// captions that say what the labels say.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <regex>
#include <set>

#include "support/shared_data.h"
#include "world/concepts.h"
#include "world/draw.h"
#include "world/generator.h"

namespace clipscope::world {
namespace {

using clipscope::testing::error_message;
using clipscope::testing::read_file;
using clipscope::testing::temp_dir;

bool same_rgb(const uint8_t* p, Rgb c) { return p[0] == c[0] && p[1] == c[1] && p[2] == c[2]; }

bool contains_word(const std::string& text, const std::string& word) {
  return std::regex_search(text, std::regex("\\b" + word + "\\b"));
}

TEST(World, SameSeedSameItemsWhateverTheRasterizer) {
  const World world(11);
  TextRasterizer a, b;
  for (uint64_t i : {0u, 5u, 123u}) {
    const WorldSample x = world.sample(i, a), y = world.sample(i, b);
    EXPECT_EQ(x.image.rgb, y.image.rgb);
    EXPECT_EQ(x.scene.caption, y.scene.caption);
    EXPECT_EQ(x.scene.labels().dump(), y.scene.labels().dump());
  }
  const World other(12);
  EXPECT_NE(world.sample(0, a).image.rgb, other.sample(0, a).image.rgb);
}

TEST(World, WrittenWorldDoesNotDependOnThreadCount) {
  const World world(3);
  const auto one = temp_dir(), two = temp_dir();
  write_world(one, 40, world, 1, false);
  write_world(two, 40, world, 2, false);
  EXPECT_EQ(read_file(one / "captions.tsv"), read_file(two / "captions.tsv"));
  EXPECT_EQ(read_file(one / "labels.jsonl"), read_file(two / "labels.jsonl"));
  EXPECT_EQ(read_file(one / "images/000039.png"), read_file(two / "images/000039.png"));
  const std::string captions = read_file(one / "captions.tsv");
  EXPECT_EQ(captions.rfind("filepath\ttitle\n", 0), 0u);
  EXPECT_EQ(std::count(captions.begin(), captions.end(), '\n'), 41);
  const Image first = read_image(one / "images/000000.png");
  EXPECT_EQ(first.width, 64);
  EXPECT_EQ(first.height, 64);
}

TEST(World, ObjectPixelsAreWhereTheLabelsSay) {
  const World world(5, WorldOptions::first_edition());
  TextRasterizer raster;
  int checked = 0;
  for (uint64_t i = 0; i < 400; ++i) {
    const WorldSample item = world.sample(i, raster);
    const Scene& s = item.scene;
    if (s.kind != SceneKind::Objects) continue;
    ++checked;
    ASSERT_EQ(static_cast<int>(s.objects.size()), s.count);
    for (const PlacedShape& p : s.objects) {
      // Every shape covers its centre: the pixel there is the object's colour.
      EXPECT_TRUE(same_rgb(item.image.pixel(static_cast<int>(p.x), static_cast<int>(p.y)), s.object_rgb))
          << s.caption << " item " << i;
    }
    // ...and pixels of exactly that colour lie within the objects' radius.
    for (int y = 0; y < s.size; ++y)
      for (int x = 0; x < s.size; ++x) {
        if (!same_rgb(item.image.pixel(x, y), s.object_rgb)) continue;
        const bool inside = std::any_of(s.objects.begin(), s.objects.end(), [&](const PlacedShape& p) {
          return std::hypot(x + 0.5 - p.x, y + 0.5 - p.y) <= p.r + 1.0;
        });
        ASSERT_TRUE(inside) << s.caption << " item " << i << " pixel " << x << "," << y;
      }
  }
  EXPECT_GT(checked, 50);
}

TEST(World, ARedCircleIsRedWhereTheCircleIs) {
  Rng rng(1);
  Scene s = objects_scene(rng, 64, "red", "circle", 1);
  TextRasterizer raster;
  const Image image = render_scene(s, raster);
  const PlacedShape& c = s.objects[0];
  int red = 0, total = 0;
  for (int y = 0; y < 64; ++y)
    for (int x = 0; x < 64; ++x) {
      if (std::hypot(x + 0.5 - c.x, y + 0.5 - c.y) > 0.85 * c.r) continue;
      ++total;
      const uint8_t* p = image.pixel(x, y);
      red += p[0] > 180 && p[1] < 70 && p[2] < 70 ? 1 : 0;
    }
  EXPECT_GT(total, 20);
  EXPECT_EQ(red, total);
}

TEST(World, TextInkStaysInTheTextBox) {
  const World world(9);
  TextRasterizer raster;
  int checked = 0;
  for (uint64_t i = 0; i < 300; ++i) {
    const WorldSample item = world.sample(i, raster);
    const Scene& s = item.scene;
    // White ink can coincide with the brightest pixels of a textured background.
    if (!s.has_text() || s.text_color == "white") continue;
    ++checked;
    ASSERT_FALSE(s.text_box.empty()) << s.caption;
    // The whole word is on the canvas (not clipped at its edge).
    EXPECT_GE(s.text_box.x0, 0);
    EXPECT_LE(s.text_box.x1, s.size);
    int ink = 0;  // pixels in the box close to the ink colour
    for (int y = s.text_box.y0; y < s.text_box.y1; ++y)
      for (int x = s.text_box.x0; x < s.text_box.x1; ++x) {
        const uint8_t* p = item.image.pixel(x, y);
        int distance = 0;
        for (int k = 0; k < 3; ++k) distance = std::max(distance, std::abs(p[k] - s.text_rgb[static_cast<size_t>(k)]));
        ink += distance < 60 ? 1 : 0;
      }
    EXPECT_GT(ink, 0) << s.caption;
    for (int y = 0; y < s.size; ++y)
      for (int x = 0; x < s.size; ++x) {
        if (!same_rgb(item.image.pixel(x, y), s.text_rgb)) continue;
        if (s.kind == SceneKind::ObjectWithWord && same_rgb(item.image.pixel(x, y), s.object_rgb)) continue;
        const bool in_box = x >= s.text_box.x0 && x < s.text_box.x1 && y >= s.text_box.y0 && y < s.text_box.y1;
        ASSERT_TRUE(in_box) << s.caption << " pixel " << x << "," << y;
      }
  }
  EXPECT_GT(checked, 40);
}

TEST(World, CaptionsSayWhatTheLabelsSay) {
  const World world(21, WorldOptions::first_edition());
  TextRasterizer raster;
  int word_scenes = 0, mentioned = 0;
  for (uint64_t i = 0; i < 3000; ++i) {
    Rng rng = Rng::for_item(world.seed(), i);
    const Scene s = sample_scene(rng, raster, world.options());
    const std::string& c = s.caption;
    switch (s.kind) {
      case SceneKind::Objects: {
        if (c == s.color || c == s.shape) break;  // a one-word tag
        EXPECT_TRUE(contains_word(c, s.color)) << c;
        EXPECT_TRUE(contains_word(c, s.count == 1 ? s.shape : plural(s.shape))) << c;
        // The count is said, except in the bare "green stars".
        if (s.count > 1 && c != s.color + " " + plural(s.shape)) {
          EXPECT_TRUE(contains_word(c, count_words()[static_cast<size_t>(s.count - 1)]) ||
                      contains_word(c, std::to_string(s.count)))
              << c;
        }
        break;
      }
      case SceneKind::Face:
        EXPECT_TRUE(contains_word(c, s.emotion)) << c;
        EXPECT_TRUE(contains_word(c, "face") || contains_word(c, "looks")) << c;
        break;
      case SceneKind::Picture:
      case SceneKind::Silhouette:
      case SceneKind::PictureWithWord:
        ADD_FAILURE() << "the first edition has no pictures: " << c;
        break;
      case SceneKind::Word:
      case SceneKind::ObjectWithWord: {
        if (s.kind == SceneKind::ObjectWithWord && c != s.text) {  // (a caption can be the label alone)
          EXPECT_TRUE(contains_word(c, s.color)) << c;
          EXPECT_TRUE(contains_word(c, s.shape)) << c;
        }
        ++word_scenes;
        mentioned += contains_word(c, s.text) ? 1 : 0;
        // Every concept word in the caption is shown: the written word, its ink, or the object.
        for (const auto& w : concept_words()) {
          if (!contains_word(c, w)) continue;
          EXPECT_TRUE(w == s.text || w == s.text_color || w == s.color || w == s.shape) << c << " / " << w;
        }
        break;
      }
    }
  }
  EXPECT_GT(word_scenes, 1000);
  // The default coupling: about 90% of captions mention the written word.
  EXPECT_NEAR(static_cast<double>(mentioned) / word_scenes, 0.9, 0.04);
}

TEST(World, CaptionCouplingIsConfigurable) {
  WorldOptions options = WorldOptions::first_edition();
  options.p_mention_text = 0;
  options.weight_objects = options.weight_face = 0;
  const World world(4, options);
  TextRasterizer raster;
  for (uint64_t i = 0; i < 300; ++i) {
    const Scene s = world.sample(i, raster).scene;
    ASSERT_TRUE(s.has_text());
    if (s.text != s.color && s.text != s.shape) {
      EXPECT_FALSE(contains_word(s.caption, s.text)) << s.caption;
    }
  }
}

TEST(World, BadOptionsAreRejectedByName) {
  WorldOptions options;
  options.p_mention_text = 1.5;
  EXPECT_NE(error_message([&] { World w(1, options); }).find("p_mention_text"), std::string::npos);
  options = {};
  options.weight_objects = options.weight_face = options.weight_word = options.weight_object_with_word = 0;
  options.weight_picture = options.weight_silhouette = options.weight_picture_with_word = 0;
  EXPECT_NE(error_message([&] { World w(1, options); }).find("weights"), std::string::npos);
  options = {};
  options.edition = 3;
  EXPECT_NE(error_message([&] { World w(1, options); }).find("edition = 3"), std::string::npos);
  Rng rng(1);
  EXPECT_NE(error_message([&] { objects_scene(rng, 64, "mauve", "circle", 1); }).find("mauve"), std::string::npos);
  EXPECT_NE(error_message([&] { objects_scene(rng, 64, "red", "circle", 9); }).find("count 9"), std::string::npos);
}

TEST(Draw, ShapesAreTheirShapes) {
  for (const auto& shape : shapes()) EXPECT_TRUE(shape_contains(shape, 0, 0)) << shape;
  EXPECT_TRUE(shape_contains("square", 0.65, 0.65));
  EXPECT_FALSE(shape_contains("circle", 0.8, 0.8));
  EXPECT_FALSE(shape_contains("diamond", 0.6, 0.6));
  EXPECT_FALSE(shape_contains("cross", 0.6, 0.6));
  EXPECT_TRUE(shape_contains("cross", 0.0, 0.8));
  EXPECT_FALSE(shape_contains("triangle", -0.6, -0.6));  // the apex is at the top
  EXPECT_TRUE(shape_contains("triangle", -0.5, 0.45));
  EXPECT_FALSE(shape_contains("heart", 0.0, -0.75));  // the notch at the top
  EXPECT_NE(error_message([] { shape_contains("blob", 0, 0); }).find("blob"), std::string::npos);
}

TEST(Draw, FacesDifferByEmotion) {
  std::set<std::vector<uint8_t>> seen;
  for (const auto& e : emotions()) {
    Image image = blank_image(64, 64, {255, 255, 255});
    draw_face(image, e, 32, 32, 28, {250, 215, 170});
    EXPECT_TRUE(same_rgb(image.pixel(32 + 18, 32 + 3), {250, 215, 170})) << e;  // cheek: skin
    seen.insert(image.rgb);
  }
  EXPECT_EQ(seen.size(), emotions().size());
}

}  // namespace
}  // namespace clipscope::world
