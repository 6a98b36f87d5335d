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
  const double floor = kStdFloorShare * x.std(0).median().item<double>();
  return (mean_in - mean_out) / var_out.clamp_min(0).sqrt().clamp_min(std::max(floor, 1e-6));
}

namespace {

// A mean response at or below this is silence (the units read are after a ReLU).
constexpr double kSilent = 1e-6;

using world::Catalog;
using world::Concept;

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

// What every part of the report shares: the probe, the catalog, and one random
// stream drawn from in the order of the parts (the report depends on that order).
struct Bench {
  Bench(Probe& p, const ConceptOptions& options)
      : probe(p), o(options), cat(world::catalog()), size(p.size()), rng(o.seed ^ 0xC0CEE7ULL) {}
  Probe& probe;
  const ConceptOptions& o;
  const Catalog& cat;
  int size;
  world::Rng rng;
  TextRasterizer raster;
};

// Scenes with a label each, and their images once rendered.
struct Labelled {
  std::vector<Scene> scenes;
  std::vector<int64_t> labels;
  torch::Tensor images;  // undefined until rendered
  void add(Scene s, size_t label) {
    scenes.push_back(std::move(s));
    labels.push_back(static_cast<int64_t>(label));
  }
  void render(Probe& probe) {
    if (!scenes.empty()) images = probe.render(scenes);
  }
};

// The evaluated concepts: every colour and shape, the rest evenly spaced over the catalog.
std::vector<int> evaluated_concepts(const Catalog& cat, int concepts) {
  std::vector<int> evaluated;
  for (const Concept& c : cat.concepts())
    if (c.family == "colors" || c.family == "shapes") evaluated.push_back(c.id);
  std::vector<int> rest;
  for (const Concept& c : cat.concepts())
    if (c.family != "colors" && c.family != "shapes") rest.push_back(c.id);
  const size_t wanted = static_cast<size_t>(std::max(0, concepts - static_cast<int>(evaluated.size())));
  for (size_t k = 0; k < wanted && k < rest.size(); ++k)
    evaluated.push_back(rest[k * rest.size() / std::min(wanted, rest.size())]);
  return evaluated;
}

// Each evaluated concept shown in its own modality and written; and reading: each
// written name among the evaluated names (per concept into `read`, overall into r).
struct ConceptProbes {
  std::vector<int> evaluated;
  Labelled objects, words;
  std::vector<double> read;
};
ConceptProbes draw_concepts(Bench& b, ConceptReport& r) {
  ConceptProbes p;
  p.evaluated = evaluated_concepts(b.cat, b.o.concepts);
  for (size_t k = 0; k < p.evaluated.size(); ++k) {
    const Concept& c = b.cat.concepts()[static_cast<size_t>(p.evaluated[k])];
    for (int i = 0; i < b.o.images; ++i) {
      p.objects.add(shown(b.rng, b.size, c), k);
      p.words.add(black_word(b.rng, b.raster, b.size, c.name), k);
    }
  }
  p.objects.render(b.probe);
  p.words.render(b.probe);
  std::vector<std::vector<std::string>> prompts;
  for (int id : p.evaluated) {
    const std::string& n = b.cat.concepts()[static_cast<size_t>(id)].name;
    prompts.push_back({"the word " + n, "text: " + n, "a sign that says " + n, n});
  }
  const auto predicted = Probe::classify(b.probe.image_features(p.words.images), b.probe.classes(prompts));
  p.read.assign(p.evaluated.size(), 0.0);
  for (size_t i = 0; i < predicted.size(); ++i)
    if (predicted[i] == p.words.labels[i]) p.read[static_cast<size_t>(p.words.labels[i])] += 1.0 / b.o.images;
  r.reading = fraction(predicted, p.words.labels);
  return p;
}

// Every country: flag, written name and (where the catalog has one) silhouette.
// Rendered only for the full report; drawn always, to keep the random stream.
struct RegionProbes {
  std::vector<int> regions;
  Labelled flags, names, outlines;
};
RegionProbes draw_regions(Bench& b) {
  RegionProbes p;
  p.regions = b.cat.family("regions");
  for (size_t k = 0; k < p.regions.size(); ++k) {
    const Concept& c = b.cat.concepts()[static_cast<size_t>(p.regions[k])];
    for (int i = 0; i < b.o.region_images; ++i) {
      p.flags.add(world::picture_scene(b.rng, b.size, c.id), k);
      p.names.add(black_word(b.rng, b.raster, b.size, c.name), k);
      if (c.silhouette >= 0) p.outlines.add(world::silhouette_scene(b.rng, b.size, c.id), k);
    }
  }
  if (!b.o.multimodal_only) {
    p.flags.render(b.probe);
    p.names.render(b.probe);
    p.outlines.render(b.probe);
  }
  return p;
}

// Faces with a feeling and the feeling wheel's words, per core emotion (those with a face).
struct EmotionProbes {
  std::vector<std::string> emotions;
  Labelled faces, feelings;
};
EmotionProbes draw_emotions(Bench& b) {
  EmotionProbes p;
  for (const auto& e : b.cat.emotions()) {
    const bool has_face =
        std::any_of(b.cat.concepts().begin(), b.cat.concepts().end(), [&](const Concept& c) { return c.emotion == e; });
    if (has_face) p.emotions.push_back(e);
  }
  for (size_t k = 0; k < p.emotions.size(); ++k) {
    std::vector<int> ids;
    for (const Concept& c : b.cat.concepts())
      if (c.emotion == p.emotions[k]) ids.push_back(c.id);
    for (int i = 0; i < b.o.emotion_images; ++i) {
      p.faces.add(world::picture_scene(b.rng, b.size, b.rng.pick(ids)), k);
      p.feelings.add(black_word(b.rng, b.raster, b.size, b.rng.pick(b.cat.emotion_words(p.emotions[k]))), k);
    }
  }
  if (!b.o.multimodal_only) {
    p.faces.render(b.probe);
    p.feelings.render(b.probe);
  }
  return p;
}

// Each evaluated concept's most multimodal unit at one layer.
LayerConcepts measure_multimodal(Bench& b, const std::string& layer, const ConceptProbes& p) {
  LayerConcepts L;
  L.layer = layer;
  const auto C = static_cast<int64_t>(p.evaluated.size());
  const auto zo = label_z(b.probe.unit_means(p.objects.images, layer), p.objects.labels, C);
  const auto zw = label_z(b.probe.unit_means(p.words.images, layer), p.words.labels, C);
  L.units = zo.size(1);
  const auto both = torch::minimum(zo, zw);
  const auto [score, unit] = both.max(1);
  const auto shifted = torch::roll(zw, {C / 2}, {0});  // concept k's pictures with concept k + C/2's name
  L.multimodal_shuffled = torch::minimum(zo, shifted).amax(1).ge(b.o.threshold).sum().item<int>();
  for (size_t k = 0; k < p.evaluated.size(); ++k) {
    const Concept& c = b.cat.concepts()[static_cast<size_t>(p.evaluated[k])];
    ConceptUnit u{c.name, c.family, unit[static_cast<int64_t>(k)].item<int64_t>(),
                  0,      0,        score[static_cast<int64_t>(k)].item<double>()};
    u.object_z = zo[static_cast<int64_t>(k)][u.unit].item<double>();
    u.word_z = zw[static_cast<int64_t>(k)][u.unit].item<double>();
    u.read = p.read[k];
    if (u.score >= b.o.threshold) {
      ++L.multimodal;
      if (c.family == "colors") ++L.multimodal_colors;
    }
    L.concepts.push_back(u);
  }
  return L;
}

// Countries whose flag, silhouette and name all reach the threshold at one unit.
void measure_three_modalities(Bench& b, const RegionProbes& p, const torch::Tensor& flag_acts,
                              const torch::Tensor& name_acts, LayerConcepts& L) {
  if (!p.outlines.images.defined()) return;
  const auto R = static_cast<int64_t>(p.regions.size());
  const auto zf = label_z(flag_acts, p.flags.labels, R), zn = label_z(name_acts, p.names.labels, R);
  const auto zs = label_z(b.probe.unit_means(p.outlines.images, L.layer), p.outlines.labels, R);
  const auto best = torch::minimum(torch::minimum(zf, zn), zs).amax(1);
  for (int64_t k = 0; k < R; ++k) {
    if (b.cat.concepts()[static_cast<size_t>(p.regions[static_cast<size_t>(k)])].silhouette < 0) continue;
    ++L.regions_with_silhouettes;
    if (best[k].item<double>() >= b.o.threshold) ++L.three_modalities;
  }
}

// Region units: the top-10 countries by flag and by written name share >= 3.
void measure_region_units(Bench& b, const RegionProbes& p, const torch::Tensor& flag_acts,
                          const torch::Tensor& name_acts, ConceptReport& r) {
  const auto R = static_cast<int64_t>(p.regions.size());
  const auto mf = label_means(flag_acts, p.flags.labels, R), mn = label_means(name_acts, p.names.labels, R);
  const int64_t top = std::min<int64_t>(10, R);
  {  // chance: names rolled by half the list
    const auto [vx, ix] = mf.topk(top, 0);
    const auto [vy, iy] = torch::roll(mn, {R / 2}, {0}).topk(top, 0);
    const torch::Tensor x = ix.t().contiguous(), y = iy.t().contiguous();
    const torch::Tensor responds = vx[top - 1].gt(kSilent).logical_and(vy[top - 1].gt(kSilent));
    for (int64_t u = 0; u < mf.size(1); ++u) {
      if (!responds[u].item<bool>()) continue;
      int shared = 0;
      for (int64_t i = 0; i < top; ++i)
        for (int64_t j = 0; j < top; ++j) shared += x[u][i].item<int64_t>() == y[u][j].item<int64_t>() ? 1 : 0;
      r.region_units_shuffled += shared >= 3 ? 1 : 0;
    }
  }
  const auto [vf, tf_] = mf.topk(top, 0);
  const auto [vn, tn_] = mn.topk(top, 0);
  const torch::Tensor tf = tf_.t().contiguous(), tn = tn_.t().contiguous();
  // A unit must respond to each of its top countries: one silent on most of them ranks
  // ties, the same first countries of the list by flag and by name.
  const torch::Tensor responds = vf[top - 1].gt(kSilent).logical_and(vn[top - 1].gt(kSilent));
  for (int64_t u = 0; u < mf.size(1); ++u) {
    if (!responds[u].item<bool>()) continue;
    RegionUnit ru;
    ru.unit = u;
    std::map<std::string, int> continents;
    std::vector<int64_t> x(tf[u].data_ptr<int64_t>(), tf[u].data_ptr<int64_t>() + top);
    std::vector<int64_t> y(tn[u].data_ptr<int64_t>(), tn[u].data_ptr<int64_t>() + top);
    for (int64_t i : x) ru.shared += std::count(y.begin(), y.end(), i) > 0 ? 1 : 0;
    if (ru.shared < 3) continue;
    for (int64_t i : x) {
      const Concept& c = b.cat.concepts()[static_cast<size_t>(p.regions[static_cast<size_t>(i)])];
      ru.by_flag.push_back(c.name);
      ++continents[c.continent];
    }
    for (int64_t i : y) {
      const Concept& c = b.cat.concepts()[static_cast<size_t>(p.regions[static_cast<size_t>(i)])];
      ru.by_name.push_back(c.name);
      ++continents[c.continent];
    }
    const auto most = std::max_element(continents.begin(), continents.end(),
                                       [](const auto& m, const auto& n) { return m.second < n.second; });
    ru.continent = most->first;
    ru.continent_share = most->second / (2.0 * static_cast<double>(top));
    r.region_units.push_back(ru);
  }
  std::stable_sort(r.region_units.begin(), r.region_units.end(),
                   [](const RegionUnit& m, const RegionUnit& n) { return m.shared > n.shared; });
}

// Emotion units: face emoji and the emotion's written feeling words both >= threshold.
void measure_emotion_units(Bench& b, const EmotionProbes& p, const std::string& layer, ConceptReport& r) {
  const auto E = static_cast<int64_t>(p.emotions.size());
  if (E < 2) return;
  const auto zf = label_z(b.probe.unit_means(p.faces.images, layer), p.faces.labels, E);
  const auto zw = label_z(b.probe.unit_means(p.feelings.images, layer), p.feelings.labels, E);
  const auto m = torch::minimum(zf, zw);  // (E, U)
  r.emotion_units_shuffled = torch::minimum(zf, torch::roll(zw, {1}, {0})).amax(0).ge(b.o.threshold).sum().item<int>();
  const auto [per_emotion, best_unit] = m.max(1);
  for (int64_t e = 0; e < E; ++e) {
    const int64_t u = best_unit[e].item<int64_t>();
    r.emotion_best.push_back({u, p.emotions[static_cast<size_t>(e)], zf[e][u].item<double>(), zw[e][u].item<double>()});
  }
  const auto [best, which] = m.max(0);
  for (int64_t u = 0; u < m.size(1); ++u) {
    if (best[u].item<double>() < b.o.threshold) continue;
    const int64_t e = which[u].item<int64_t>();
    r.emotion_units.push_back(
        {u, p.emotions[static_cast<size_t>(e)], zf[e][u].item<double>(), zw[e][u].item<double>()});
  }
  std::stable_sort(r.emotion_units.begin(), r.emotion_units.end(), [](const EmotionUnit& x, const EmotionUnit& y) {
    return std::min(x.face_z, x.word_z) > std::min(y.face_z, y.word_z);
  });
}

// Zero-shot per family (pictures of the family's concepts among its names); returns
// the class embeddings, which the attack reuses.
std::map<std::string, torch::Tensor> measure_family_zero_shot(Bench& b, ConceptReport& r) {
  std::map<std::string, torch::Tensor> classes;
  for (const auto& family : b.cat.families()) {
    if (family == "colors" || family == "shapes") continue;  // the first edition's report measures those
    const auto& ids = b.cat.family(family);
    std::vector<std::vector<std::string>> prompts;
    for (int id : ids) prompts.push_back(prompts_for(b.cat.concepts()[static_cast<size_t>(id)]));
    classes[family] = b.probe.classes(prompts);
    std::vector<Scene> scenes;
    std::vector<int64_t> truth;
    for (int i = 0; i < b.o.zero_shot_images; ++i) {
      const auto k = static_cast<size_t>(i) % ids.size();
      scenes.push_back(world::picture_scene(b.rng, b.size, ids[k]));
      truth.push_back(static_cast<int64_t>(k));
    }
    const auto predicted = Probe::classify(b.probe.image_features(b.probe.render(scenes)), classes[family]);
    r.zero_shot.emplace_back(family, fraction(predicted, truth));
  }
  return classes;
}

// Typographic attack: another concept of the same family named in white (outlined) on an emoji.
void measure_attack(Bench& b, const std::map<std::string, torch::Tensor>& classes, ConceptReport& r) {
  std::vector<std::string> families;
  for (const auto& [family, unused] : classes) families.push_back(family);
  std::vector<Scene> attacked, clean;
  std::vector<int64_t> truth, written;
  std::vector<std::string> family_of_row;
  for (int i = 0; i < b.o.attack_images; ++i) {
    const std::string& family = families[static_cast<size_t>(i) % families.size()];
    const auto& ids = b.cat.family(family);
    const auto k = static_cast<size_t>(b.rng.integer(0, static_cast<int>(ids.size()) - 1));
    auto wrong = k;
    while (wrong == k) wrong = static_cast<size_t>(b.rng.integer(0, static_cast<int>(ids.size()) - 1));
    Scene s = world::picture_with_word_scene(b.rng, b.raster, b.size, ids[k],
                                             b.cat.concepts()[static_cast<size_t>(ids[wrong])].name, "white");
    attacked.push_back(s);
    s.text.clear();
    clean.push_back(s);
    truth.push_back(static_cast<int64_t>(k));
    written.push_back(static_cast<int64_t>(wrong));
    family_of_row.push_back(family);
  }
  std::vector<Image> with_text, without_text;
  render_all(attacked, b.raster, &with_text);
  render_all(clean, b.raster, &without_text);
  double cover = 0;
  for (size_t i = 0; i < with_text.size(); ++i) {
    size_t changed = 0;
    const auto& x = with_text[i].rgb;
    const auto& y = without_text[i].rgb;
    for (size_t q = 0; q < x.size(); q += 3)
      changed += (x[q] != y[q] || x[q + 1] != y[q + 1] || x[q + 2] != y[q + 2]) ? 1 : 0;
    cover += static_cast<double>(changed) / static_cast<double>(x.size() / 3);
  }
  const auto fa = b.probe.image_features(images_to_tensor(with_text)),
             fc = b.probe.image_features(images_to_tensor(without_text));
  int right_clean = 0, right_attacked = 0, flipped = 0;
  for (size_t i = 0; i < truth.size(); ++i) {
    const auto& cls = classes.at(family_of_row[i]);
    const int64_t pa = fa[static_cast<int64_t>(i)].matmul(cls.t()).argmax().item<int64_t>();
    const int64_t pc = fc[static_cast<int64_t>(i)].matmul(cls.t()).argmax().item<int64_t>();
    right_clean += pc == truth[i];
    right_attacked += pa == truth[i];
    flipped += pa == written[i];
  }
  const double n = static_cast<double>(truth.size());
  r.attack = {right_clean / n, right_attacked / n, flipped / n, cover / n, static_cast<int>(truth.size())};
}

}  // namespace

ConceptReport concept_report(CLIP& model, const Tokenizer& tokenizer, const ConceptOptions& o, bool progress) {
  Probe probe(model, tokenizer, o.batch);
  Bench b(probe, o);
  ConceptReport r;
  r.threshold = o.threshold;
  r.catalog_concepts = static_cast<int64_t>(b.cat.concepts().size());
  Progress bar("concepts", static_cast<int64_t>(o.layers.size()) + 4, "part", progress);

  const ConceptProbes concepts = draw_concepts(b, r);
  const RegionProbes regions = draw_regions(b);
  const EmotionProbes emotions = draw_emotions(b);
  bar.add();
  for (size_t li = 0; li < o.layers.size(); ++li) {
    LayerConcepts L = measure_multimodal(b, model->resolve_point(o.layers[li]), concepts);
    if (!o.multimodal_only) {
      const auto flag_acts = probe.unit_means(regions.flags.images, L.layer);
      const auto name_acts = probe.unit_means(regions.names.images, L.layer);
      measure_three_modalities(b, regions, flag_acts, name_acts, L);
      if (li == 0) {
        measure_region_units(b, regions, flag_acts, name_acts, r);
        measure_emotion_units(b, emotions, L.layer, r);
      }
    }
    r.layers.push_back(std::move(L));
    bar.add();
  }
  if (o.multimodal_only) {
    bar.finish();
    return r;
  }
  const auto classes = measure_family_zero_shot(b, r);
  bar.add();
  measure_attack(b, classes, r);
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
