#include "demo/report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "core/model/points.h"
#include "core/model/tensor_io.h"
#include "core/util/progress.h"
#include "demo/batches.h"
#include "demo/concepts.h"
#include "demo/probe.h"
#include "experiments/stroop.h"
#include "world/concepts.h"
#include "world/generator.h"

namespace clipscope::demo {

namespace {

using world::article;
using world::Scene;

template <typename T>
int64_t index_of(const std::vector<T>& items, const T& item) {
  return std::find(items.begin(), items.end(), item) - items.begin();
}

std::vector<std::string> color_names() {
  std::vector<std::string> names;
  for (const auto& c : world::colors()) names.push_back(c.name);
  return names;
}

// Colour classes: "a {colour} {shape}" over every shape; shape classes: over every colour.
std::vector<std::vector<std::string>> object_prompts(bool by_color) {
  std::vector<std::vector<std::string>> prompts;
  const auto colors = color_names();
  for (const auto& target : by_color ? colors : world::shapes()) {
    std::vector<std::string> p;
    for (const auto& other : by_color ? world::shapes() : colors) {
      const std::string& color = by_color ? target : other;
      const std::string& shape = by_color ? other : target;
      p.push_back(article(color) + " " + color + " " + shape);
    }
    prompts.push_back(p);
  }
  return prompts;
}

// What any caption can say about a scene: two scenes with the same key are
// indistinguishable to a caption (they differ only in positions, sizes, fonts...).
std::string ground_truth_key(const Scene& s) {
  return fmt::format("{}|{}|{}|{}|{}|{}|{}|{}|{}", world::kind_name(s.kind), s.background, s.color, s.shape, s.count,
                     s.emotion, s.text, s.text_color, s.concept_id);
}

// A written word in black on white, as the article's word probes are drawn.
Scene black_on_white(world::Rng& rng, TextRasterizer& raster, int size, const std::string& word,
                     const std::vector<std::string>& fonts) {
  Scene s = world::word_scene(rng, raster, size, word, "black", fonts);
  s.background = "white";
  return s;
}

// For each concept: the unit that best separates its objects from the other
// concepts' objects (largest d'), and that unit's response to the concept's
// written word against other words, both in std units of the "other" group.
std::vector<MultimodalUnit> find_multimodal_units(const std::vector<std::string>& concepts,
                                                  const torch::Tensor& object_acts,
                                                  const std::vector<int64_t>& object_concept,
                                                  const torch::Tensor& word_acts,
                                                  const std::vector<std::string>& word_of_row) {
  std::vector<MultimodalUnit> units;
  const auto object_label = torch::tensor(object_concept);
  for (size_t k = 0; k < concepts.size(); ++k) {
    const auto in = object_acts.index({object_label == static_cast<int64_t>(k)});
    const auto out = object_acts.index({object_label != static_cast<int64_t>(k)});
    const auto spread = ((in.var(0) + out.var(0)) / 2).sqrt() + 1e-6;
    const auto d_prime = (in.mean(0) - out.mean(0)) / spread;
    MultimodalUnit u;
    u.name = concepts[k];
    u.unit = d_prime.argmax().item<int64_t>();
    const auto out_column = out.select(1, u.unit);
    u.object_z = ((in.select(1, u.unit).mean() - out_column.mean()) / (out_column.std() + 1e-6)).item<double>();
    std::vector<int64_t> is_word(word_of_row.size());
    for (size_t i = 0; i < word_of_row.size(); ++i) is_word[i] = word_of_row[i] == concepts[k] ? 1 : 0;
    const auto mask = torch::tensor(is_word).to(torch::kBool);
    const auto column = word_acts.select(1, u.unit);
    const auto others = column.index({~mask});
    u.word_z = ((column.index({mask}).mean() - others.mean()) / (others.std() + 1e-6)).item<double>();
    units.push_back(u);
  }
  return units;
}

// What every part of the report shares: the model's probe, the held-out world's
// options and one random stream, drawn from in the order of the parts.
struct Bench {
  Bench(Probe& p, const ReportOptions& options)
      : probe(p),
        o(options),
        world_options(o.world_edition == 1 ? world::WorldOptions::first_edition() : world::WorldOptions{}),
        fonts(world::world_fonts(o.world_edition)),
        rng(o.seed ^ 0x5EEDULL),
        size(p.size()),
        colors(color_names()),
        shapes(world::shapes()) {
    world_options.size = size;
    world_options.validate();
  }
  Probe& probe;
  const ReportOptions& o;
  world::WorldOptions world_options;
  const std::vector<std::string>& fonts;
  world::Rng rng;
  TextRasterizer raster;
  int size;
  std::vector<std::string> colors;
  const std::vector<std::string>& shapes;
};

// Retrieval among groups of candidates.
void measure_retrieval(Bench& b, Report& r) {
  const ReportOptions& o = b.o;
  std::vector<Scene> scenes;
  std::vector<std::string> captions, keys;
  for (int i = 0; i < o.retrieval_pairs; ++i) {
    world::Rng item = world::Rng::for_item(o.seed, static_cast<uint64_t>(i));
    scenes.push_back(world::sample_scene(item, b.raster, b.world_options));
    captions.push_back(scenes.back().caption);
    keys.push_back(ground_truth_key(scenes.back()));
  }
  const auto images = b.probe.image_features(b.probe.render(scenes));
  const auto texts = b.probe.text_features(captions);
  int64_t i2t = 0, t2i = 0, i2t_exact = 0, t2i_exact = 0, n = 0;
  for (int start = 0; start + o.retrieval_candidates <= o.retrieval_pairs; start += o.retrieval_candidates) {
    const auto sim = images.slice(0, start, start + o.retrieval_candidates)
                         .matmul(texts.slice(0, start, start + o.retrieval_candidates).t());
    const auto best_text = sim.argmax(1), best_image = sim.argmax(0);
    // A retrieved pair is right when it is the true one, has the same caption ("a
    // blue star" twice), or shows the same ground truth (any caption fits both).
    auto same = [&](size_t x, size_t y) { return captions[x] == captions[y] || keys[x] == keys[y]; };
    for (int i = 0; i < o.retrieval_candidates; ++i) {
      const auto truth = static_cast<size_t>(start + i);
      const auto text = static_cast<size_t>(start + best_text[i].item<int64_t>());
      const auto image = static_cast<size_t>(start + best_image[i].item<int64_t>());
      i2t += same(truth, text);
      t2i += same(truth, image);
      i2t_exact += text == truth;
      t2i_exact += image == truth;
      ++n;
    }
  }
  r.image_to_text_top1 = static_cast<double>(i2t) / static_cast<double>(n);
  r.text_to_image_top1 = static_cast<double>(t2i) / static_cast<double>(n);
  r.image_to_text_exact = static_cast<double>(i2t_exact) / static_cast<double>(n);
  r.text_to_image_exact = static_cast<double>(t2i_exact) / static_cast<double>(n);
}

// Zero-shot: colour and shape of single objects, counts, emotions, reading.
void measure_zero_shot(Bench& b, const torch::Tensor& color_classes, const torch::Tensor& shape_classes, Report& r) {
  const ReportOptions& o = b.o;
  Probe& probe = b.probe;
  const auto& colors = b.colors;
  const auto& shapes = b.shapes;
  std::vector<Scene> scenes;
  std::vector<int64_t> color_truth, shape_truth;
  for (int i = 0; i < o.zero_shot_images; ++i) {
    const auto c = static_cast<size_t>(i) % colors.size();
    const auto s = static_cast<size_t>(b.rng.integer(0, static_cast<int>(shapes.size()) - 1));
    scenes.push_back(world::objects_scene(b.rng, b.size, colors[c], shapes[s], 1));
    color_truth.push_back(static_cast<int64_t>(c));
    shape_truth.push_back(static_cast<int64_t>(s));
  }
  const auto features = probe.image_features(probe.render(scenes));
  r.zero_shot_color = fraction(Probe::classify(features, color_classes), color_truth);
  r.zero_shot_shape = fraction(Probe::classify(features, shape_classes), shape_truth);

  std::vector<std::vector<std::string>> count_prompts(static_cast<size_t>(world::max_count()));
  for (int k = 1; k <= world::max_count(); ++k)
    for (const auto& c : colors)
      for (const auto& s : shapes)
        count_prompts[static_cast<size_t>(k - 1)].push_back(world::count_words()[static_cast<size_t>(k - 1)] + " " + c +
                                                            " " + (k == 1 ? s : world::plural(s)));
  scenes.clear();
  std::vector<int64_t> count_truth;
  for (int i = 0; i < o.zero_shot_images; ++i) {
    const int k = i % world::max_count() + 1;
    scenes.push_back(world::objects_scene(b.rng, b.size, b.rng.pick(colors), b.rng.pick(shapes), k));
    count_truth.push_back(k - 1);
  }
  r.zero_shot_count =
      fraction(Probe::classify(probe.image_features(probe.render(scenes)), probe.classes(count_prompts)), count_truth);

  std::vector<std::vector<std::string>> emotion_prompts;
  for (const auto& e : world::emotions())
    emotion_prompts.push_back(
        {article(e) + " " + e + " face", "a drawing of " + article(e) + " " + e + " face", "a face that looks " + e});
  scenes.clear();
  std::vector<int64_t> emotion_truth;
  for (int i = 0; i < o.zero_shot_images; ++i) {
    const auto e = static_cast<size_t>(i) % world::emotions().size();
    scenes.push_back(world::face_scene(b.rng, b.size, world::emotions()[e]));
    emotion_truth.push_back(static_cast<int64_t>(e));
  }
  r.zero_shot_emotion = fraction(
      Probe::classify(probe.image_features(probe.render(scenes)), probe.classes(emotion_prompts)), emotion_truth);

  const auto& words = world::concept_words();
  std::vector<std::vector<std::string>> word_prompts;
  for (const auto& w : words) word_prompts.push_back({"the word " + w, "text: " + w, "a sign that says " + w});
  scenes.clear();
  std::vector<int64_t> word_truth;
  for (int i = 0; i < o.zero_shot_images; ++i) {
    const auto w = static_cast<size_t>(i) % words.size();
    scenes.push_back(world::word_scene(b.rng, b.raster, b.size, words[w], "", b.fonts));
    word_truth.push_back(static_cast<int64_t>(w));
  }
  r.zero_shot_reading =
      fraction(Probe::classify(probe.image_features(probe.render(scenes)), probe.classes(word_prompts)), word_truth);
}

// Multimodal units: objects vs written words at the same unit.
void measure_multimodal_units(Bench& b, Report& r) {
  const ReportOptions& o = b.o;
  std::vector<Scene> words;
  std::vector<std::string> word_of_row;
  std::vector<std::string> all_words = world::concept_words();
  all_words.insert(all_words.end(), world::other_words().begin(), world::other_words().end());
  const int per_word = std::max(4, o.unit_images / 5);
  for (const auto& w : all_words)
    for (int i = 0; i < per_word; ++i) {
      words.push_back(black_on_white(b.rng, b.raster, b.size, w, b.fonts));
      word_of_row.push_back(w);
    }
  const auto word_acts = b.probe.unit_means(b.probe.render(words), r.unit_layer);
  auto family = [&](const std::vector<std::string>& concepts, bool by_color) {
    std::vector<Scene> objects;
    std::vector<int64_t> concept_of_row;
    for (size_t k = 0; k < concepts.size(); ++k)
      for (int i = 0; i < o.unit_images; ++i) {
        const std::string color = by_color ? concepts[k] : b.rng.pick(b.colors);
        const std::string shape = by_color ? b.rng.pick(b.shapes) : concepts[k];
        objects.push_back(world::objects_scene(b.rng, b.size, color, shape, b.rng.integer(1, world::max_count())));
        concept_of_row.push_back(static_cast<int64_t>(k));
      }
    return find_multimodal_units(concepts, b.probe.unit_means(b.probe.render(objects), r.unit_layer), concept_of_row,
                                 word_acts, word_of_row);
  };
  auto multimodal = [](const std::vector<MultimodalUnit>& units) {
    return static_cast<int>(std::count_if(units.begin(), units.end(),
                                          [](const MultimodalUnit& u) { return u.object_z >= 2 && u.word_z >= 2; }));
  };
  r.color_units = family(b.colors, true);
  r.shape_units = family(b.shapes, false);
  r.multimodal_colors = multimodal(r.color_units);
  r.multimodal_shapes = multimodal(r.shape_units);
}

// Typographic attacks: a wrong concept word written (in white) on the object.
void measure_attacks(Bench& b, const torch::Tensor& color_classes, const torch::Tensor& shape_classes, Report& r) {
  auto attack = [&](const std::vector<std::string>& concepts, const torch::Tensor& classes, bool by_color,
                    double& clean, double& attacked, double& flip) {
    std::vector<Scene> with_text, without_text;
    std::vector<int64_t> truth, written;
    for (int i = 0; i < b.o.attack_images; ++i) {
      const auto k = static_cast<size_t>(i) % concepts.size();
      auto wrong = k;
      while (wrong == k) wrong = static_cast<size_t>(b.rng.integer(0, static_cast<int>(concepts.size()) - 1));
      const std::string color = by_color ? concepts[k] : b.rng.pick(b.colors);
      const std::string shape = by_color ? b.rng.pick(b.shapes) : concepts[k];
      Scene s = world::object_with_word_scene(b.rng, b.raster, b.size, color, shape, concepts[wrong], "white", b.fonts);
      with_text.push_back(s);
      s.text.clear();
      without_text.push_back(s);
      truth.push_back(static_cast<int64_t>(k));
      written.push_back(static_cast<int64_t>(wrong));
    }
    const auto attacked_pred = Probe::classify(b.probe.image_features(b.probe.render(with_text)), classes);
    clean = fraction(Probe::classify(b.probe.image_features(b.probe.render(without_text)), classes), truth);
    attacked = fraction(attacked_pred, truth);
    flip = fraction(attacked_pred, written);
  };
  attack(b.colors, color_classes, true, r.attack_color_clean, r.attack_color_attacked, r.attack_color_flip);
  attack(b.shapes, shape_classes, false, r.attack_shape_clean, r.attack_shape_attacked, r.attack_shape_flip);
}

// Stroop: colour words in every ink, "my favorite word, written in the color {}".
// The world's word scenes (its fonts, sizes and placements) on white, classified by
// experiments::stroop, the code of `clipscope stroop`; the grid holds top-1 fractions.
void measure_stroop(Bench& b, Report& r) {
  const auto& colors = b.colors;
  std::vector<experiments::StroopStimulus> stimuli;
  for (const auto& word : colors)
    for (size_t ink = 0; ink < colors.size(); ++ink)
      for (int i = 0; i < b.o.stroop_images; ++i) {
        Scene s = world::word_scene(b.rng, b.raster, b.size, word, colors[ink], b.fonts);
        s.background = "white";
        stimuli.push_back({word, ink, world::render_scene(s, b.raster)});
      }
  experiments::StroopOptions options;
  options.colours = colors;
  options.batch_size = b.probe.batch();
  const auto stroop = experiments::stroop(b.probe.model(), b.probe.tokenizer(), stimuli, options);
  const size_t n = colors.size();
  r.stroop_colors = colors;
  r.stroop_ink.assign(n, std::vector<double>(n, 0.0));
  r.stroop_word.assign(n, std::vector<double>(n, 0.0));
  for (size_t w = 0; w < n; ++w)
    for (size_t ink = 0; ink < n; ++ink) {
      const auto* cell = stroop.cell(colors[w], colors[ink]);
      r.stroop_ink[w][ink] = cell->top1_ink;
      r.stroop_word[w][ink] = cell->top1_word;
    }
  r.stroop_congruent_ink = stroop.congruent_top1_ink;
  r.stroop_incongruent_ink = stroop.incongruent_top1_ink;
  r.stroop_incongruent_word = stroop.incongruent_top1_word;
}

}  // namespace

Report demo_report(CLIP& model, const Tokenizer& tokenizer, const ReportOptions& o, bool progress) {
  Probe probe(model, tokenizer, o.batch);
  Bench bench(probe, o);
  Progress bar("demo-report", 6, "part", progress);
  Report r;
  r.world_edition = o.world_edition;
  r.unit_layer = model->resolve_point(o.unit_layer);

  measure_retrieval(bench, r);
  bar.add();
  const auto color_classes = probe.classes(object_prompts(true));
  const auto shape_classes = probe.classes(object_prompts(false));
  measure_zero_shot(bench, color_classes, shape_classes, r);
  bar.add();
  measure_multimodal_units(bench, r);
  bar.add();
  measure_attacks(bench, color_classes, shape_classes, r);
  bar.add();
  measure_stroop(bench, r);
  bar.add();
  bar.finish();
  if (o.concepts) {
    ConceptOptions co = o.concept_options;
    co.seed = o.seed;
    co.batch = o.batch;
    r.concepts = concept_report(model, tokenizer, co, progress);
    r.has_concepts = true;
  }
  return r;
}

std::vector<Report::Target> Report::targets() const {
  std::vector<Target> t = {{"retrieval image->text top-1", image_to_text_top1, 0.80},
                           {"retrieval text->image top-1", text_to_image_top1, 0.80},
                           {"zero-shot colour", zero_shot_color, 0.95},
                           {"zero-shot shape", zero_shot_shape, 0.90},
                           {"zero-shot emotion", zero_shot_emotion, 0.90},
                           {"zero-shot reading", zero_shot_reading, 0.90}};
  if (!has_concepts || concepts.layers.empty() || world_edition < 2) return t;
  const LayerConcepts& L = concepts.layers.front();
  double worst = 1;
  for (const auto& [family, top1] : concepts.zero_shot) worst = std::min(worst, top1);
  t.push_back({"multimodal concepts (" + L.layer + ")", L.fraction(), 0.30});
  t.push_back({"multimodal colours (" + L.layer + ")", static_cast<double>(L.multimodal_colors), 4});
  t.push_back({"region units", static_cast<double>(concepts.region_units.size()), 10});
  t.push_back({"emotion units", static_cast<double>(concepts.emotion_units.size()), 3});
  t.push_back({"typographic attack: answers the written word", concepts.attack.flip, 0.25});
  t.push_back({"zero-shot top-1, worst family", worst, 0.80});
  return t;
}

nlohmann::json Report::to_json() const {
  auto units = [](const std::vector<MultimodalUnit>& list) {
    nlohmann::json a = nlohmann::json::array();
    for (const auto& u : list)
      a.push_back({{"concept", u.name}, {"unit", u.unit}, {"object_z", u.object_z}, {"word_z", u.word_z}});
    return a;
  };
  nlohmann::json targets_json = nlohmann::json::array();
  for (const auto& t : targets())
    targets_json.push_back({{"name", t.name}, {"value", t.value}, {"goal", t.goal}, {"met", t.met()}});
  return {
      {"model", model},
      {"retrieval",
       {{"image_to_text_top1", image_to_text_top1},
        {"text_to_image_top1", text_to_image_top1},
        {"image_to_text_exact_pair", image_to_text_exact},
        {"text_to_image_exact_pair", text_to_image_exact}}},
      {"zero_shot",
       {{"color", zero_shot_color},
        {"shape", zero_shot_shape},
        {"count", zero_shot_count},
        {"emotion", zero_shot_emotion},
        {"reading", zero_shot_reading}}},
      {"multimodal_units",
       {{"layer", unit_layer},
        {"colors", units(color_units)},
        {"shapes", units(shape_units)},
        {"multimodal_colors", multimodal_colors},
        {"multimodal_shapes", multimodal_shapes}}},
      {"typographic_attack",
       {{"color",
         {{"clean", attack_color_clean}, {"attacked", attack_color_attacked}, {"flip_to_written", attack_color_flip}}},
        {"shape",
         {{"clean", attack_shape_clean},
          {"attacked", attack_shape_attacked},
          {"flip_to_written", attack_shape_flip}}}}},
      {"stroop",
       {{"colors", stroop_colors},
        {"ink_fraction", stroop_ink},
        {"word_fraction", stroop_word},
        {"congruent_ink", stroop_congruent_ink},
        {"incongruent_ink", stroop_incongruent_ink},
        {"incongruent_word", stroop_incongruent_word}}},
      {"targets", targets_json},
      {"concepts", has_concepts ? concepts.to_json() : nlohmann::json()}};
}

std::string Report::to_text() const {
  std::string s = fmt::format("demo report for {}\n\n", model);
  s += fmt::format(
      "retrieval top-1 among 100:  image->text {:.1f}%   text->image {:.1f}%"
      "   (the exact pair: {:.1f}%, {:.1f}%)\n",
      100 * image_to_text_top1, 100 * text_to_image_top1, 100 * image_to_text_exact, 100 * text_to_image_exact);
  s += fmt::format("zero-shot:  colour {:.1f}%  shape {:.1f}%  count {:.1f}%  emotion {:.1f}%  reading {:.1f}%\n\n",
                   100 * zero_shot_color, 100 * zero_shot_shape, 100 * zero_shot_count, 100 * zero_shot_emotion,
                   100 * zero_shot_reading);
  s += fmt::format("colour and shape units at {} (z = std above the other group's mean):\n", unit_layer);
  for (const auto* list : {&color_units, &shape_units})
    for (const auto& u : *list)
      s += fmt::format("  {:<10} unit {:>4}   object z {:6.2f}   written word z {:6.2f}{}\n", u.name, u.unit,
                       u.object_z, u.word_z, u.object_z >= 2 && u.word_z >= 2 ? "   multimodal" : "");
  s += fmt::format("  multimodal (both >= 2 std): {}/{} colours, {}/{} shapes\n\n", multimodal_colors,
                   color_units.size(), multimodal_shapes, shape_units.size());
  s += fmt::format("typographic attack (wrong word written in white on the object):\n");
  s += fmt::format("  colour: accuracy {:.1f}% -> {:.1f}%, {:.1f}% flip to the written word\n",
                   100 * attack_color_clean, 100 * attack_color_attacked, 100 * attack_color_flip);
  s += fmt::format("  shape:  accuracy {:.1f}% -> {:.1f}%, {:.1f}% flip to the written word\n\n",
                   100 * attack_shape_clean, 100 * attack_shape_attacked, 100 * attack_shape_flip);
  s += "Stroop (\"my favorite word, written in the color {}\"): % classified as the ink; rows = word, columns = ink\n";
  s += fmt::format("  {:<8}", "");
  for (const auto& c : stroop_colors) s += fmt::format("{:>7}", c);
  s += "\n";
  for (size_t w = 0; w < stroop_colors.size(); ++w) {
    s += fmt::format("  {:<8}", stroop_colors[w]);
    for (double v : stroop_ink[w]) s += fmt::format("{:>7.0f}", 100 * v);
    s += "\n";
  }
  s += fmt::format("  congruent: {:.1f}% ink;  incongruent: {:.1f}% ink, {:.1f}% the written word\n\n",
                   100 * stroop_congruent_ink, 100 * stroop_incongruent_ink, 100 * stroop_incongruent_word);
  if (has_concepts) s += concepts.to_text() + "\n";
  s += "targets:\n";
  for (const auto& t : targets())
    s += fmt::format("  {:<30} {:8.3f}  (goal >= {:.2f})  {}\n", t.name, t.value, t.goal, t.met() ? "met" : "NOT MET");
  return s;
}

}  // namespace clipscope::demo
