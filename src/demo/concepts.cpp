#include "demo/concepts.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "core/util/progress.h"
#include "demo/probe.h"
#include "world/catalog.h"
#include "world/concepts.h"
#include "world/rng.h"

namespace clipscope::demo {
namespace {

using world::Catalog;
using world::Concept;

// z of every label's rows against all other rows, per unit: (mean_in - mean_out) /
// std_out. acts (N, U), labels in [0, C). Returns (C, U).
torch::Tensor label_z(const torch::Tensor& acts, const std::vector<int64_t>& labels, int64_t classes) {
  const auto x = acts.to(torch::kDouble);
  const auto index = torch::tensor(labels);
  const auto n = torch::zeros({classes}, torch::kDouble).index_add_(0, index, torch::ones({x.size(0)}, torch::kDouble));
  const auto sum = torch::zeros({classes, x.size(1)}, torch::kDouble).index_add_(0, index, x);
  const auto sq = torch::zeros({classes, x.size(1)}, torch::kDouble).index_add_(0, index, x * x);
  const auto total = x.sum(0, true), total_sq = (x * x).sum(0, true);
  const auto n_in = n.unsqueeze(1), n_out = x.size(0) - n_in;
  const auto mean_in = sum / n_in.clamp_min(1);
  const auto mean_out = (total - sum) / n_out.clamp_min(1);
  const auto var_out = ((total_sq - sq) - n_out * mean_out * mean_out) / (n_out - 1).clamp_min(1);
  return (mean_in - mean_out) / (var_out.clamp_min(0).sqrt() + 1e-6);
}

// (C, U) mean of every label's rows.
torch::Tensor label_means(const torch::Tensor& acts, const std::vector<int64_t>& labels, int64_t classes) {
  const auto index = torch::tensor(labels);
  const auto x = acts.to(torch::kDouble);
  const auto n = torch::zeros({classes}, torch::kDouble).index_add_(0, index, torch::ones({x.size(0)}, torch::kDouble));
  return torch::zeros({classes, x.size(1)}, torch::kDouble).index_add_(0, index, x) / n.clamp_min(1).unsqueeze(1);
}

Scene black_word(world::Rng& rng, TextRasterizer& raster, int size, const std::string& text) {
  Scene s = world::word_scene(rng, raster, size, text, "black");
  s.background = "white";
  return s;
}

// A concept shown in its own modality: drawn colours and shapes, else its emoji or flag.
Scene shown(world::Rng& rng, int size, const Concept& c) {
  if (c.family == "colors")
    return world::objects_scene(rng, size, c.name, rng.pick(world::shapes()), rng.integer(1, world::max_count()));
  if (c.family == "shapes")
    return world::objects_scene(rng, size, rng.pick(world::colors()).name, c.name, rng.integer(1, world::max_count()));
  return world::picture_scene(rng, size, c.id);
}

std::vector<std::string> prompts_for(const Concept& c) {
  const std::string a = world::article(c.name) + " " + c.name;
  if (c.family == "regions") return {"the flag of " + c.name, "a flag of " + c.name, c.name + " flag", c.name};
  return {a, "a photo of " + a, "an emoji of " + a, c.name};
}

std::vector<Scene> render_all(std::vector<Scene>& scenes, TextRasterizer& raster, std::vector<Image>* keep = nullptr) {
  std::vector<Image> images;
  for (Scene& s : scenes) images.push_back(world::render_scene(s, raster));
  if (keep) *keep = std::move(images);
  return scenes;
}

}  // namespace

ConceptReport concept_report(CLIP& model, const Tokenizer& tokenizer, const ConceptOptions& o, bool progress) {
  const Catalog& cat = world::catalog();
  Probe probe(model, tokenizer, o.batch);
  const int size = probe.size();
  world::Rng rng(o.seed ^ 0xC0CEE7ULL);
  TextRasterizer raster;
  ConceptReport r;
  r.threshold = o.threshold;
  r.catalog_concepts = static_cast<int64_t>(cat.concepts().size());
  Progress bar("concepts", static_cast<int64_t>(o.layers.size()) + 4, "part", progress);
  auto images_of = [&](std::vector<Scene>& scenes) { return probe.render(scenes); };

  // The evaluated concepts: every colour and shape, the rest evenly spaced over the catalog.
  std::vector<int> evaluated;
  for (const Concept& c : cat.concepts())
    if (c.family == "colors" || c.family == "shapes") evaluated.push_back(c.id);
  std::vector<int> rest;
  for (const Concept& c : cat.concepts())
    if (c.family != "colors" && c.family != "shapes") rest.push_back(c.id);
  const size_t wanted = static_cast<size_t>(std::max(0, o.concepts - static_cast<int>(evaluated.size())));
  for (size_t k = 0; k < wanted && k < rest.size(); ++k)
    evaluated.push_back(rest[k * rest.size() / std::min(wanted, rest.size())]);

  std::vector<Scene> objects, words;
  std::vector<int64_t> object_label, word_label;
  for (size_t k = 0; k < evaluated.size(); ++k) {
    const Concept& c = cat.concepts()[static_cast<size_t>(evaluated[k])];
    for (int i = 0; i < o.images; ++i) {
      objects.push_back(shown(rng, size, c));
      object_label.push_back(static_cast<int64_t>(k));
      words.push_back(black_word(rng, raster, size, c.name));
      word_label.push_back(static_cast<int64_t>(k));
    }
  }
  const auto object_images = images_of(objects), word_images = images_of(words);
  // Reading: each written name among the evaluated names.
  std::vector<double> read(evaluated.size(), 0.0);
  {
    std::vector<std::vector<std::string>> prompts;
    for (int id : evaluated) {
      const std::string& n = cat.concepts()[static_cast<size_t>(id)].name;
      prompts.push_back({"the word " + n, "text: " + n, "a sign that says " + n, n});
    }
    const auto predicted = Probe::classify(probe.image_features(word_images), probe.classes(prompts));
    for (size_t i = 0; i < predicted.size(); ++i)
      if (predicted[i] == word_label[i]) read[static_cast<size_t>(word_label[i])] += 1.0 / o.images;
    r.reading = fraction(predicted, word_label);
  }

  // Every country: flag, written name and (where the catalog has one) silhouette.
  const auto& regions = cat.family("regions");
  std::vector<Scene> flags, names, outlines;
  std::vector<int64_t> flag_label, name_label, outline_label;
  std::vector<int64_t> region_with_outline;  // region index -> index among those with silhouettes, or -1
  for (size_t k = 0; k < regions.size(); ++k) {
    const Concept& c = cat.concepts()[static_cast<size_t>(regions[k])];
    for (int i = 0; i < o.region_images; ++i) {
      flags.push_back(world::picture_scene(rng, size, c.id));
      flag_label.push_back(static_cast<int64_t>(k));
      names.push_back(black_word(rng, raster, size, c.name));
      name_label.push_back(static_cast<int64_t>(k));
      if (c.silhouette >= 0) {
        outlines.push_back(world::silhouette_scene(rng, size, c.id));
        outline_label.push_back(static_cast<int64_t>(k));
      }
    }
  }
  torch::Tensor flag_images, name_images, outline_images;
  if (!o.multimodal_only) {
    flag_images = images_of(flags);
    name_images = images_of(names);
    if (!outlines.empty()) outline_images = images_of(outlines);
  }

  // Faces with a feeling and the feeling wheel's words, per core emotion.
  std::vector<std::string> emotions;
  for (const auto& e : cat.emotions()) {
    const bool has_face =
        std::any_of(cat.concepts().begin(), cat.concepts().end(), [&](const Concept& c) { return c.emotion == e; });
    if (has_face) emotions.push_back(e);
  }
  std::vector<Scene> faces, feelings;
  std::vector<int64_t> face_label, feeling_label;
  for (size_t k = 0; k < emotions.size(); ++k) {
    std::vector<int> ids;
    for (const Concept& c : cat.concepts())
      if (c.emotion == emotions[k]) ids.push_back(c.id);
    for (int i = 0; i < o.emotion_images; ++i) {
      faces.push_back(world::picture_scene(rng, size, rng.pick(ids)));
      face_label.push_back(static_cast<int64_t>(k));
      feelings.push_back(black_word(rng, raster, size, rng.pick(cat.emotion_words(emotions[k]))));
      feeling_label.push_back(static_cast<int64_t>(k));
    }
  }
  torch::Tensor face_images, feeling_images;
  if (!o.multimodal_only) {
    face_images = images_of(faces);
    feeling_images = images_of(feelings);
  }
  bar.add();

  for (size_t li = 0; li < o.layers.size(); ++li) {
    LayerConcepts L;
    L.layer = model->resolve_point(o.layers[li]);
    const auto zo =
        label_z(probe.unit_means(object_images, L.layer), object_label, static_cast<int64_t>(evaluated.size()));
    const auto zw = label_z(probe.unit_means(word_images, L.layer), word_label, static_cast<int64_t>(evaluated.size()));
    L.units = zo.size(1);
    const auto both = torch::minimum(zo, zw);
    const auto [score, unit] = both.max(1);
    const auto C = static_cast<int64_t>(evaluated.size());
    const auto shifted = torch::roll(zw, {C / 2}, {0});  // concept k's pictures with concept k + C/2's name
    L.multimodal_shuffled = torch::minimum(zo, shifted).amax(1).ge(o.threshold).sum().item<int>();
    for (size_t k = 0; k < evaluated.size(); ++k) {
      const Concept& c = cat.concepts()[static_cast<size_t>(evaluated[k])];
      ConceptUnit u{c.name, c.family, unit[static_cast<int64_t>(k)].item<int64_t>(),
                    0,      0,        score[static_cast<int64_t>(k)].item<double>()};
      u.object_z = zo[static_cast<int64_t>(k)][u.unit].item<double>();
      u.word_z = zw[static_cast<int64_t>(k)][u.unit].item<double>();
      u.read = read[k];
      if (u.score >= o.threshold) {
        ++L.multimodal;
        if (c.family == "colors") ++L.multimodal_colors;
      }
      L.concepts.push_back(u);
    }
    if (o.multimodal_only) {
      r.layers.push_back(std::move(L));
      bar.add();
      continue;
    }
    const auto flag_acts = probe.unit_means(flag_images, L.layer), name_acts = probe.unit_means(name_images, L.layer);
    const auto R = static_cast<int64_t>(regions.size());
    if (outline_images.defined()) {
      const auto zf = label_z(flag_acts, flag_label, R), zn = label_z(name_acts, name_label, R);
      const auto zs = label_z(probe.unit_means(outline_images, L.layer), outline_label, R);
      const auto best = torch::minimum(torch::minimum(zf, zn), zs).amax(1);
      for (int64_t k = 0; k < R; ++k) {
        if (cat.concepts()[static_cast<size_t>(regions[static_cast<size_t>(k)])].silhouette < 0) continue;
        ++L.regions_with_silhouettes;
        if (best[k].item<double>() >= o.threshold) ++L.three_modalities;
      }
    }
    if (li == 0) {
      // Region units: the top-10 countries by flag and by written name share >= 3.
      const auto mf = label_means(flag_acts, flag_label, R), mn = label_means(name_acts, name_label, R);
      const int64_t top = std::min<int64_t>(10, R);
      {  // chance: names rolled by half the list
        const torch::Tensor a = std::get<1>(mf.topk(top, 0)).t().contiguous();
        const torch::Tensor b = std::get<1>(torch::roll(mn, {R / 2}, {0}).topk(top, 0)).t().contiguous();
        for (int64_t u = 0; u < mf.size(1); ++u) {
          int shared = 0;
          for (int64_t i = 0; i < top; ++i)
            for (int64_t j = 0; j < top; ++j) shared += a[u][i].item<int64_t>() == b[u][j].item<int64_t>() ? 1 : 0;
          r.region_units_shuffled += shared >= 3 ? 1 : 0;
        }
      }
      const torch::Tensor tf = std::get<1>(mf.topk(top, 0)).t().contiguous(),
                          tn = std::get<1>(mn.topk(top, 0)).t().contiguous();
      for (int64_t u = 0; u < mf.size(1); ++u) {
        RegionUnit ru;
        ru.unit = u;
        std::map<std::string, int> continents;
        std::vector<int64_t> a(tf[u].data_ptr<int64_t>(), tf[u].data_ptr<int64_t>() + top);
        std::vector<int64_t> b(tn[u].data_ptr<int64_t>(), tn[u].data_ptr<int64_t>() + top);
        for (int64_t x : a) ru.shared += std::count(b.begin(), b.end(), x) > 0 ? 1 : 0;
        if (ru.shared < 3) continue;
        for (int64_t x : a) {
          const Concept& c = cat.concepts()[static_cast<size_t>(regions[static_cast<size_t>(x)])];
          ru.by_flag.push_back(c.name);
          ++continents[c.continent];
        }
        for (int64_t x : b) {
          const Concept& c = cat.concepts()[static_cast<size_t>(regions[static_cast<size_t>(x)])];
          ru.by_name.push_back(c.name);
          ++continents[c.continent];
        }
        const auto most = std::max_element(continents.begin(), continents.end(),
                                           [](const auto& x, const auto& y) { return x.second < y.second; });
        ru.continent = most->first;
        ru.continent_share = most->second / (2.0 * static_cast<double>(top));
        r.region_units.push_back(ru);
      }
      std::stable_sort(r.region_units.begin(), r.region_units.end(),
                       [](const RegionUnit& x, const RegionUnit& y) { return x.shared > y.shared; });
      // Emotion units.
      const auto E = static_cast<int64_t>(emotions.size());
      if (E >= 2) {
        const auto zf = label_z(probe.unit_means(face_images, L.layer), face_label, E);
        const auto zw2 = label_z(probe.unit_means(feeling_images, L.layer), feeling_label, E);
        const auto m = torch::minimum(zf, zw2);  // (E, U)
        r.emotion_units_shuffled =
            torch::minimum(zf, torch::roll(zw2, {1}, {0})).amax(0).ge(o.threshold).sum().item<int>();
        const auto [per_emotion, best_unit] = m.max(1);
        for (int64_t e = 0; e < E; ++e) {
          const int64_t u = best_unit[e].item<int64_t>();
          r.emotion_best.push_back(
              {u, emotions[static_cast<size_t>(e)], zf[e][u].item<double>(), zw2[e][u].item<double>()});
        }
        const auto [best, which] = m.max(0);
        for (int64_t u = 0; u < m.size(1); ++u) {
          if (best[u].item<double>() < o.threshold) continue;
          const int64_t e = which[u].item<int64_t>();
          r.emotion_units.push_back(
              {u, emotions[static_cast<size_t>(e)], zf[e][u].item<double>(), zw2[e][u].item<double>()});
        }
        std::stable_sort(r.emotion_units.begin(), r.emotion_units.end(),
                         [](const EmotionUnit& x, const EmotionUnit& y) {
                           return std::min(x.face_z, x.word_z) > std::min(y.face_z, y.word_z);
                         });
      }
    }
    r.layers.push_back(std::move(L));
    bar.add();
  }

  if (o.multimodal_only) {
    bar.finish();
    return r;
  }
  // Zero-shot per family (pictures of the family's concepts among its names), and
  // the class embeddings the attack reuses.
  std::map<std::string, torch::Tensor> classes;
  for (const auto& family : cat.families()) {
    if (family == "colors" || family == "shapes") continue;  // the first edition's report measures those
    const auto& ids = cat.family(family);
    std::vector<std::vector<std::string>> prompts;
    for (int id : ids) prompts.push_back(prompts_for(cat.concepts()[static_cast<size_t>(id)]));
    classes[family] = probe.classes(prompts);
    std::vector<Scene> scenes;
    std::vector<int64_t> truth;
    for (int i = 0; i < o.zero_shot_images; ++i) {
      const auto k = static_cast<size_t>(i) % ids.size();
      scenes.push_back(world::picture_scene(rng, size, ids[k]));
      truth.push_back(static_cast<int64_t>(k));
    }
    const auto predicted = Probe::classify(probe.image_features(images_of(scenes)), classes[family]);
    r.zero_shot.emplace_back(family, fraction(predicted, truth));
  }
  bar.add();

  {  // Typographic attack: another concept of the same family named in white (outlined) on an emoji.
    std::vector<std::string> families;
    for (const auto& [family, unused] : classes) families.push_back(family);
    std::vector<Scene> attacked, clean;
    std::vector<int64_t> truth, written;
    std::vector<std::string> family_of_row;
    for (int i = 0; i < o.attack_images; ++i) {
      const std::string& family = families[static_cast<size_t>(i) % families.size()];
      const auto& ids = cat.family(family);
      const auto k = static_cast<size_t>(rng.integer(0, static_cast<int>(ids.size()) - 1));
      auto wrong = k;
      while (wrong == k) wrong = static_cast<size_t>(rng.integer(0, static_cast<int>(ids.size()) - 1));
      Scene s = world::picture_with_word_scene(rng, raster, size, ids[k],
                                               cat.concepts()[static_cast<size_t>(ids[wrong])].name, "white");
      attacked.push_back(s);
      s.text.clear();
      clean.push_back(s);
      truth.push_back(static_cast<int64_t>(k));
      written.push_back(static_cast<int64_t>(wrong));
      family_of_row.push_back(family);
    }
    std::vector<Image> with_text, without_text;
    render_all(attacked, raster, &with_text);
    render_all(clean, raster, &without_text);
    double cover = 0;
    for (size_t i = 0; i < with_text.size(); ++i) {
      size_t changed = 0;
      const auto& a = with_text[i].rgb;
      const auto& b = without_text[i].rgb;
      for (size_t p = 0; p < a.size(); p += 3)
        changed += (a[p] != b[p] || a[p + 1] != b[p + 1] || a[p + 2] != b[p + 2]) ? 1 : 0;
      cover += static_cast<double>(changed) / static_cast<double>(a.size() / 3);
    }
    const auto fa = probe.image_features(images_to_tensor(with_text)),
               fc = probe.image_features(images_to_tensor(without_text));
    int right_clean = 0, right_attacked = 0, flipped = 0;
    for (size_t i = 0; i < truth.size(); ++i) {
      const auto& cls = classes[family_of_row[i]];
      const int64_t pa = fa[static_cast<int64_t>(i)].matmul(cls.t()).argmax().item<int64_t>();
      const int64_t pc = fc[static_cast<int64_t>(i)].matmul(cls.t()).argmax().item<int64_t>();
      right_clean += pc == truth[i];
      right_attacked += pa == truth[i];
      flipped += pa == written[i];
    }
    const double n = static_cast<double>(truth.size());
    r.attack = {right_clean / n, right_attacked / n, flipped / n, cover / n, static_cast<int>(truth.size())};
  }
  bar.add();
  bar.finish();
  return r;
}

nlohmann::json ConceptReport::to_json() const {
  nlohmann::json layers_json = nlohmann::json::array();
  for (const auto& L : layers) {
    nlohmann::json concepts_json = nlohmann::json::array();
    for (const auto& c : L.concepts)
      concepts_json.push_back({{"concept", c.name},
                               {"family", c.family},
                               {"unit", c.unit},
                               {"object_z", c.object_z},
                               {"word_z", c.word_z},
                               {"score", c.score},
                               {"read", c.read}});
    layers_json.push_back({{"layer", L.layer},
                           {"units", L.units},
                           {"evaluated", L.concepts.size()},
                           {"multimodal", L.multimodal},
                           {"multimodal_fraction", L.fraction()},
                           {"multimodal_colors", L.multimodal_colors},
                           {"multimodal_shuffled", L.multimodal_shuffled},
                           {"regions_with_silhouettes", L.regions_with_silhouettes},
                           {"three_modalities", L.three_modalities},
                           {"concepts", concepts_json}});
  }
  nlohmann::json regions_json = nlohmann::json::array();
  for (const auto& u : region_units)
    regions_json.push_back({{"unit", u.unit},
                            {"shared", u.shared},
                            {"by_flag", u.by_flag},
                            {"by_name", u.by_name},
                            {"continent", u.continent},
                            {"continent_share", u.continent_share}});
  nlohmann::json emotions_json = nlohmann::json::array();
  for (const auto& u : emotion_units)
    emotions_json.push_back({{"unit", u.unit}, {"emotion", u.emotion}, {"face_z", u.face_z}, {"word_z", u.word_z}});
  nlohmann::json emotion_best_json = nlohmann::json::array();
  for (const auto& u : emotion_best)
    emotion_best_json.push_back({{"unit", u.unit}, {"emotion", u.emotion}, {"face_z", u.face_z}, {"word_z", u.word_z}});
  nlohmann::json zero_shot_json = nlohmann::json::object();
  for (const auto& [family, top1] : zero_shot) zero_shot_json[family] = top1;
  return {{"catalog_concepts", catalog_concepts},
          {"threshold", threshold},
          {"layers", layers_json},
          {"region_units", regions_json},
          {"region_units_shuffled", region_units_shuffled},
          {"emotion_units", emotions_json},
          {"emotion_units_shuffled", emotion_units_shuffled},
          {"emotion_best", emotion_best_json},
          {"zero_shot_by_family", zero_shot_json},
          {"reading", reading},
          {"typographic_attack",
           {{"clean", attack.clean},
            {"attacked", attack.attacked},
            {"flip_to_written", attack.flip},
            {"pixel_cover", attack.pixel_cover},
            {"images", attack.images}}}};
}

std::string ConceptReport::to_text() const {
  std::string s = fmt::format("concepts of the world ({} in the catalog); a unit counts at >= {:.1f} std\n",
                              catalog_concepts, threshold);
  for (const auto& L : layers) {
    s += fmt::format(
        "  {:<18} {:>4} units: multimodal for {}/{} concepts ({:.1f}%; {} with the names shuffled), "
        "{}/8 colours; flag + silhouette + name at one unit: {}/{} countries\n",
        L.layer, L.units, L.multimodal, L.concepts.size(), 100 * L.fraction(), L.multimodal_shuffled,
        L.multimodal_colors, L.three_modalities, L.regions_with_silhouettes);
  }
  if (!layers.empty()) {
    auto best = layers.front().concepts;
    std::stable_sort(best.begin(), best.end(),
                     [](const ConceptUnit& a, const ConceptUnit& b) { return a.score > b.score; });
    s += fmt::format("  most multimodal at {}:\n", layers.front().layer);
    for (size_t i = 0; i < std::min<size_t>(12, best.size()); ++i)
      s += fmt::format("    {:<28} {:<10} unit {:>4}   picture z {:6.2f}   written z {:6.2f}\n", best[i].name,
                       best[i].family, best[i].unit, best[i].object_z, best[i].word_z);
  }
  s += fmt::format("region units (top-10 countries by flag and by name share >= 3): {} ({} with the names shuffled)\n",
                   region_units.size(), region_units_shuffled);
  for (size_t i = 0; i < std::min<size_t>(6, region_units.size()); ++i) {
    const auto& u = region_units[i];
    std::string flags;
    for (size_t k = 0; k < std::min<size_t>(4, u.by_flag.size()); ++k) flags += (k ? ", " : "") + u.by_flag[k];
    s += fmt::format("    unit {:>4}  {} shared, {} {:.0f}%  (flags: {}...)\n", u.unit, u.shared, u.continent,
                     100 * u.continent_share, flags);
  }
  s += fmt::format("emotion units (face emoji and the feeling's words both >= {:.1f} std): {} ({} shuffled)\n",
                   threshold, emotion_units.size(), emotion_units_shuffled);
  for (size_t i = 0; i < std::min<size_t>(6, emotion_units.size()); ++i)
    s += fmt::format("    unit {:>4}  {:<10} face z {:6.2f}  word z {:6.2f}\n", emotion_units[i].unit,
                     emotion_units[i].emotion, emotion_units[i].face_z, emotion_units[i].word_z);
  if (!emotion_best.empty()) {
    s += "  each emotion's best unit by min(face z, word z):\n";
    for (const auto& u : emotion_best)
      s +=
          fmt::format("    {:<10} unit {:>4}  face z {:6.2f}  word z {:6.2f}\n", u.emotion, u.unit, u.face_z, u.word_z);
  }
  s += fmt::format("reading: {:.1f}% of the evaluated names, written in black, classified as themselves\n",
                   100 * reading);
  s += "zero-shot top-1 by family (pictures among the family's names):\n   ";
  for (const auto& [family, top1] : zero_shot) s += fmt::format(" {} {:.0f}%", family, 100 * top1);
  s += fmt::format(
      "\ntypographic attack (another name of the family in outlined white on an emoji, {} images, "
      "pixel cover {:.1f}%):\n  accuracy {:.1f}% -> {:.1f}%, {:.1f}% answer the written word\n",
      attack.images, 100 * attack.pixel_cover, 100 * attack.clean, 100 * attack.attacked, 100 * attack.flip);
  return s;
}

}  // namespace clipscope::demo
