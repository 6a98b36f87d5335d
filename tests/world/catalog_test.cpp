// The second edition's concepts (emoji, countries, emotions) and its scenes:
// pictures and silhouettes where the labels say, captions that name them.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "core/util/csv.h"
#include "support/shared_data.h"
#include "world/catalog.h"
#include "world/draw.h"
#include "world/generator.h"

namespace clipscope::world {
namespace {

using clipscope::testing::error_message;

bool has_word(const std::string& text, const std::string& word) { return text.find(word) != std::string::npos; }

TEST(Catalog, HasOverAThousandConceptsInTheArticlesFamilies) {
  const Catalog& cat = catalog();
  EXPECT_GE(cat.concepts().size(), 1000u);
  for (const char* family : {"animals", "food", "objects", "vehicles", "places", "weather", "sports", "emotions",
                             "holidays", "religions", "time", "regions", "colors", "shapes"})
    EXPECT_GE(cat.family(family).size(), 8u) << family;
  std::set<std::string> names;
  for (const Concept& c : cat.concepts()) {
    EXPECT_TRUE(names.insert(c.name).second) << "duplicate " << c.name;
    EXPECT_EQ(&cat.concepts()[static_cast<size_t>(c.id)], &c);
    EXPECT_EQ(c.name.find(':'), std::string::npos) << c.name;  // no "x: skin tone" variants
    EXPECT_EQ(c.name.find("skin tone"), std::string::npos) << c.name;
  }
  EXPECT_EQ(cat.named("christmas tree").family, "holidays");
  EXPECT_EQ(cat.named("jack-o-lantern").family, "holidays");
  EXPECT_EQ(cat.named("church").family, "religions");
  EXPECT_EQ(cat.named("one o'clock").family, "time");  // CLDR's typographic apostrophe made ASCII
  EXPECT_EQ(cat.named("red").family, "colors");
  EXPECT_EQ(cat.find("unicorn dragon"), nullptr);
  EXPECT_NE(error_message([&] { cat.named("unicorn dragon"); }).find("unicorn dragon"), std::string::npos);
  EXPECT_GE(cat.other_words().size(), 2000u);
  for (const auto& w : cat.other_words()) ASSERT_EQ(cat.find(w), nullptr) << w;
}

TEST(Catalog, CountriesComeFromFlagsWithIcuNamesAndContinents) {
  const Catalog& cat = catalog();
  EXPECT_GE(cat.family("regions").size(), 200u);
  const Concept& japan = cat.named("japan");
  EXPECT_EQ(japan.region, "JP");
  EXPECT_EQ(japan.continent, "asia");
  EXPECT_EQ(japan.emoji, "\U0001F1EF\U0001F1F5");
  EXPECT_EQ(cat.named("brazil").continent, "south america");
  EXPECT_EQ(cat.named("canada").continent, "north america");
  EXPECT_EQ(cat.named("kenya").continent, "africa");
  EXPECT_EQ(cat.named("germany").continent, "europe");
  EXPECT_EQ(cat.named("fiji").continent, "oceania");
  EXPECT_EQ(cat.find("european union"), nullptr);  // not a territory
  for (const auto& [continent, ids] : cat.continents()) EXPECT_GE(ids.size(), 10u) << continent;
}

TEST(Catalog, SilhouettesFromNaturalEarthWhenShared) {
  if (shared_data_file("data/maps/ne_110m_admin_0_countries.geojson").empty())
    GTEST_SKIP() << "../shared/data/maps not found (set CLIPSCOPE_SHARED): regions have no silhouettes";
  const Catalog& cat = catalog();
  EXPECT_GE(cat.regions_with_silhouettes().size(), 150u);
  // France's and Norway's ISO_A2 are -99 in Natural Earth: found through WB_A2 and ICU.
  for (const char* name : {"france", "norway", "japan", "chile"}) EXPECT_GE(cat.named(name).silhouette, 0) << name;
  // Chile is long and thin: its outline is much taller than wide; every point lies in the unit box.
  const Silhouette& chile = cat.silhouettes()[static_cast<size_t>(cat.named("chile").silhouette)];
  double x0 = 9, x1 = -9, y0 = 9, y1 = -9;
  for (const auto& ring : chile.rings)
    for (const auto& p : ring)
      x0 = std::min(x0, p[0]), x1 = std::max(x1, p[0]), y0 = std::min(y0, p[1]), y1 = std::max(y1, p[1]);
  EXPECT_GT((y1 - y0) / (x1 - x0), 4.0);
  EXPECT_GE(x0, -1.0 - 1e-9);
  EXPECT_LE(y1, 1.0 + 1e-9);
}

TEST(Catalog, ListsItsConceptsAsCsv) {
  const Catalog& cat = catalog();
  const std::string csv = concepts_csv(cat);
  std::vector<std::string> lines;
  for (size_t start = 0, end; (end = csv.find('\n', start)) != std::string::npos; start = end + 1)
    lines.push_back(csv.substr(start, end - start));
  ASSERT_EQ(lines.size(), cat.concepts().size() + 1);
  EXPECT_EQ(lines[0], "id,name,family,modalities,region,continent,emotion");
  for (size_t i = 1; i < lines.size(); ++i) {
    const auto fields = csv_fields(lines[i]);
    ASSERT_EQ(fields.size(), 7u) << lines[i];
    const Concept& c = cat.concepts()[i - 1];
    EXPECT_EQ(fields[0], std::to_string(c.id));
    EXPECT_EQ(fields[1], c.name);  // names with commas come back whole
    EXPECT_EQ(fields[2], c.family);
  }
  const auto japan = csv_fields(lines[static_cast<size_t>(cat.named("japan").id) + 1]);
  EXPECT_EQ(japan[4], "JP");
  EXPECT_EQ(japan[5], "asia");
  EXPECT_EQ(japan[3].substr(0, 5), "flag+");
  EXPECT_EQ(japan[3].substr(japan[3].size() - 7), "written");
  EXPECT_EQ(csv_fields(lines[static_cast<size_t>(cat.named("grinning face").id) + 1])[6], "happy");
  EXPECT_EQ(csv_fields(lines[static_cast<size_t>(cat.named("red").id) + 1])[3], "drawn+written");
}

TEST(Catalog, FacesCarryTheFeelingWheelsEmotions) {
  const Catalog& cat = catalog();
  EXPECT_EQ(cat.named("grinning face").emotion, "happy");
  EXPECT_EQ(cat.named("grinning face").family, "emotions");
  EXPECT_EQ(cat.named("angry face").emotion, "angry");
  EXPECT_EQ(cat.named("loudly crying face").emotion, "sad");
  EXPECT_EQ(cat.named("fearful face").emotion, "fearful");
  EXPECT_EQ(cat.named("thinking face").emotion, "");  // no feeling in its name: family "faces"
  EXPECT_EQ(cat.named("thinking face").family, "faces");
  ASSERT_EQ(cat.emotions().size(), 7u);
  for (const auto& e : cat.emotions()) EXPECT_EQ(cat.emotion_words(e).front(), e);
  EXPECT_EQ(cat.emotion_of_word("happy"), "happy");
  EXPECT_EQ(cat.emotion_of_word("japan"), "");
  if (!shared_data_file("data/words/feeling_wheel.tsv").empty()) {
    const auto& happy = cat.emotion_words("happy");
    EXPECT_NE(std::find(happy.begin(), happy.end(), "joyful"), happy.end());
    const auto& angry = cat.emotion_words("angry");
    EXPECT_NE(std::find(angry.begin(), angry.end(), "furious"), angry.end());
    EXPECT_EQ(cat.emotion_of_word("joyful"), "happy");
    EXPECT_EQ(cat.emotion_of_word("furious"), "angry");
  }
}

TEST(World, AWrittenFeelingIsCaptionedByItsCoreEmotion) {
  WorldOptions o;
  o.p_feeling = 1;
  o.p_mention_text = 1;
  TextRasterizer raster;
  Rng rng(3);
  for (const std::string& core : catalog().emotions())
    for (const std::string& word : catalog().emotion_words(core)) {
      Scene s = word_scene(rng, raster, 64, word, "black");
      EXPECT_TRUE(has_word(write_caption(s, rng, o), core)) << word;
    }
  o.p_feeling = 0;
  Scene s = word_scene(rng, raster, 64, "happy", "black");
  int named_feeling = 0;
  for (int i = 0; i < 50; ++i) named_feeling += has_word(write_caption(s, rng, o), "feeling") ? 1 : 0;
  EXPECT_EQ(named_feeling, 0);
  o.p_feeling = 2;
  EXPECT_NE(error_message([&] { o.validate(); }).find("p_feeling"), std::string::npos);
}

TEST(World, AFaceCaptionedByAFeelingCanNameItsCoreEmotion) {
  const Concept& grinning = catalog().named("grinning face");
  Rng rng(5);
  Scene s = picture_scene(rng, 64, grinning.id);
  WorldOptions o;
  o.p_bare = 0;
  o.p_core_emotion = 1;
  int core = 0;
  for (int i = 0; i < 200; ++i) {
    const std::string caption = write_caption(s, rng, o);
    const bool named = caption.find("grinning face") != std::string::npos;
    EXPECT_TRUE(named || has_word(caption, "happy")) << caption;
    core += named ? 0 : 1;
  }
  EXPECT_GT(core, 50);                                // half of a feeling face's captions name a feeling
  if (catalog().emotion_words("happy").size() > 1) {  // the feeling wheel is there: other words too
    o.p_core_emotion = 0;
    int other = 0;
    for (int i = 0; i < 200; ++i) {
      const std::string caption = write_caption(s, rng, o);
      other += caption.find("grinning face") == std::string::npos && !has_word(caption, "happy") ? 1 : 0;
    }
    EXPECT_GT(other, 50);
  }
  o.p_core_emotion = -0.5;
  EXPECT_NE(error_message([&] { o.validate(); }).find("p_core_emotion"), std::string::npos);
}

// Options under which every scene is of one kind: a picture, or a picture with a word.
WorldOptions only(SceneKind kind) {
  WorldOptions o;
  o.weight_objects = o.weight_face = o.weight_word = o.weight_object_with_word = o.weight_silhouette = 0;
  (kind == SceneKind::Picture ? o.weight_picture_with_word : o.weight_picture) = 0;
  return o;
}

TEST(World, FamilyWeightsChangeHowOftenAFamilysPicturesAreDrawn) {
  const Catalog& cat = catalog();
  TextRasterizer raster;
  WorldOptions o = only(SceneKind::Picture);
  auto emotion_share = [&] {
    int emotions = 0;
    for (uint64_t i = 0; i < 2000; ++i) {
      Rng rng = Rng::for_item(3, i);
      const Scene s = sample_scene(rng, raster, o);
      emotions += cat.concepts()[static_cast<size_t>(s.concept_id)].family == "emotions" ? 1 : 0;
    }
    return emotions / 2000.0;
  };
  const double uniform = emotion_share();
  o.family_weights = WorldOptions::parse_family_weights("emotions=5, regions = 0");
  EXPECT_EQ(o.family_weights.size(), 2U);
  EXPECT_EQ(o.family_weights["emotions"], 5);
  o.validate();
  // Expected share: 5 n_e / (5 n_e + n_other), with regions' flags never drawn.
  const auto& emoji = cat.emoji_concepts();
  double n_e = 0, n_other = 0;
  for (int id : emoji) {
    const std::string& f = cat.concepts()[static_cast<size_t>(id)].family;
    (f == "emotions" ? n_e : n_other) += f == "regions" ? 0 : 1;
  }
  const double expected = 5 * n_e / (5 * n_e + n_other);
  const double weighted = emotion_share();
  EXPECT_GT(weighted, 3 * uniform);
  EXPECT_NEAR(weighted, expected, 0.04);
  EXPECT_EQ(o.family_weight(cat.named("japan").id), 0);
  EXPECT_EQ(o.family_weight(cat.named("dog").id), 1);

  EXPECT_NE(
      error_message([] { WorldOptions::parse_family_weights("emotions"); }).find("'emotions' is not family=weight"),
      std::string::npos);
  EXPECT_NE(error_message([] { WorldOptions::parse_family_weights("emotions=x"); }).find("not family=weight"),
            std::string::npos);
  o.family_weights = {{"feelings", 2}};
  EXPECT_NE(error_message([&] { o.validate(); }).find("no family named 'feelings'"), std::string::npos);
  o.family_weights = {{"emotions", -1}};
  EXPECT_NE(error_message([&] { o.validate(); }).find("emotions = -1"), std::string::npos);
}

TEST(World, PicturesCanBeLabelledWithTheirOwnNameAndFacesWithTheirFeelings) {
  const Catalog& cat = catalog();
  TextRasterizer raster;
  WorldOptions o = only(SceneKind::PictureWithWord);
  o.family_weights = WorldOptions::parse_family_weights("emotions=50");
  o.p_mention_text = 1;
  o.p_feeling = 1;
  auto own = [&](int* memes) {
    int labelled = 0;
    for (uint64_t i = 0; i < 400; ++i) {
      Rng rng = Rng::for_item(4, i);
      const Scene s = sample_scene(rng, raster, o);
      const Concept& c = cat.concepts()[static_cast<size_t>(s.concept_id)];
      if (c.emotion.empty()) {
        labelled += s.text == c.name ? 1 : 0;
        continue;
      }
      if (cat.emotion_of_word(s.text) != c.emotion) continue;
      ++labelled;
      if (memes && has_word(s.caption, c.emotion)) ++*memes;  // captioned as the written feeling
    }
    return labelled;
  };
  const int before = own(nullptr);
  o.p_own_word = 0.8;
  int memes = 0;
  const int after = own(&memes);
  EXPECT_LT(before, 60);
  EXPECT_GT(after, 250);  // ~0.8 of 400, plus the chance ones
  EXPECT_GT(memes, after / 2);
  o.p_own_word = 1.5;
  EXPECT_NE(error_message([&] { o.validate(); }).find("p_own_word"), std::string::npos);
}

TEST(World, PicturesAndSilhouettesAreWhereTheLabelsSay) {
  const Catalog& cat = catalog();
  TextRasterizer raster;
  Rng rng(3);
  for (const char* name : {"dog", "japan", "grinning face", "christmas tree"}) {
    Scene s = picture_scene(rng, 64, cat.named(name).id);
    s.background = "white";
    const Image image = render_scene(s, raster);
    int changed = 0;
    for (int y = 0; y < 64; ++y)
      for (int x = 0; x < 64; ++x) {
        const uint8_t* p = image.pixel(x, y);
        if (p[0] == 255 && p[1] == 255 && p[2] == 255) continue;
        ++changed;
        // Every painted pixel is within the picture's half-diagonal of its centre.
        ASSERT_LE(std::hypot(x + 0.5 - s.picture.x, y + 0.5 - s.picture.y), s.picture.r * std::sqrt(2.0) + 1.5) << name;
      }
    EXPECT_GT(changed, 200) << name;
    EXPECT_EQ(s.labels()["concept"], name);
    EXPECT_EQ(s.labels()["modality"], std::string(name) == "japan" ? "flag" : "emoji");
  }
  // Japan's flag: a red disc on white.
  Scene flag = picture_scene(rng, 64, cat.named("japan").id);
  flag.picture = {32, 32, 30, 0};
  const Image f = render_scene(flag, raster);
  const uint8_t* centre = f.pixel(32, 32);
  EXPECT_GT(centre[0], 150);
  EXPECT_LT(centre[1], 90);
  if (cat.regions_with_silhouettes().empty()) return;
  Scene outline = silhouette_scene(rng, 64, cat.named("chile").id);
  outline.background = "white";
  const Image o = render_scene(outline, raster);
  int inked = 0, columns = 0;
  for (int x = 0; x < 64; ++x) {
    bool any = false;
    for (int y = 0; y < 64; ++y) {
      const uint8_t* p = o.pixel(x, y);
      const bool ink = std::abs(p[0] - outline.object_rgb[0]) + std::abs(p[1] - outline.object_rgb[1]) +
                           std::abs(p[2] - outline.object_rgb[2]) <
                       30;
      inked += ink;
      any = any || ink;
    }
    columns += any;
  }
  EXPECT_GT(inked, 20);
  if (outline.picture.angle == 0) {
    EXPECT_LT(columns, 20);  // upright Chile is narrow
    EXPECT_EQ(outline.labels()["modality"], "silhouette");
  }
  EXPECT_EQ(outline.labels()["continent"], "south america");
}

TEST(World, SecondEditionCaptionsNameWhatIsShown) {
  const World world(17);
  const Catalog& cat = catalog();
  TextRasterizer raster;
  std::map<SceneKind, int> kinds;
  int named = 0, pictures = 0, continent_only = 0;
  for (uint64_t i = 0; i < 3000; ++i) {
    Rng rng = Rng::for_item(world.seed(), i);
    const Scene s = sample_scene(rng, raster, world.options());
    ++kinds[s.kind];
    if (s.kind != SceneKind::Picture && s.kind != SceneKind::Silhouette) continue;
    const Concept& c = cat.concepts()[static_cast<size_t>(s.concept_id)];
    ++pictures;
    if (has_word(s.caption, c.name))
      ++named;
    else if (!c.continent.empty() && has_word(s.caption, c.continent))
      ++continent_only;
    else if (c.emotion.empty())
      ADD_FAILURE() << "caption '" << s.caption << "' for " << c.name;
  }
  for (SceneKind k : {SceneKind::Objects, SceneKind::Face, SceneKind::Word, SceneKind::ObjectWithWord,
                      SceneKind::Picture, SceneKind::PictureWithWord})
    EXPECT_GT(kinds[k], 30) << kind_name(k);
  if (!cat.regions_with_silhouettes().empty()) {
    EXPECT_GT(kinds[SceneKind::Silhouette], 100);
  }
  EXPECT_GT(named, pictures * 7 / 10);
  EXPECT_GT(continent_only, 10);
  // Long names are written on two lines that both stay on the canvas.
  Rng rng(5);
  Scene s = word_scene(rng, raster, 64, "statue of liberty", "black");
  EXPECT_TRUE(s.text_two_lines);
  render_scene(s, raster);
  EXPECT_GE(s.text_box.x0, 0);
  EXPECT_LE(s.text_box.x1, 64);
  EXPECT_GT(s.text_box.height(), 10);
  EXPECT_EQ(s.labels()["text_concept"], "statue of liberty");
}

TEST(World, FirstEditionKeepsItsKindsAndFonts) {
  const World world(8, WorldOptions::first_edition());
  TextRasterizer raster;
  const auto& dejavu = world_fonts(1);
  for (uint64_t i = 0; i < 500; ++i) {
    const Scene s = world.sample(i, raster).scene;
    ASSERT_LT(static_cast<int>(s.kind), static_cast<int>(SceneKind::Picture)) << s.caption;
    if (s.has_text()) {
      EXPECT_NE(std::find(dejavu.begin(), dejavu.end(), s.font), dejavu.end()) << s.font;
    }
  }
  EXPECT_EQ(world_fonts(1).size(), 6u);
  EXPECT_GT(world_fonts(2).size(), 12u);
}

}  // namespace
}  // namespace clipscope::world
