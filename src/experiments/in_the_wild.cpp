#include "experiments/in_the_wild.h"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <regex>

#include "core/image/stream.h"
#include "core/model/image_batches.h"
#include "core/util/error.h"
#include "core/util/strings.h"
#include "plot/sheet.h"

namespace clipscope::experiments {

namespace fs = std::filesystem;

std::optional<WildPhoto> parse_wild_photo(const fs::path& path) {
  static const std::regex name(R"(^([0-9]+)_([^-]+)-(.+)$)");
  std::smatch m;
  const std::string stem = path.stem().string();
  if (!std::regex_match(stem, m, name)) return std::nullopt;
  const auto series = to_number<int>(m[1].str());
  if (!series) return std::nullopt;
  return WildPhoto{path, *series, m[2].str(), m[3].str()};
}

bool names_text(const std::string& class_name, const std::string& text) {
  const std::string c = ascii_lower(class_name), t = ascii_lower(text);
  if (t.empty()) return false;
  for (size_t at = c.find(t); at != std::string::npos; at = c.find(t, at + 1)) {
    const bool starts = at == 0 || c[at - 1] == ' ' || c[at - 1] == '-';
    const size_t after = at + t.size();
    const bool ends = after == c.size() || c[after] == ' ' || c[after] == '-';
    if (starts && ends) return true;
  }
  return false;
}

namespace {

ClassProbabilities sorted_statistics(const nlohmann::json& list) {
  ClassProbabilities out;
  for (const auto& entry : list) out.emplace_back(entry.at(1).get<std::string>(), entry.at(0).get<double>());
  std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  return out;
}

// The series a published file is for: the last number in its name (paper_in_the_wild_2.json -> 2).
int series_of(const fs::path& file) {
  static const std::regex number("([0-9]+)[^0-9]*$");
  std::smatch m;
  const std::string stem = file.stem().string();
  if (!std::regex_search(stem, m, number))
    throw ArgumentError("published", file.string(), "has no series number in its name (paper_in_the_wild_2.json)");
  return *to_number<int>(m[1].str());
}

nlohmann::json probabilities_json(const ClassProbabilities& p) {
  nlohmann::json j = nlohmann::json::array();
  for (const auto& [c, v] : p) j.push_back({v, c});
  return j;
}

}  // namespace

nlohmann::json WildSummary::to_json() const {
  return {{"photos", photos},
          {"compared", compared},
          {"same_top1_as_article_zero_shot", same_top1_zero_shot},
          {"attacked", attacked},
          {"ours_read_the_label", ours_read},
          {"article_attacked", article_attacked},
          {"article_zero_shot_read_the_label", article_zero_shot_read},
          {"article_probe_read_the_label", article_probe_read}};
}

nlohmann::json WildRun::to_json() const {
  nlohmann::json photos = nlohmann::json::array();
  for (const auto& r : results) {
    nlohmann::json j = {{"image", r.photo.path.string()},
                        {"series", r.photo.series},
                        {"object", r.photo.object},
                        {"text", r.photo.text},
                        {"top", probabilities_json(r.ours)}};
    if (!r.article_zero_shot.empty()) j["article_zero_shot_statistics"] = probabilities_json(r.article_zero_shot);
    if (!r.article_probe.empty()) j["article_linear_probe_statistics"] = probabilities_json(r.article_probe);
    photos.push_back(j);
  }
  return {{"summary", summary.to_json()}, {"photos", photos}, {"skipped", skipped}};
}

std::string WildRun::table() const {
  std::string s = fmt::format("{:<28} {:<28} {:<28}\n", "photo", "ours (top-1)", "article zero-shot (top-1)");
  for (const auto& r : results) {
    const std::string ours = r.ours.empty() ? "" : fmt::format("{} {:.2f}", r.ours[0].first, r.ours[0].second);
    const std::string art = r.article_zero_shot.empty()
                                ? "-"
                                : fmt::format("{} {:.2f}", r.article_zero_shot[0].first, r.article_zero_shot[0].second);
    s += fmt::format("{:<28} {:<28} {:<28}\n", r.photo.path.filename().string(), ours, art);
  }
  const auto& m = summary;
  s += fmt::format("\n{} photos, {} with the article's numbers; same top-1 as the article's zero-shot: {}/{}\n",
                   m.photos, m.compared, m.same_top1_zero_shot, m.compared);
  s += fmt::format("labels naming another object: top-1 names the label in {}/{} photos (ours)", m.ours_read,
                   m.attacked);
  if (m.article_attacked > 0)
    s += fmt::format("; article: zero-shot {}/{}, linear probe {}/{}", m.article_zero_shot_read, m.article_attacked,
                     m.article_probe_read, m.article_attacked);
  return s + "\n";
}

WildRun in_the_wild(CLIP& model, const Classifier& classifier, const fs::path& folder,
                    const std::vector<fs::path>& published, const WildOptions& options) {
  if (options.top < 1) throw ArgumentError("top", std::to_string(options.top), "must be positive");
  std::error_code ec;
  if (!fs::is_directory(folder, ec)) throw ArgumentError("folder", folder.string(), "not a folder");
  std::map<int, nlohmann::json> article;
  for (const auto& file : published) {
    std::ifstream in(file);
    if (!in) throw ArgumentError("published", file.string(), "cannot open");
    try {
      article[series_of(file)] = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
      throw ArgumentError("published", file.string(), fmt::format("not JSON ({})", first_line(e.what())));
    }
  }
  WildRun run;
  std::vector<WildPhoto> photos;
  for (const auto& path : collect_image_paths({folder.string()})) {
    if (auto p = parse_wild_photo(path))
      photos.push_back(*p);
    else
      run.skipped.push_back(fmt::format("{}: not named SERIES_OBJECT-TEXT", path.string()));
  }
  if (photos.empty()) throw ArgumentError("folder", folder.string(), "has no photos named SERIES_OBJECT-TEXT.jpg");
  std::vector<fs::path> paths;
  for (const auto& p : photos) paths.push_back(p.path);
  const EncodedImages encoded = encode_images(model, paths, options.batch_size, options.progress, "in the wild");
  for (const auto& s : encoded.skipped) run.skipped.push_back(fmt::format("{}: {}", s.path.string(), s.error));
  if (encoded.indices.empty()) throw Error(fmt::format("{}: none of its photos could be read", folder.string()));

  torch::NoGradGuard no_grad;
  const Classifier cls = classifier.to(model->device());
  const torch::Tensor probs = torch::softmax(cls.logits(encoded.embeddings.to(model->device())), 1).to(torch::kCPU);
  const int64_t k = std::min<int64_t>(options.top, probs.size(1));
  const auto [values, indices] = probs.topk(k, 1);
  auto& m = run.summary;
  for (size_t r = 0; r < encoded.indices.size(); ++r) {
    WildResult w;
    w.photo = photos[encoded.indices[r]];
    for (int64_t j = 0; j < k; ++j)
      w.ours.emplace_back(cls.classes[static_cast<size_t>(indices[static_cast<int64_t>(r)][j].item<int64_t>())],
                          values[static_cast<int64_t>(r)][j].item<double>());
    if (const auto it = article.find(w.photo.series); it != article.end()) {
      const auto& j = it->second;
      if (j.contains(w.photo.object) && j[w.photo.object].contains(w.photo.text)) {
        const auto& entry = j[w.photo.object][w.photo.text];
        try {
          w.article_zero_shot = sorted_statistics(entry.at("zero_shot_statistics"));
          w.article_probe = sorted_statistics(entry.at("linear_probe_statistics"));
        } catch (const nlohmann::json::exception& e) {
          throw ArgumentError("published", fmt::format("series {}", w.photo.series),
                              fmt::format("{}/{}: {}", w.photo.object, w.photo.text, first_line(e.what())));
        }
      }
    }
    ++m.photos;
    const bool attacked = w.photo.text != "blank" && w.photo.text != w.photo.object;
    if (attacked) {
      ++m.attacked;
      m.ours_read += names_text(w.ours[0].first, w.photo.text) ? 1 : 0;
    }
    if (!w.article_zero_shot.empty()) {
      ++m.compared;
      m.same_top1_zero_shot += w.article_zero_shot[0].first == w.ours[0].first ? 1 : 0;
      if (attacked) {
        ++m.article_attacked;
        m.article_zero_shot_read += names_text(w.article_zero_shot[0].first, w.photo.text) ? 1 : 0;
        if (!w.article_probe.empty())
          m.article_probe_read += names_text(w.article_probe[0].first, w.photo.text) ? 1 : 0;
      }
    }
    run.results.push_back(std::move(w));
  }
  return run;
}

void write_wild_sheet(const fs::path& png, const WildRun& run, int lines, int columns) {
  std::vector<plot::Tile> tiles;
  for (const auto& r : run.results) {
    std::string caption = r.photo.path.stem().string();
    for (int j = 0; j < lines && j < static_cast<int>(r.ours.size()); ++j) {
      const auto& [name, p] = r.ours[static_cast<size_t>(j)];
      caption += fmt::format("\n{:.0f}% {}", 100 * p, name.substr(0, 18));
    }
    if (!r.article_zero_shot.empty())
      caption += fmt::format("\narticle: {:.0f}% {}", 100 * r.article_zero_shot[0].second,
                             r.article_zero_shot[0].first.substr(0, 12));
    tiles.push_back({read_image(r.photo.path), caption, std::nullopt});
  }
  plot::write_contact_sheet(png, tiles, columns, 128,
                            fmt::format("in the wild: {} photos, top-{} classes (ours)", run.results.size(), lines));
}

}  // namespace clipscope::experiments
