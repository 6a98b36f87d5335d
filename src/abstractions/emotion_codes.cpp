#include "abstractions/emotion_codes.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "core/model/modules.h"
#include "core/model/tensor_io.h"
#include "core/util/csv.h"
#include "core/util/error.h"
#include "core/util/files.h"
#include "core/util/progress.h"
#include "plot/chart.h"
#include "zeroshot/classifier.h"

namespace clipscope::abstractions {

namespace fs = std::filesystem;
using torch::Tensor;

Tensor bilinear_logits(const Tensor& features, const Tensor& attributions, const Tensor& directions,
                       double logit_scale) {
  const Tensor f = features.to(torch::kFloat);
  const Tensor norms = torch::matmul(f, directions).norm(2, 1, true).clamp_min(1e-12);
  return logit_scale * torch::matmul(f, attributions.t()) / norms;
}

EncodedImages code_features(CLIP& model, const std::vector<fs::path>& images, const std::string& point, int batch_size,
                            bool progress) {
  const std::string name = model->resolve_point(point);
  if (dynamic_cast<VisionTransformer*>(model->visual.get()) == nullptr)
    return point_features(model, images, name, Reduce::Mean, batch_size, progress);
  return map_images(
      model, images, batch_size, progress, fmt::format("{} (class token)", name),
      [&](const Tensor& x) {
        ActivationCache cache({name});
        model->run_image(x, cache);
        const Tensor tokens = reduce_positions(cache[name], cache.layout(name), Reduce::None);
        const Tensor cls = tokens.select(1, 0).to(torch::kFloat);
        return torch::layer_norm(cls, {cls.size(1)});
      },
      0);
}

std::vector<std::pair<int64_t, double>> EmotionCodes::code(size_t w) const {
  std::vector<std::pair<int64_t, double>> out;
  const Tensor row = weight[static_cast<int64_t>(w)];
  const Tensor nonzero = row.nonzero().flatten();
  for (int64_t i = 0; i < nonzero.numel(); ++i) {
    const int64_t column = nonzero[i].item<int64_t>();
    out.emplace_back(units[static_cast<size_t>(column)], row[column].item<double>());
  }
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return std::abs(a.second) > std::abs(b.second); });
  return out;
}

std::string EmotionCodes::formula(size_t w) const {
  std::string s = words[w].word + " =";
  const auto c = code(w);
  if (c.empty()) return s + " (no unit)";
  bool first = true;
  for (const auto& [unit, weight] : c) {
    const char* sign = weight < 0 ? " −" : first ? "" : " +";
    s += fmt::format("{} {} ({})", sign, unit, fmt::join(unit_words[static_cast<size_t>(unit)], " "));
    first = false;
  }
  return s;
}

nlohmann::json EmotionCodes::to_json() const {
  nlohmann::json j = {{"kind", "sparse emotion codes"},
                      {"point", point},
                      {"logit_scale", logit_scale},
                      {"images", images},
                      {"skipped_images", skipped},
                      {"excluded_units", excluded},
                      {"lexical_units", lexical},
                      {"held_out_images", held_out},
                      {"agreement", agreement},
                      {"chance", chance},
                      {"correlation", correlation},
                      {"sign_agreement", sign_agreement},
                      {"units", units},
                      {"bias", tensor_values(bias)},
                      {"mean", tensor_values(mean)},
                      {"std", tensor_values(std)}};
  nlohmann::json list = nlohmann::json::array();
  for (size_t w = 0; w < words.size(); ++w) {
    nlohmann::json code_units = nlohmann::json::array();
    for (const auto& [unit, weight] : code(w))
      code_units.push_back({{"unit", unit}, {"weight", weight}, {"unit_words", unit_words[static_cast<size_t>(unit)]}});
    list.push_back({{"word", words[w].word},
                    {"level", words[w].level},
                    {"core", words[w].core},
                    {"formula", formula(w)},
                    {"units", code_units},
                    {"fit", fits[w].to_json()}});
  }
  j["codes"] = list;
  return j;
}

std::string EmotionCodes::csv() const {
  std::string out = "word,core,rank,unit,weight,unit_words,lambda\n";
  for (size_t w = 0; w < words.size(); ++w) {
    int rank = 0;
    for (const auto& [unit, weight] : code(w))
      out += fmt::format(
          "{},{},{},{},{:.6g},{},{:.6g}\n", csv_field(words[w].word), csv_field(words[w].core), ++rank, unit, weight,
          csv_field(fmt::format("{}", fmt::join(unit_words[static_cast<size_t>(unit)], " "))), fits[w].lambda);
  }
  return out;
}

std::string EmotionCodes::table() const {
  double units_per_word = 0;
  for (const auto& f : fits) units_per_word += f.nonzeros_per_class / static_cast<double>(fits.size());
  std::string s = fmt::format(
      "sparse emotion codes: {} words on {} ({} units, {} excluded, {} of them lexical), fitted on {} images ({} "
      "skipped)\n"
      "  {:.2f} units per word; on {} held-out images a code says whether its word beats the average word as the "
      "attribution vectors do on {:.1f} % (the majority answer: {:.1f} %), its logit correlates with theirs at r = "
      "{:.2f} (means over words), and {:.1f} % of the weights have the sign of the word's centred attribution\n",
      words.size(), point, attributions.size(1), excluded.size(), lexical, images, skipped, units_per_word, held_out,
      100 * agreement, 100 * chance, correlation, 100 * sign_agreement);
  std::string core;
  for (size_t w = 0; w < words.size(); ++w) {
    if (words[w].core != core) {
      core = words[w].core;
      s += fmt::format("{}:\n", core);
    }
    s += fmt::format("  {}\n", formula(w));
  }
  return s;
}

EmotionCodes emotion_codes(CLIP& model, const Tokenizer& tokenizer, const std::vector<fs::path>& images,
                           const EmotionCodesOptions& options) {
  if (options.label_words < 1)
    throw ArgumentError("label_words", std::to_string(options.label_words), "must be positive");
  EmotionCodes r;
  r.words = distinct_feeling_words(read_feeling_wheel(options.wheel));
  std::vector<std::string> texts;
  for (const auto& w : r.words) texts.push_back(w.word);
  AttributionOptions attribution_options = options.attribution;
  attribution_options.center = false;
  const Attribution attribution = attribute_texts(model, tokenizer, texts, attribution_options);
  r.point = attribution.point;
  r.attributions = attribution.scores;
  const int64_t n_units = r.attributions.size(1);
  std::set<int64_t> excluded(options.exclude.begin(), options.exclude.end());
  if (!options.exclude_file.empty())
    for (int64_t u : words::read_unit_list(options.exclude_file.string(), n_units)) excluded.insert(u);
  if (!options.lexical_atlas.empty()) {
    words::UnitMask mask;
    mask.lexical = true;
    mask.rule = options.lexical_rule;
    const auto lexical = words::open_embeddings(options.lexical_atlas.string(), r.point, mask).masked;
    r.lexical = static_cast<int64_t>(lexical.size());
    excluded.insert(lexical.begin(), lexical.end());
  }
  for (int64_t u : excluded)
    if (u < 0 || u >= n_units)
      throw ArgumentError("exclude", std::to_string(u), fmt::format("not a unit of {} (0..{})", r.point, n_units - 1));
  r.excluded.assign(excluded.begin(), excluded.end());
  for (int64_t u = 0; u < n_units; ++u)
    if (excluded.count(u) == 0) r.units.push_back(u);
  if (r.units.empty()) throw ArgumentError("exclude", "", fmt::format("leaves no unit of {}", r.point));

  const EncodedImages rows = code_features(model, images, r.point, options.batch_size, options.progress);
  if (rows.indices.empty())
    throw Error(fmt::format("emotion codes: none of the {} images could be read", images.size()));
  r.images = static_cast<int64_t>(rows.indices.size());
  r.skipped = static_cast<int64_t>(rows.skipped.size());

  // The teacher: the dense classifier the attribution vectors make, on every unit; a
  // word's target is the probability that an image goes with it rather than with the
  // average word.
  torch::NoGradGuard no_grad;
  r.logit_scale = model->logit_scale.exp().item<double>();
  const Tensor directions = unit_directions(*model, r.point);
  const Tensor logits = bilinear_logits(rows.embeddings, r.attributions, directions, r.logit_scale);
  const Tensor relative = logits - logits.mean(1, true);  // (images, words)
  const Tensor top_word = logits.argmax(1);
  const auto n_words = static_cast<int64_t>(texts.size());
  const Tensor top_cpu = top_word.contiguous();
  const auto split =
      stratified_split(std::vector<int64_t>(top_cpu.data_ptr<int64_t>(), top_cpu.data_ptr<int64_t>() + top_cpu.numel()),
                       n_words, options.probe.validation, options.probe.seed);
  if (split.train.empty())
    throw ArgumentError("validation", fmt::format("{}", options.probe.validation), "leaves no image to fit on");
  const Tensor train = torch::tensor(split.train, torch::kLong), held = torch::tensor(split.held, torch::kLong);
  r.held_out = static_cast<int64_t>(split.held.size());
  // The student: per word, a sparse binary logistic regression on the units a code may
  // use. Two classes (the word, the average word) with soft targets; the solver's two
  // weight rows stay opposite (their gradients are), so the code is their difference.
  const Tensor kept = torch::tensor(r.units, torch::kLong);
  const Tensor x_train = rows.embeddings.index_select(0, train).index_select(1, kept);
  std::vector<std::string> names;
  for (int64_t u : r.units) names.push_back(fmt::format("{}:{}", r.point, u));
  SparseProbeOptions fit_options = options.probe;
  fit_options.validation = 0;
  fit_options.progress = false;
  r.weight = torch::zeros({n_words, static_cast<int64_t>(r.units.size())});
  r.bias = torch::zeros({n_words});
  Progress bar("emotion codes", static_cast<size_t>(n_words), "words", options.progress);
  for (int64_t w = 0; w < n_words; ++w) {
    const Tensor p = torch::sigmoid(relative.index_select(0, train).select(1, w));
    const SparseProbe fit = fit_sparse_probe(x_train, torch::stack({p, 1 - p}, 1),
                                             {texts[static_cast<size_t>(w)], "average"}, fit_options, names);
    r.weight[w] = (fit.weight[0] - fit.weight[1]).cpu();
    r.bias[w] = (fit.bias[0] - fit.bias[1]).cpu();
    r.fits.push_back(fit.path.at(fit.chosen));
    if (w == 0) {
      r.mean = fit.mean.cpu();
      r.std = fit.std.cpu();
    }
    bar.set(static_cast<size_t>(w + 1));
  }
  bar.finish();
  // Held out: the codes against the dense classifier.
  if (r.held_out > 0) {
    const Tensor x_held = (rows.embeddings.index_select(0, held).index_select(1, kept) - r.mean) / r.std;
    const Tensor code_logits = torch::addmm(r.bias, x_held, r.weight.t());
    const Tensor target = relative.index_select(0, held);
    const Tensor positive = target.gt(0);
    r.agreement = code_logits.gt(0).eq(positive).to(torch::kFloat).mean().item<double>();
    const Tensor share = positive.to(torch::kFloat).mean(0);
    r.chance = torch::max(share, 1 - share).mean().item<double>();
    const Tensor a = code_logits - code_logits.mean(0, true), b = target - target.mean(0, true);
    r.correlation = ((a * b).sum(0) / (a.norm(2, 0) * b.norm(2, 0)).clamp_min(1e-12)).mean().item<double>();
  }

  // What each unit stands for, and whether the codes' signs agree with it.
  const Tensor centred = r.attributions - r.attributions.mean(0, true);
  const int64_t k = std::min<int64_t>(options.label_words, static_cast<int64_t>(r.words.size()));
  const Tensor top = std::get<1>(centred.topk(k, 0)).t().contiguous();  // (units, k)
  for (int64_t u = 0; u < n_units; ++u) {
    std::vector<std::string> label;
    for (int64_t i = 0; i < k; ++i) label.push_back(r.words[static_cast<size_t>(top[u][i].item<int64_t>())].word);
    r.unit_words.push_back(std::move(label));
  }
  int64_t agree = 0, total = 0;
  for (size_t w = 0; w < r.words.size(); ++w)
    for (const auto& [unit, weight] : r.code(w)) {
      ++total;
      agree += (weight > 0) == (centred[static_cast<int64_t>(w)][unit].item<double>() > 0);
    }
  r.sign_agreement = total == 0 ? 0 : static_cast<double>(agree) / static_cast<double>(total);
  return r;
}

void write_emotion_codes(const fs::path& dir, const EmotionCodes& codes, nlohmann::json json) {
  write_npy_tensor(dir / "weights.npy", codes.weight.contiguous());
  json["weight"] = "weights.npy";
  write_file_atomically(dir / "codes.json", json.dump(1) + "\n");
  write_file_atomically(dir / "codes.csv", codes.csv());
  plot::Heatmap map;
  map.title = "Emotion codes: positive weights of the core and secondary words";
  std::vector<size_t> rows;
  std::vector<int64_t> columns;  // units of the layer
  for (size_t w = 0; w < codes.words.size(); ++w) {
    if (codes.words[w].level > 1) continue;
    rows.push_back(w);
    for (const auto& [unit, weight] : codes.code(w))
      if (weight > 0 && std::find(columns.begin(), columns.end(), unit) == columns.end()) columns.push_back(unit);
  }
  for (size_t w : rows) {
    map.row_labels.push_back(codes.words[w].word);
    std::vector<double> row(columns.size(), 0.0);
    for (const auto& [unit, weight] : codes.code(w))
      if (weight > 0)
        row[static_cast<size_t>(std::find(columns.begin(), columns.end(), unit) - columns.begin())] = weight;
    map.values.push_back(std::move(row));
  }
  for (int64_t unit : columns)
    map.column_labels.push_back(fmt::format("{} {}", unit, codes.unit_words[static_cast<size_t>(unit)].front()));
  if (columns.empty()) {
    map.column_labels.push_back("(no positive weights)");
    for (auto& row : map.values) row.push_back(0);
  }
  plot::write_heatmap(dir / "codes.png", map);
}

}  // namespace clipscope::abstractions
