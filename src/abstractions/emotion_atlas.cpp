#include "abstractions/emotion_atlas.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "core/util/error.h"
#include "plot/chart.h"

namespace clipscope::abstractions {

namespace {

const std::set<std::string>& negative_cores() {
  static const std::set<std::string> cores = {"sad", "angry", "fearful", "disgusted", "bad"};
  return cores;
}

// "+12" / "-12": column c of split_signs' matrix as a signed unit.
std::string signed_unit(int64_t column, int64_t units) {
  return column < units ? fmt::format("+{}", column) : fmt::format("-{}", column - units);
}

EmotionFactors factorize(const EmotionAtlas& a, const torch::Tensor& x, int64_t k, const EmotionAtlasOptions& o) {
  NmfOptions nmf_options = o.nmf;
  nmf_options.factors = k;
  const Nmf f = nmf(x, nmf_options);
  EmotionFactors r;
  r.factors = k;
  r.errors = f.errors;
  // Scale each factor's loadings to a maximum of 1 (W D^-1, D H keeps the product).
  const torch::Tensor peak = f.w.amax(0).clamp_min(1e-12);
  r.loadings = (f.w / peak).to(torch::kFloat32);
  const torch::Tensor h = f.h * peak.unsqueeze(1);
  const int64_t units = a.attributions.size(1), n = static_cast<int64_t>(a.words.size());
  for (int64_t j = 0; j < k; ++j) {
    const auto [hv, hi] = h[j].topk(std::min<int64_t>(o.top_units, h.size(1)));
    std::vector<std::pair<std::string, double>> top;
    for (int64_t i = 0; i < hv.size(0); ++i)
      top.emplace_back(signed_unit(hi[i].item<int64_t>(), units), hv[i].item<double>());
    r.units.push_back(std::move(top));
    const auto [wv, wi] = r.loadings.select(1, j).topk(std::min<int64_t>(10, n));
    std::vector<std::string> words;
    for (int64_t i = 0; i < wi.size(0); ++i) words.push_back(a.words[static_cast<size_t>(wi[i].item<int64_t>())].word);
    r.words.push_back(std::move(words));
  }
  // Mean loading per core emotion.
  const auto cores = static_cast<int64_t>(a.cores.size());
  r.core_means = torch::zeros({cores, k}, torch::kDouble);
  std::vector<int64_t> core_of(static_cast<size_t>(n));
  std::vector<double> core_count(static_cast<size_t>(cores));
  for (int64_t i = 0; i < n; ++i) {
    const auto c = std::find(a.cores.begin(), a.cores.end(), a.words[static_cast<size_t>(i)].core) - a.cores.begin();
    core_of[static_cast<size_t>(i)] = c;
    core_count[static_cast<size_t>(c)] += 1;
    r.core_means[c] += r.loadings[i].to(torch::kDouble);
  }
  for (int64_t c = 0; c < cores; ++c) r.core_means[c] /= std::max(1.0, core_count[static_cast<size_t>(c)]);
  // Greedy one-to-one matching of factors and cores by mean loading.
  r.factor_core.assign(static_cast<size_t>(k), "");
  {
    torch::Tensor m = r.core_means.clone();
    for (int64_t step = 0; step < std::min(k, cores); ++step) {
      const int64_t flat = m.argmax().item<int64_t>();
      const int64_t c = flat / k, j = flat % k;
      r.factor_core[static_cast<size_t>(j)] = a.cores[static_cast<size_t>(c)];
      m.select(0, c).fill_(-1);
      m.select(1, j).fill_(-1);
    }
  }
  const torch::Tensor strongest = r.loadings.argmax(1);
  int agree = 0;
  for (int64_t i = 0; i < n; ++i)
    agree += r.factor_core[static_cast<size_t>(strongest[i].item<int64_t>())] == a.words[static_cast<size_t>(i)].core;
  r.agreement = agree / static_cast<double>(n);
  r.chance = *std::max_element(core_count.begin(), core_count.end()) / static_cast<double>(n);
  // Valence: happy words against the negative cores' words, per factor.
  for (int64_t j = 0; j < k; ++j) {
    std::vector<double> pos, neg;
    for (int64_t i = 0; i < n; ++i) {
      const std::string& core = a.words[static_cast<size_t>(i)].core;
      const double v = r.loadings[i][j].item<double>();
      if (core == "happy") pos.push_back(v);
      if (negative_cores().contains(core)) neg.push_back(v);
    }
    auto mean = [](const std::vector<double>& v) {
      double s = 0;
      for (double x : v) s += x;
      return v.empty() ? 0.0 : s / static_cast<double>(v.size());
    };
    const double mp = mean(pos), mn = mean(neg);
    double ss = 0;
    for (double x : pos) ss += (x - mp) * (x - mp);
    for (double x : neg) ss += (x - mn) * (x - mn);
    const double sd = std::sqrt(ss / std::max(1.0, static_cast<double>(pos.size() + neg.size()) - 2));
    r.valence.push_back(pos.empty() || neg.empty() ? 0.0 : (mp - mn) / std::max(sd, 1e-12));
  }
  return r;
}

}  // namespace

EmotionAtlas emotion_atlas(CLIP& model, const Tokenizer& tokenizer, const EmotionAtlasOptions& o) {
  EmotionAtlas a;
  a.wheel = read_feeling_wheel(o.wheel);
  a.words = distinct_feeling_words(a.wheel);
  for (const FeelingWord& w : a.words)
    if (w.level == 0) a.cores.push_back(w.word);
  for (int64_t k : o.factors)
    if (k < 1 || k > static_cast<int64_t>(a.words.size()))
      throw Error(fmt::format("emotion atlas: {} factors for {} words (must be in [1, {}])", k, a.words.size(),
                              a.words.size()));
  std::vector<std::string> texts;
  for (const auto& w : a.words) texts.push_back(w.word);
  AttributionOptions attribution_options = o.attribution;
  attribution_options.center = o.center;
  const Attribution attribution = attribute_texts(model, tokenizer, texts, attribution_options);
  a.point = attribution.point;
  a.attributions = attribution.scores;
  const torch::Tensor x = split_signs(a.attributions.to(torch::kDouble));
  for (int64_t k : o.factors) a.factorizations.push_back(factorize(a, x, k, o));
  return a;
}

nlohmann::json EmotionAtlas::to_json() const {
  nlohmann::json j;
  j["point"] = point;
  j["cores"] = cores;
  nlohmann::json words_json = nlohmann::json::array();
  for (const auto& w : words)
    words_json.push_back({{"word", w.word}, {"level", w.level}, {"core", w.core}, {"secondary", w.secondary}});
  j["words"] = words_json;
  nlohmann::json fs = nlohmann::json::array();
  for (const auto& f : factorizations) {
    nlohmann::json fj;
    fj["factors"] = f.factors;
    fj["relative_error"] = f.errors.empty() ? 0.0 : f.errors.back();
    fj["iterations"] = f.errors.size();
    std::vector<std::vector<double>> loadings;
    for (int64_t i = 0; i < f.loadings.size(0); ++i) {
      const auto row = f.loadings[i].to(torch::kDouble).contiguous();
      loadings.emplace_back(row.data_ptr<double>(), row.data_ptr<double>() + row.numel());
    }
    fj["loadings"] = loadings;
    nlohmann::json per = nlohmann::json::array();
    for (int64_t k = 0; k < f.factors; ++k) {
      nlohmann::json units = nlohmann::json::array();
      for (const auto& [u, w] : f.units[static_cast<size_t>(k)]) units.push_back({{"unit", u}, {"weight", w}});
      std::map<std::string, double> means;
      for (size_t c = 0; c < cores.size(); ++c)
        means[cores[c]] = f.core_means[static_cast<int64_t>(c)][k].item<double>();
      per.push_back({{"core", f.factor_core[static_cast<size_t>(k)]},
                     {"valence", f.valence[static_cast<size_t>(k)]},
                     {"top_words", f.words[static_cast<size_t>(k)]},
                     {"top_units", units},
                     {"core_means", means}});
    }
    fj["per_factor"] = per;
    fj["agreement_with_cores"] = f.agreement;
    fj["chance"] = f.chance;
    fs.push_back(fj);
  }
  j["factorizations"] = fs;
  return j;
}

std::string EmotionAtlas::table() const {
  std::string s = fmt::format("emotion atlas: {} feeling wheel words, attribution at {} ({} units)\n", words.size(),
                              point, attributions.size(1));
  for (const auto& f : factorizations) {
    s += fmt::format("\n{} factors (NMF, relative error {:.3f} after {} iterations):\n", f.factors,
                     f.errors.empty() ? 0.0 : f.errors.back(), f.errors.size());
    for (int64_t k = 0; k < f.factors; ++k) {
      const auto& words_k = f.words[static_cast<size_t>(k)];
      std::vector<std::string> units;
      for (const auto& [u, w] : f.units[static_cast<size_t>(k)]) units.push_back(u);
      s += fmt::format(
          "  factor {} ({:<9} valence {:+.2f}): {}\n      units {}\n", k + 1,
          f.factor_core[static_cast<size_t>(k)] + ",", f.valence[static_cast<size_t>(k)],
          fmt::join(std::vector<std::string>(words_k.begin(), words_k.begin() + std::min<size_t>(8, words_k.size())),
                    ", "),
          fmt::join(units, " "));
    }
    s += fmt::format("  words whose strongest factor is their core emotion's: {:.1f}% (largest core: {:.1f}%)\n",
                     100 * f.agreement, 100 * f.chance);
  }
  return s;
}

void write_emotion_scatter(const std::filesystem::path& png, const EmotionAtlas& a, const EmotionFactors& f) {
  if (f.factors < 2) throw Error(fmt::format("{}: a scatter needs 2 factors, not {}", png.string(), f.factors));
  plot::Scatter chart;
  chart.title = fmt::format("Feeling wheel words on {} NMF factors of their attribution vectors", f.factors);
  chart.x_label = fmt::format("factor 1 ({})", f.factor_core[0]);
  chart.y_label = fmt::format("factor 2 ({})", f.factor_core[1]);
  for (const auto& core : a.cores) {
    plot::PointSeries s;
    s.name = core;
    for (size_t i = 0; i < a.words.size(); ++i) {
      if (a.words[i].core != core) continue;
      s.x.push_back(f.loadings[static_cast<int64_t>(i)][0].item<double>());
      s.y.push_back(f.loadings[static_cast<int64_t>(i)][1].item<double>());
      s.labels.push_back(a.words[i].word);
    }
    chart.series.push_back(std::move(s));
  }
  plot::write_scatter(png, chart, 1000, 800);
}

void write_emotion_wheel(const std::filesystem::path& png, const EmotionAtlas& a, const EmotionFactors& f) {
  std::map<std::string, int64_t> row;
  for (size_t i = 0; i < a.words.size(); ++i) row[a.words[i].word] = static_cast<int64_t>(i);
  // A line is a leaf when the next one is not deeper; every leaf gets an equal share of
  // the turn, and a word spans its leaves.
  const size_t n = a.wheel.size();
  std::vector<size_t> leaves_before(n + 1, 0);
  for (size_t i = 0; i < n; ++i) {
    const bool leaf = i + 1 == n || a.wheel[i + 1].level <= a.wheel[i].level;
    leaves_before[i + 1] = leaves_before[i] + (leaf ? 1 : 0);
  }
  const double leaves = static_cast<double>(leaves_before[n]);
  plot::Wheel wheel;
  wheel.title =
      fmt::format("The feeling wheel coloured by the strongest of {} NMF factors (lighter: weaker)", f.factors);
  const auto& colours = plot::palette();
  for (size_t i = 0; i < n; ++i) {
    size_t end = i + 1;
    while (end < n && a.wheel[end].level > a.wheel[i].level) ++end;
    const auto loadings = f.loadings[row.at(a.wheel[i].word)];
    const int64_t k = loadings.argmax().item<int64_t>();
    const double strength = std::clamp(loadings[k].item<double>(), 0.0, 1.0);
    const auto& c = colours[static_cast<size_t>(k) % colours.size()];
    plot::Rgb fill;
    for (size_t ch = 0; ch < 3; ++ch)
      fill[ch] = static_cast<uint8_t>(std::lround(255 - (255 - c[ch]) * (0.2 + 0.8 * strength)));
    wheel.segments.push_back(
        {a.wheel[i].word, a.wheel[i].level, leaves_before[i] / leaves, leaves_before[end] / leaves, fill});
  }
  for (int64_t k = 0; k < f.factors; ++k)
    wheel.legend.emplace_back(fmt::format("factor {} ({})", k + 1, f.factor_core[static_cast<size_t>(k)]),
                              colours[static_cast<size_t>(k) % colours.size()]);
  plot::write_wheel(png, wheel);
}

}  // namespace clipscope::abstractions
