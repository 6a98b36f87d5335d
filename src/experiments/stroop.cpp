#include "experiments/stroop.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <cmath>
#include <fstream>
#include <map>

#include "core/model/tensor_io.h"
#include "core/util/error.h"
#include "plot/chart.h"

namespace clipscope::experiments {

namespace fs = std::filesystem;
using nlohmann::json;

const std::vector<std::string>& article_stroop_colours() {
  static const std::vector<std::string> kColours = {"black",  "red",    "green", "blue",
                                                    "purple", "orange", "pink",  "yellow"};
  return kColours;
}

const std::vector<std::string>& article_stroop_words() {
  static const std::vector<std::string> kWords = {"red",    "green", "blue",   "purple",
                                                  "orange", "pink",  "yellow", "example"};
  return kWords;
}

const StroopCell* StroopResult::cell(const std::string& word, const std::string& ink) const {
  for (const auto& row : cells)
    for (const auto& c : row)
      if (c.word == word && c.ink == ink) return &c;
  return nullptr;
}

namespace {

bool is_colour(const std::vector<std::string>& colours, const std::string& word) {
  return std::find(colours.begin(), colours.end(), word) != colours.end();
}

// Rows: the colour words in colour order, then the other words in order of appearance.
std::vector<std::string> row_words(const std::vector<std::string>& colours, const std::vector<std::string>& seen) {
  std::vector<std::string> rows;
  for (const auto& c : colours)
    if (std::find(seen.begin(), seen.end(), c) != seen.end()) rows.push_back(c);
  for (const auto& w : seen)
    if (!is_colour(colours, w) && std::find(rows.begin(), rows.end(), w) == rows.end()) rows.push_back(w);
  return rows;
}

// Accumulated probabilities -> cells and the congruent / incongruent means.
void summarize(StroopResult& r) {
  double n_congruent = 0, n_incongruent = 0;
  for (auto& row : r.cells)
    for (auto& c : row) {
      if (c.images == 0) continue;
      const bool colour_word = is_colour(r.colours, c.word);
      if (!colour_word) c.p_word = c.top1_word = NAN;
      if (c.word == c.ink) {
        r.congruent_p_ink += c.p_ink, r.congruent_top1_ink += c.top1_ink, ++n_congruent;
      } else if (colour_word) {
        r.incongruent_p_ink += c.p_ink, r.incongruent_top1_ink += c.top1_ink;
        r.incongruent_p_word += c.p_word, r.incongruent_top1_word += c.top1_word, ++n_incongruent;
      }
    }
  auto mean = [](double& v, double n) { v = n > 0 ? v / n : NAN; };
  mean(r.congruent_p_ink, n_congruent), mean(r.congruent_top1_ink, n_congruent);
  mean(r.incongruent_p_ink, n_incongruent), mean(r.incongruent_top1_ink, n_incongruent);
  mean(r.incongruent_p_word, n_incongruent), mean(r.incongruent_top1_word, n_incongruent);
}

// Adds one image's probabilities over the colours to its cell (the cell divides at the end).
void add(StroopCell& c, const std::vector<std::string>& colours, const std::vector<double>& p) {
  const auto best = static_cast<size_t>(std::max_element(p.begin(), p.end()) - p.begin());
  const size_t ink = static_cast<size_t>(std::find(colours.begin(), colours.end(), c.ink) - colours.begin());
  const size_t word = static_cast<size_t>(std::find(colours.begin(), colours.end(), c.word) - colours.begin());
  c.p_ink += p[ink];
  c.top1_ink += best == ink ? 1 : 0;
  if (word < colours.size()) c.p_word += p[word], c.top1_word += best == word ? 1 : 0;
  ++c.images;
}

StroopResult empty_result(const std::vector<std::string>& colours, const std::vector<std::string>& words) {
  StroopResult r;
  r.colours = colours;
  r.words = row_words(colours, words);
  for (const auto& w : r.words) {
    r.cells.emplace_back();
    for (const auto& ink : colours) r.cells.back().push_back({w, ink});
  }
  return r;
}

StroopCell& cell_of(StroopResult& r, const std::string& word, size_t ink) {
  const auto row = static_cast<size_t>(std::find(r.words.begin(), r.words.end(), word) - r.words.begin());
  return r.cells[row][ink];
}

void finish(StroopResult& r) {
  for (auto& row : r.cells)
    for (auto& c : row)
      if (c.images > 0) {
        const auto n = static_cast<double>(c.images);
        c.p_ink /= n, c.p_word /= n, c.top1_ink /= n, c.top1_word /= n;
      }
  summarize(r);
}

}  // namespace

StroopResult stroop(CLIP& model, const Tokenizer& tokenizer, const std::vector<StroopStimulus>& stimuli,
                    const StroopOptions& options) {
  const auto& colours = options.colours;
  if (colours.size() < 2) throw ArgumentError("colours", std::to_string(colours.size()), "need at least 2");
  const size_t slot = options.prompt.find("{}");
  if (slot == std::string::npos)
    throw ArgumentError("prompt", "\"" + options.prompt + "\"", "has no {} for the colour");
  if (options.batch_size < 1) throw ArgumentError("batch_size", std::to_string(options.batch_size), "must be positive");
  std::vector<std::string> words;
  for (const auto& s : stimuli) {
    if (s.ink >= colours.size())
      throw ArgumentError("stimuli", fmt::format("'{}' in ink {}", s.word, s.ink),
                          fmt::format("ink out of range (there are {} colours)", colours.size()));
    words.push_back(s.word);
  }
  StroopResult r = empty_result(colours, words);
  torch::NoGradGuard no_grad;
  std::vector<std::string> prompts;
  for (const auto& c : colours) prompts.push_back(std::string(options.prompt).replace(slot, 2, c));
  const auto device = model->device();
  const int context = static_cast<int>(model->config().context_length);
  torch::Tensor classes = model->encode_text(tokenize_batch(tokenizer, prompts, context, true).to(device));
  classes = (classes / classes.norm(2, -1, true)).to(torch::kCPU, torch::kFloat);
  const double scale = model->logit_scale.exp().item<double>();
  const int n_px = static_cast<int>(model->config().image_resolution);
  for (size_t at = 0; at < stimuli.size(); at += static_cast<size_t>(options.batch_size)) {
    const size_t end = std::min(stimuli.size(), at + static_cast<size_t>(options.batch_size));
    std::vector<Image> images;
    for (size_t i = at; i < end; ++i) images.push_back(stimuli[i].image);
    torch::Tensor x = model->encode_image(preprocess_batch(images, n_px, model->config().normalization).to(device));
    x = (x / x.norm(2, -1, true)).to(torch::kCPU, torch::kFloat);
    const torch::Tensor p = torch::softmax(scale * torch::matmul(x, classes.t()), 1).to(torch::kDouble).contiguous();
    for (size_t i = at; i < end; ++i) {
      const double* row = p[static_cast<int64_t>(i - at)].data_ptr<double>();
      add(cell_of(r, stimuli[i].word, stimuli[i].ink), colours, std::vector<double>(row, row + colours.size()));
    }
  }
  finish(r);
  return r;
}

std::vector<StroopStimulus> render_stroop_stimuli(TextRasterizer& raster, int size,
                                                  const std::vector<std::string>& colours,
                                                  const std::vector<std::string>& words) {
  if (size < 8) throw ArgumentError("size", std::to_string(size), "must be at least 8 pixels");
  std::vector<StroopStimulus> out;
  for (const auto& word : words) {
    // One size per word, the largest that fits 80 % of the width (and half the height).
    TextStyle style;
    style.font = "DejaVuSans-Bold";
    style.size = size;
    const PixelBox box = raster.measure(word, style);
    if (box.empty()) throw ArgumentError("words", "'" + word + "'", "draws nothing");
    style.size *= std::min(0.8 * size / box.width(), 0.5 * size / box.height());
    for (size_t ink = 0; ink < colours.size(); ++ink) {
      style.color = parse_color(colours[ink]);
      Image image = blank_image(size, size, {255, 255, 255});
      raster.draw(image, word, style, {size / 2.0, size / 2.0});
      out.push_back({word, ink, std::move(image)});
    }
  }
  return out;
}

StroopRun article_stroop(CLIP& model, const Tokenizer& tokenizer, const StroopOptions& options,
                         const std::vector<std::string>& words, const fs::path& published) {
  TextRasterizer raster;
  const auto stimuli =
      render_stroop_stimuli(raster, static_cast<int>(model->config().image_resolution), options.colours, words);
  StroopRun run;
  run.result = stroop(model, tokenizer, stimuli, options);
  if (!published.empty()) run.published = read_published_stroop(published);
  return run;
}

StroopResult read_published_stroop(const fs::path& path) {
  std::ifstream in(path);
  if (!in) throw Error(fmt::format("{}: cannot be read", path.string()));
  json j;
  try {
    j = json::parse(in);
  } catch (const json::exception& e) {
    throw Error(fmt::format("{}: not JSON ({})", path.string(), e.what()));
  }
  if (!j.contains("output") || !j["output"].is_object())
    throw Error(fmt::format("{}: no \"output\" object (expected the article's Stroop results)", path.string()));
  std::vector<std::string> colours, words;
  for (const auto& [ink, by_word] : j["output"].items()) {
    colours.push_back(ink);
    for (const auto& [word, _] : by_word.items()) words.push_back(word);
  }
  // The article's colour order, where it has them all.
  if (std::is_permutation(colours.begin(), colours.end(), article_stroop_colours().begin(),
                          article_stroop_colours().end()))
    colours = article_stroop_colours();
  StroopResult r = empty_result(colours, words);
  try {
    for (const auto& [ink, by_word] : j["output"].items()) {
      const auto ink_index = static_cast<size_t>(std::find(colours.begin(), colours.end(), ink) - colours.begin());
      for (const auto& [word, entry] : by_word.items()) {
        std::vector<double> p(colours.size(), 0.0);
        for (const auto& pair : entry.at("results")) {
          const auto c = std::find(colours.begin(), colours.end(), pair.at(1).get<std::string>());
          if (c == colours.end())
            throw Error(fmt::format("{}: {} in {}: unknown colour '{}'", path.string(), word, ink,
                                    pair.at(1).get<std::string>()));
          p[static_cast<size_t>(c - colours.begin())] = pair.at(0).get<double>();
        }
        add(cell_of(r, word, ink_index), colours, p);
      }
    }
  } catch (const json::exception& e) {
    throw Error(fmt::format("{}: unexpected layout ({})", path.string(), e.what()));
  }
  finish(r);
  return r;
}

json StroopResult::to_json() const {
  auto number = [](double v) { return std::isfinite(v) ? json(v) : json(nullptr); };
  json rows = json::array();
  for (const auto& row : cells)
    for (const auto& c : row)
      if (c.images > 0)
        rows.push_back({{"word", c.word},
                        {"ink", c.ink},
                        {"images", c.images},
                        {"p_ink", number(c.p_ink)},
                        {"p_word", number(c.p_word)},
                        {"top1_ink", number(c.top1_ink)},
                        {"top1_word", number(c.top1_word)}});
  return {{"colours", colours},
          {"words", words},
          {"cells", rows},
          {"congruent", {{"p_ink", number(congruent_p_ink)}, {"top1_ink", number(congruent_top1_ink)}}},
          {"incongruent",
           {{"p_ink", number(incongruent_p_ink)},
            {"p_word", number(incongruent_p_word)},
            {"top1_ink", number(incongruent_top1_ink)},
            {"top1_word", number(incongruent_top1_word)}}}};
}

std::string StroopResult::table(const StroopResult* published) const {
  std::string s =
      published ? "P(ink), ours / the article's; rows = word, columns = ink\n" : "P(ink); rows = word, columns = ink\n";
  const int width = published ? 12 : 7;
  s += fmt::format("{:<10}", "");
  for (const auto& ink : colours) s += fmt::format("{:>{}}", ink, width);
  s += "\n";
  for (const auto& row : cells) {
    s += fmt::format("{:<10}", row.front().word);
    for (const auto& c : row) {
      const StroopCell* theirs = published ? published->cell(c.word, c.ink) : nullptr;
      if (c.images == 0)
        s += fmt::format("{:>{}}", "-", width);
      else if (published)
        s += fmt::format("{:>{}}",
                         fmt::format("{:.2f}/{}", c.p_ink, theirs ? fmt::format("{:.2f}", theirs->p_ink) : "-"), width);
      else
        s += fmt::format("{:>{}.2f}", c.p_ink, width);
    }
    s += "\n";
  }
  s += fmt::format("congruent: P(ink) {:.3f}", congruent_p_ink);
  if (published) s += fmt::format(" (article {:.3f})", published->congruent_p_ink);
  s += fmt::format(";  incongruent: P(ink) {:.3f}", incongruent_p_ink);
  if (published) s += fmt::format(" (article {:.3f})", published->incongruent_p_ink);
  s += fmt::format(", P(word) {:.3f}", incongruent_p_word);
  if (published) s += fmt::format(" (article {:.3f})", published->incongruent_p_word);
  return s + "\n";
}

void write_stroop_grid(const fs::path& png, const StroopResult& result) {
  plot::CellGrid grid;
  grid.title = "Stroop: P(ink) (colour) and P(word) (grey) per word and ink";
  grid.row_labels = result.words;
  grid.column_labels = result.colours;
  for (const auto& ink : result.colours) grid.column_colours.push_back(parse_color(ink));
  for (const auto& row : result.cells) {
    grid.texts.emplace_back(), grid.values.emplace_back(), grid.seconds.emplace_back();
    for (const auto& c : row) {
      grid.texts.back().push_back(c.images > 0 ? c.word : "");
      grid.values.back().push_back(c.images > 0 ? c.p_ink : NAN);
      grid.seconds.back().push_back(c.images > 0 ? c.p_word : NAN);
    }
  }
  plot::write_cell_grid(png, grid);
}

}  // namespace clipscope::experiments
