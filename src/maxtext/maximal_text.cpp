#include "maxtext/maximal_text.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <random>
#include <set>

#include "abstractions/attribution.h"
#include "core/model/tensor_io.h"
#include "core/util/error.h"
#include "core/util/expression.h"
#include "core/util/progress.h"
#include "core/util/strings.h"

namespace clipscope::maxtext {

using torch::Tensor;
using Sequence = std::vector<int32_t>;

namespace {

Tensor unit_length(const Tensor& v) { return v / v.norm().clamp_min(1e-12); }

}  // namespace

Target parse_target(CLIP& model, const Tokenizer& tokenizer, const std::string& expression) {
  const auto fail = [&](const std::string& why) { throw Error(fmt::format("target '{}': {}", expression, why)); };
  torch::NoGradGuard no_grad;
  const auto unit_direction = [&](const std::string& layer, const std::string& unit_text) {
    const std::string point = model->resolve_point(layer);
    const Tensor directions = abstractions::unit_directions(*model, point);
    const auto unit = to_number<int64_t>(unit_text);
    if (!unit || *unit < 0 || *unit >= directions.size(0))
      fail(fmt::format("unit '{}' of {} is not in [0, {})", unit_text, point, directions.size(0)));
    return directions[*unit];
  };
  Tensor sum;
  for (const ExpressionTerm& t : parse_expression(expression, "target")) {
    Tensor v;
    if (!t.call) {
      const auto colon = t.shorthand.rfind(':');
      v = unit_direction(t.shorthand.substr(0, colon), t.shorthand.substr(colon + 1));
    } else if (t.call->name == "unit") {
      const auto layer = t.call->arg(0, "layer"), unit = t.call->arg(1, "unit");
      if (!layer || !unit) fail("unit() needs a layer and a unit");
      v = unit_direction(*layer, *unit);
    } else if (t.call->name == "image") {
      const auto path = t.call->arg(0, "path");
      if (!path) fail("image() needs a path");
      const auto& config = model->config();
      v = model->encode_image(load_image_batch({*path}, static_cast<int>(config.image_resolution), config.normalization)
                                  .to(model->device()))[0];
    } else if (t.call->name == "text") {
      const auto text = t.call->arg(0, "text");
      if (!text) fail("text() needs a text");
      v = model->encode_text(tokenize_batch(tokenizer, {*text}, model->config().context_length))[0];
    } else {
      fail(fmt::format("unknown target '{}' (unit, image, text or LAYER:UNIT)", t.call->name));
    }
    v = unit_length(v.to(torch::kCPU, torch::kFloat)) * (t.negative ? -t.weight : t.weight);
    sum = sum.defined() ? sum + v : v;
  }
  if (sum.norm().item<double>() < 1e-6) fail("its terms cancel out");
  return {expression, unit_length(sum)};
}

Method parse_method(const std::string& name) {
  if (name == "hill-climb") return Method::HillClimb;
  if (name == "embedding") return Method::Embedding;
  throw Error(fmt::format("method '{}': expected hill-climb or embedding", name));
}

std::string method_name(Method method) { return method == Method::HillClimb ? "hill-climb" : "embedding"; }

namespace {

// (N, longest + 2): start token, the sequence, end token, zeros.
Tensor token_rows(const Tokenizer& tokenizer, const std::vector<Sequence>& sequences) {
  size_t longest = 0;
  for (const auto& s : sequences) longest = std::max(longest, s.size());
  Tensor rows = torch::zeros({static_cast<int64_t>(sequences.size()), static_cast<int64_t>(longest) + 2}, torch::kLong);
  auto a = rows.accessor<int64_t, 2>();
  for (size_t i = 0; i < sequences.size(); ++i) {
    a[static_cast<int64_t>(i)][0] = tokenizer.sot();
    for (size_t j = 0; j < sequences[i].size(); ++j)
      a[static_cast<int64_t>(i)][static_cast<int64_t>(j) + 1] = sequences[i][j];
    a[static_cast<int64_t>(i)][static_cast<int64_t>(sequences[i].size()) + 1] = tokenizer.eot();
  }
  return rows;
}

// The replacement character decode writes for bytes that are not whole UTF-8.
constexpr std::string_view kReplacement = "\xEF\xBF\xBD";

// The tokens a text may use: every id but the start and end tokens whose bytes are whole
// UTF-8 characters (a byte-level token may hold part of one, which decodes to U+FFFD),
// so that any sequence of them decodes to the text it is.
std::vector<int32_t> usable_tokens(const Tokenizer& tokenizer) {
  std::vector<int32_t> out;
  for (int32_t id = 0; id < tokenizer.vocab_size(); ++id) {
    if (id == tokenizer.sot() || id == tokenizer.eot()) continue;
    const std::string text = tokenizer.decode({id});
    if (!trim(text).empty() && text.find(kReplacement) == std::string::npos) out.push_back(id);
  }
  return out;
}

std::string key_of(const Sequence& s) {
  std::string k;
  for (int32_t t : s) k += std::to_string(t) + ",";
  return k;
}

struct Scored {
  Sequence tokens;
  double score = 0;
  int found_at = 0;
};

// The re-tokenized texts of the best sequences, scored as typed, best first, each once.
std::vector<Candidate> rank_texts(CLIP& model, const Tokenizer& tokenizer, const std::vector<Scored>& found,
                                  const Tensor& direction, const Options& o, int64_t& evaluated) {
  std::vector<Scored> sorted = found;
  std::stable_sort(sorted.begin(), sorted.end(), [](const Scored& a, const Scored& b) { return a.score > b.score; });
  const size_t context = static_cast<size_t>(model->config().context_length) - 2;
  std::vector<std::string> texts;
  std::vector<Sequence> sequences;
  std::vector<int> found_at;
  std::set<std::string> seen;
  for (const auto& s : sorted) {
    std::string text(trim(tokenizer.decode(s.tokens)));
    if (text.empty() || !seen.insert(text).second) continue;
    Sequence retokenized = tokenizer.encode(text);
    if (retokenized.size() > context) retokenized.resize(context);
    texts.push_back(std::move(text));
    sequences.push_back(std::move(retokenized));
    found_at.push_back(s.found_at);
    if (texts.size() >= static_cast<size_t>(std::max(3 * o.top, 30))) break;
  }
  const auto scores = score_sequences(model, tokenizer, sequences, direction, o.batch);
  evaluated += static_cast<int64_t>(sequences.size());
  std::vector<Candidate> out;
  for (size_t i = 0; i < texts.size(); ++i) out.push_back({texts[i], scores[i], found_at[i]});
  std::stable_sort(out.begin(), out.end(), [](const Candidate& a, const Candidate& b) { return a.score > b.score; });
  if (out.size() > static_cast<size_t>(o.top)) out.resize(static_cast<size_t>(o.top));
  return out;
}

// d(score)/d(token embeddings) of each sequence: (N, longest + 2, width).
Tensor embedding_gradients(CLIP& model, const Tokenizer& tokenizer, const std::vector<Sequence>& sequences,
                           const Tensor& direction) {
  const Tensor rows = token_rows(tokenizer, sequences).to(model->device());
  const Tensor eot = rows.argmax(1);
  Tensor embeddings = model->token_embedding(rows).detach().to(torch::kFloat).requires_grad_(true);
  const Tensor out = model->encode_token_embeddings(embeddings.to(model->token_embedding->weight.scalar_type()), eot);
  const Tensor cosine =
      torch::matmul(out.to(torch::kFloat) / out.to(torch::kFloat).norm(2, 1, true), direction.to(model->device()));
  return torch::autograd::grad({cosine.sum()}, {embeddings})[0].detach();
}

std::vector<Scored> hill_climb(CLIP& model, const Tokenizer& tokenizer, const Tensor& direction, const Options& o,
                               const std::vector<int32_t>& usable, int64_t& evaluated) {
  std::mt19937_64 rng(o.seed);
  const auto uniform = [&](size_t n) {
    return static_cast<size_t>(std::uniform_int_distribution<size_t>(0, n - 1)(rng));
  };
  const auto chance = [&](double p) { return std::uniform_real_distribution<double>(0, 1)(rng) < p; };
  const auto random_token = [&] { return usable[uniform(usable.size())]; };
  std::vector<Scored> all, pool;
  std::set<std::string> seen;
  const auto evaluate = [&](std::vector<Sequence> batch, int generation) {
    const auto scores = score_sequences(model, tokenizer, batch, direction, o.batch);
    evaluated += static_cast<int64_t>(batch.size());
    for (size_t i = 0; i < batch.size(); ++i) {
      all.push_back({batch[i], scores[i], generation});
      pool.push_back(all.back());
    }
    std::stable_sort(pool.begin(), pool.end(), [](const Scored& a, const Scored& b) { return a.score > b.score; });
    if (pool.size() > static_cast<size_t>(o.pool)) pool.resize(static_cast<size_t>(o.pool));
  };
  {  // the first pool: random sequences of every length
    std::vector<Sequence> start;
    for (int i = 0; i < o.pool; ++i) {
      Sequence s(1 + uniform(static_cast<size_t>(o.max_tokens)));
      for (auto& t : s) t = random_token();
      s = tokenizer.encode(tokenizer.decode(s));
      if (s.empty() || s.size() > static_cast<size_t>(o.max_tokens)) continue;
      if (seen.insert(key_of(s)).second) start.push_back(std::move(s));
    }
    evaluate(std::move(start), 0);
  }
  // Usable tokens as a mask over the vocabulary (first-order candidates come from them).
  Tensor usable_mask = torch::full({model->token_embedding->weight.size(0)}, -1e30f);
  for (int32_t t : usable) usable_mask[t] = 0;
  const Tensor table = model->token_embedding->weight.detach().to(torch::kCPU, torch::kFloat);
  Progress bar("maximal text: hill climbing", static_cast<size_t>(o.generations), "generations", o.progress);
  for (int g = 1; g <= o.generations; ++g) {
    std::vector<Sequence> parents;
    for (const auto& p : pool) parents.push_back(p.tokens);
    // First-order candidates: per parent and position, the tokens whose embedding has
    // the largest dot product with the score's gradient there.
    const Tensor grads = embedding_gradients(model, tokenizer, parents, direction).to(torch::kCPU);
    const Tensor gains = torch::matmul(grads, table.t()) + usable_mask;  // (P, L, V)
    const Tensor best = std::get<1>(gains.topk(std::min<int64_t>(o.candidates, gains.size(2)), 2));
    std::vector<Sequence> children;
    for (int c = 0; c < o.children * 4 && static_cast<int>(children.size()) < o.children; ++c) {
      const size_t p = uniform(parents.size());
      Sequence s = parents[p];
      const double op = std::uniform_real_distribution<double>(0, 1)(rng);
      if ((op < 0.2 && s.size() < static_cast<size_t>(o.max_tokens)) || s.empty()) {  // insert
        s.insert(s.begin() + static_cast<int64_t>(uniform(s.size() + 1)), random_token());
      } else if (op < 0.4 && s.size() > 1) {  // delete
        s.erase(s.begin() + static_cast<int64_t>(uniform(s.size())));
      } else {  // replace, by a first-order candidate most of the time
        const size_t i = uniform(s.size());
        s[i] = chance(0.8) ? static_cast<int32_t>(best[static_cast<int64_t>(p)][static_cast<int64_t>(i) + 1]
                                                      [static_cast<int64_t>(uniform(static_cast<size_t>(best.size(2))))]
                                                          .item<int64_t>())
                           : random_token();
      }
      // Score the text as typed: its own tokens, not the mutated sequence (a search over
      // sequences that no text tokenizes to finds scores no text has).
      s = tokenizer.encode(tokenizer.decode(s));
      if (s.empty() || s.size() > static_cast<size_t>(o.max_tokens)) continue;
      if (seen.insert(key_of(s)).second) children.push_back(std::move(s));
    }
    if (!children.empty()) evaluate(std::move(children), g);
    bar.set(static_cast<size_t>(g));
    if (o.on_step) o.on_step(g, o.generations);
  }
  bar.finish();
  return all;
}

std::vector<Scored> optimize_embeddings(CLIP& model, const Tokenizer& tokenizer, const Tensor& direction,
                                        const Options& o, const std::vector<int32_t>& usable, int64_t& evaluated) {
  std::mt19937_64 rng(o.seed);
  const Tensor table = model->token_embedding->weight.detach().to(torch::kFloat);  // on the model's device
  const Tensor usable_index = torch::tensor(usable, torch::kLong).to(table.device());
  const Tensor usable_unit = torch::nn::functional::normalize(table.index_select(0, usable_index),
                                                              torch::nn::functional::NormalizeFuncOptions().dim(1));
  const auto n = static_cast<int64_t>(o.max_tokens);
  Sequence tokens(static_cast<size_t>(n));
  for (auto& t : tokens) t = usable[std::uniform_int_distribution<size_t>(0, usable.size() - 1)(rng)];
  Tensor params =
      table.index_select(0, torch::tensor(tokens, torch::kLong).to(table.device())).clone().requires_grad_(true);
  const Tensor sot = table[tokenizer.sot()].unsqueeze(0), eot = table[tokenizer.eot()].unsqueeze(0);
  const Tensor eot_index = torch::full({1}, n + 1, torch::kLong);
  const Tensor target = direction.to(table.device());
  const auto dtype = model->token_embedding->weight.scalar_type();
  std::vector<Scored> found;
  Progress bar("maximal text: embedding optimization", static_cast<size_t>(o.epochs), "epochs", o.progress);
  for (int epoch = 1; epoch <= o.epochs; ++epoch) {
    for (int it = 0; it < o.iterations; ++it) {
      const Tensor x = torch::cat({sot, params, eot}).unsqueeze(0).to(dtype);
      const Tensor out = model->encode_token_embeddings(x, eot_index).to(torch::kFloat)[0];
      const Tensor loss = -torch::dot(out / out.norm(), target);
      const Tensor grad = torch::autograd::grad({loss}, {params})[0];
      torch::NoGradGuard no_grad;
      params.sub_(grad * o.learning_rate);
    }
    torch::NoGradGuard no_grad;
    // Snap to the nearest usable tokens, decode, re-tokenize, and go on from there.
    const Tensor nearest =
        torch::matmul(torch::nn::functional::normalize(params, torch::nn::functional::NormalizeFuncOptions().dim(1)),
                      usable_unit.t())
            .argmax(1)
            .cpu();
    Sequence snapped;
    for (int64_t i = 0; i < n; ++i) snapped.push_back(usable[static_cast<size_t>(nearest[i].item<int64_t>())]);
    Sequence retokenized = tokenizer.encode(tokenizer.decode(snapped));
    if (retokenized.size() > static_cast<size_t>(n)) retokenized.resize(static_cast<size_t>(n));
    if (!retokenized.empty()) {
      found.push_back({retokenized, score_sequences(model, tokenizer, {retokenized}, direction, 1)[0], epoch});
      ++evaluated;
      params.slice(0, 0, static_cast<int64_t>(retokenized.size()))
          .copy_(table.index_select(0, torch::tensor(retokenized, torch::kLong).to(table.device())));
    }
    bar.set(static_cast<size_t>(epoch));
    if (o.on_step) o.on_step(epoch, o.epochs);
  }
  bar.finish();
  return found;
}

}  // namespace

std::vector<double> score_sequences(CLIP& model, const Tokenizer& tokenizer, const std::vector<Sequence>& sequences,
                                    const Tensor& direction, int batch) {
  torch::NoGradGuard no_grad;
  std::vector<double> out;
  const Tensor target = direction.to(model->device(), torch::kFloat);
  for (size_t start = 0; start < sequences.size(); start += static_cast<size_t>(batch)) {
    const std::vector<Sequence> part(
        sequences.begin() + static_cast<int64_t>(start),
        sequences.begin() + static_cast<int64_t>(std::min(sequences.size(), start + batch)));
    const Tensor e = model->encode_text(token_rows(tokenizer, part).to(model->device())).to(torch::kFloat);
    const Tensor cosine = torch::matmul(e / e.norm(2, 1, true), target).cpu();
    for (int64_t i = 0; i < cosine.size(0); ++i) out.push_back(cosine[i].item<double>());
  }
  return out;
}

Result maximal_text(CLIP& model, const Tokenizer& tokenizer, const Target& target, const Options& o) {
  const int longest = static_cast<int>(model->config().context_length) - 2;
  if (o.max_tokens < 1 || o.max_tokens > longest)
    throw ArgumentError("max_tokens", std::to_string(o.max_tokens), fmt::format("must be in [1, {}]", longest));
  for (const auto& [name, value] : std::initializer_list<std::pair<const char*, int>>{{"top", o.top},
                                                                                      {"batch", o.batch},
                                                                                      {"pool", o.pool},
                                                                                      {"generations", o.generations},
                                                                                      {"children", o.children},
                                                                                      {"candidates", o.candidates},
                                                                                      {"epochs", o.epochs},
                                                                                      {"iterations", o.iterations}})
    if (value < 1) throw ArgumentError(name, std::to_string(value), "must be positive");
  const auto start = std::chrono::steady_clock::now();
  Result r;
  r.target = target;
  r.method = o.method;
  const auto usable = usable_tokens(tokenizer);
  if (usable.empty()) throw Error("maximal text: the vocabulary has no usable token");
  const auto found = o.method == Method::HillClimb
                         ? hill_climb(model, tokenizer, target.direction, o, usable, r.evaluated)
                         : optimize_embeddings(model, tokenizer, target.direction, o, usable, r.evaluated);
  r.texts = rank_texts(model, tokenizer, found, target.direction, o, r.evaluated);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

nlohmann::json options_json(const Options& o) {
  nlohmann::json j = {
      {"method", method_name(o.method)}, {"max_tokens", o.max_tokens}, {"seed", o.seed}, {"top", o.top}};
  if (o.method == Method::HillClimb) {
    j["pool"] = o.pool;
    j["generations"] = o.generations;
    j["children"] = o.children;
    j["candidates"] = o.candidates;
  } else {
    j["epochs"] = o.epochs;
    j["iterations"] = o.iterations;
    j["learning_rate"] = o.learning_rate;
  }
  return j;
}

nlohmann::json Result::to_json() const {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& c : texts) list.push_back({{"text", c.text}, {"score", c.score}, {"found_at", c.found_at}});
  return {{"target", target.expression},
          {"method", method_name(method)},
          {"evaluated", evaluated},
          {"seconds", seconds},
          {"texts", list}};
}

std::string Result::table() const {
  std::string s = fmt::format("maximal text for {} ({}, {} sequences scored in {:.1f} s)\n", target.expression,
                              method_name(method), evaluated, seconds);
  for (size_t i = 0; i < texts.size(); ++i)
    s += fmt::format("{:>3}  {:.4f}  {}\n", i + 1, texts[i].score, texts[i].text);
  return s;
}

}  // namespace clipscope::maxtext
