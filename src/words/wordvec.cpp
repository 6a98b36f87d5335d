#include "words/wordvec.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>

#include "core/util/error.h"
#include "core/util/strings.h"

namespace clipscope::words {

Embeddings::Embeddings(std::vector<std::string> words, const torch::Tensor& matrix) : words_(std::move(words)) {
  if (matrix.dim() != 2 || matrix.size(0) != static_cast<int64_t>(words_.size()))
    throw Error("word embeddings: one row of activations per word expected");
  if (words_.size() < 2) throw Error("word embeddings: need at least two encoded words");
  for (size_t i = 0; i < words_.size(); ++i) index_.emplace(words_[i], static_cast<int64_t>(i));
  const torch::Tensor m = matrix.to(torch::kFloat64);
  vectors_ = m - m.mean(0, true);
  normalize();
}

void Embeddings::normalize() {
  torch::Tensor v = vectors_.clone();
  if (!masked_.empty()) v.index_fill_(1, torch::tensor(masked_), 0.0);
  normalized_ = v / v.norm(2, 1, true).clamp_min(1e-12);
}

void Embeddings::mask(const std::vector<int64_t>& units) {
  for (int64_t u : units) {
    if (u < 0 || u >= vectors_.size(1))
      throw Error(fmt::format("masked unit {}: out of range (0-{})", u, vectors_.size(1) - 1));
    if (std::find(masked_.begin(), masked_.end(), u) == masked_.end()) masked_.push_back(u);
  }
  std::sort(masked_.begin(), masked_.end());
  normalize();
}

torch::Tensor Embeddings::vector(const std::string& word) const {
  const auto it = index_.find(word);
  if (it == index_.end()) throw Error(fmt::format("word '{}': not in the word set", word));
  torch::Tensor v = vectors_[it->second].clone();
  if (!masked_.empty()) v.index_fill_(0, torch::tensor(masked_), 0.0);
  return v;
}

double Embeddings::cosine(const torch::Tensor& a, const torch::Tensor& b) {
  const double na = a.norm().item<double>(), nb = b.norm().item<double>();
  if (na == 0 || nb == 0) return 0;
  return (a * b).sum().item<double>() / (na * nb);
}

std::vector<RankedWord> Embeddings::nearest(const torch::Tensor& query, int k,
                                            const std::set<std::string>& exclude) const {
  if (k < 1) throw ArgumentError("k", std::to_string(k), "must be positive");
  torch::Tensor q = query.to(torch::kFloat64).clone();
  if (!masked_.empty()) q.index_fill_(0, torch::tensor(masked_), 0.0);
  q = q / q.norm().clamp_min(1e-12);
  const torch::Tensor sims = normalized_.matmul(q);
  const auto order = sims.argsort(0, true);
  const auto s = sims.accessor<double, 1>();
  const auto o = order.accessor<int64_t, 1>();
  std::vector<RankedWord> out;
  for (int64_t i = 0; i < order.size(0) && static_cast<int>(out.size()) < k; ++i) {
    const auto& word = words_[static_cast<size_t>(o[i])];
    if (!exclude.count(word)) out.push_back({word, static_cast<float>(s[o[i]])});
  }
  return out;
}

torch::Tensor Embeddings::evaluate(const std::string& expression, std::vector<std::string>* terms) const {
  // Tokens: words separated by + and -; a word may contain spaces ("new york").
  torch::Tensor sum = torch::zeros({vectors_.size(1)}, torch::kFloat64);
  double sign = 1;
  std::string word;
  bool any = false;
  auto flush = [&](char next) {
    const auto first = word.find_first_not_of(' ');
    if (first == std::string::npos) {
      throw Error(fmt::format("expression '{}': expected a word before '{}'", expression, next));
    }
    const std::string w = word.substr(first, word.find_last_not_of(' ') - first + 1);
    sum += sign * vector(w);
    if (terms) terms->push_back(w);
    any = true;
    word.clear();
  };
  for (char c : expression) {
    if (c == '+' || c == '-') {
      if (word.find_first_not_of(' ') == std::string::npos && !any && c == '-') {
        sign = -sign;  // a leading minus
        continue;
      }
      flush(c);
      sign = c == '+' ? 1 : -1;
    } else {
      word += c;
    }
  }
  flush('$');
  return sum;
}

std::vector<LexicalUnit> find_lexical_units(const std::vector<std::string>& words, const torch::Tensor& matrix,
                                            const LexicalRule& rule) {
  if (rule.top < 2 || rule.min_length < 1 || rule.max_length < rule.min_length || !(rule.min_share > 0) ||
      !(rule.min_ratio > 0))
    throw Error("lexical rule: needs top >= 2, 1 <= min_length <= max_length, min_share > 0, min_ratio > 0");
  const auto n = static_cast<int64_t>(words.size());
  if (n < rule.top) return {};
  // Each word's distinct substrings (lower case), and how many words contain each.
  std::vector<std::set<std::string>> parts(static_cast<size_t>(n));
  std::unordered_map<std::string, int> containing;
  for (int64_t i = 0; i < n; ++i) {
    const std::string w = lower_ascii(words[static_cast<size_t>(i)]);
    auto& p = parts[static_cast<size_t>(i)];
    for (int len = rule.min_length; len <= rule.max_length; ++len)
      for (size_t at = 0; at + static_cast<size_t>(len) <= w.size(); ++at)
        p.insert(w.substr(at, static_cast<size_t>(len)));
    for (const auto& s : p) ++containing[s];
  }
  const auto top = std::get<1>(matrix.topk(rule.top, 0));  // (top, units)
  const auto t = top.accessor<int64_t, 2>();
  std::vector<LexicalUnit> out;
  for (int64_t u = 0; u < matrix.size(1); ++u) {
    std::unordered_map<std::string, int> hits;
    for (int r = 0; r < rule.top; ++r)
      for (const auto& s : parts[static_cast<size_t>(t[r][u])]) ++hits[s];
    LexicalUnit best{u, "", 0, 0};
    double best_ratio = 0;
    for (const auto& [s, h] : hits) {
      if (h < rule.min_share * rule.top) continue;
      const double expected = rule.top * static_cast<double>(containing[s]) / static_cast<double>(n);
      const double ratio = h / expected;
      // Longer substrings explain more: prefer them at equal ratio.
      if (ratio >= rule.min_ratio &&
          (ratio > best_ratio || (ratio == best_ratio && s.size() > best.substring.size()))) {
        best_ratio = ratio;
        best = {u, s, h, expected};
      }
    }
    if (!best.substring.empty()) out.push_back(best);
  }
  return out;
}

std::vector<int64_t> read_unit_list(const std::string& path, int64_t units) {
  std::ifstream in(path);
  if (!in) throw ArgumentError("mask_units", path, "cannot open");
  std::vector<int64_t> out;
  std::string line;
  for (int line_no = 1; std::getline(in, line); ++line_no) {
    line = line.substr(0, line.find('#'));
    for (char& c : line)
      if (c == ',') c = ' ';
    std::istringstream fields(line);
    for (std::string f; fields >> f;) {
      const int64_t u = to_number<int64_t>(f).value_or(-1);
      if (u < 0 || u >= units)
        throw Error(fmt::format("unit mask {}:{}: '{}' is not a unit index 0-{}", path, line_no, f, units - 1));
      out.push_back(u);
    }
  }
  return out;
}

WordEmbeddings open_embeddings(const std::string& atlas, const std::string& layer, const UnitMask& mask) {
  const auto db = WordDatabase::open(atlas);
  WordSet set = db.set(layer);
  auto [list, m] = db.matrix(set);
  std::vector<int64_t> masked;
  if (mask.lexical)
    for (const auto& u : find_lexical_units(list, m, mask.rule)) masked.push_back(u.unit);
  if (!mask.units_file.empty()) {
    const auto listed = read_unit_list(mask.units_file, set.units);
    masked.insert(masked.end(), listed.begin(), listed.end());
  }
  Embeddings e(std::move(list), m);
  if (mask.any()) e.mask(masked);
  return {std::move(set), std::move(e), std::move(masked)};
}

}  // namespace clipscope::words
