#include "serve/atlas_view.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <fstream>

#include "core/image/preprocess.h"
#include "core/util/sqlite.h"
#include "core/util/strings.h"
#include "labels/families.h"
#include "labels/label_atlas.h"
#include "maxtext/store.h"
#include "plot/sheet.h"
#include "serve/http_error.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace clipscope::serve {

namespace {

// In the page's order.
constexpr atlas::ExampleList kLists[] = {atlas::ExampleList::TopMax, atlas::ExampleList::BottomMin,
                                         atlas::ExampleList::TopMean, atlas::ExampleList::BottomMean};

// JSON has no NaN or infinity: they become null.
json number(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

json summary_json(const atlas::Summary& s) {
  return {{"count", s.count},     {"nonfinite", s.nonfinite}, {"mean", number(s.mean)}, {"std", number(s.std)},
          {"rms", number(s.rms)}, {"min", number(s.min)},     {"max", number(s.max)}};
}

// Percent-encodes a path segment (layer names, words) for URLs the page follows.
std::string url_segment(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~')
      out += static_cast<char>(c);
    else
      out += fmt::format("%{:02X}", c);
  }
  return out;
}

// A 2-px rectangle in the sheets' outline colour, inside the box.
void outline(Image& image, int x0, int y0, int w, int h) {
  const auto colour = plot::outline_colour();
  auto set = [&](int x, int y) {
    if (x < 0 || y < 0 || x >= image.width || y >= image.height) return;
    std::copy(colour.begin(), colour.end(), image.pixel(x, y));
  };
  for (int t = 0; t < 2; ++t) {
    for (int x = x0; x < x0 + w; ++x) set(x, y0 + t), set(x, y0 + h - 1 - t);
    for (int y = y0; y < y0 + h; ++y) set(x0 + t, y), set(x0 + w - 1 - t, y);
  }
}

}  // namespace

// ----- ImageCache ---------------------------------------------------------------

std::shared_ptr<const std::string> ImageCache::get(const std::string& key) {
  std::lock_guard lock(mutex_);
  const auto it = entries_.find(key);
  if (it == entries_.end()) return nullptr;
  order_.splice(order_.begin(), order_, it->second);
  return it->second->second;
}

void ImageCache::put(const std::string& key, std::shared_ptr<const std::string> bytes) {
  std::lock_guard lock(mutex_);
  if (entries_.count(key) || bytes->size() > capacity_) return;
  size_ += bytes->size();
  order_.emplace_front(key, std::move(bytes));
  entries_[key] = order_.begin();
  while (size_ > capacity_) {
    size_ -= order_.back().second->size();
    entries_.erase(order_.back().first);
    order_.pop_back();
  }
}

// ----- AtlasView ----------------------------------------------------------------

AtlasView::AtlasView(const ViewOptions& options)
    : atlas_(atlas::Atlas::open(options.atlas)),
      condprob_bins_(options.condprob_bins),
      images_(options.image_cache_bytes) {
  if (!atlas_.complete())
    throw ArgumentError("atlas", options.atlas.string(),
                        fmt::format("the atlas is still being indexed (status '{}'); run the same clipscope index "
                                    "command again to finish it",
                                    atlas_.status()));
  settings_ = atlas_.settings();
  n_px_ = settings_.n_px;
  readable_images_ = atlas_.image_count(true);
  skipped_images_ = atlas_.image_count(false) - readable_images_;
  try {
    words_.emplace(words::WordDatabase::open(options.atlas));
    // Only sets of indexed layers: their units have pages to link to.
    for (const auto& set : words_->sets())
      if (std::any_of(atlas_.layers().begin(), atlas_.layers().end(),
                      [&](const auto& l) { return l.name == set.layer || l.requested == set.layer; }))
        word_sets_.push_back(set);
    for (const auto& set : word_sets_) {
      SQLite::Statement q(words_->database(), "SELECT COUNT(*) FROM words WHERE set_id = ? AND status = 'ok'");
      q.bind(1, set.id);
      q.executeStep();
      set_words_[set.id] = q.getColumn(0).getInt64();
    }
  } catch (const Error&) {
    // No word database in this atlas: the page says so where words would be.
  }
  for (const auto& l : atlas_.layers()) {
    LayerStats s;
    s.rms.assign(static_cast<size_t>(l.units), 0);
    s.max.assign(static_cast<size_t>(l.units), 0);
    SQLite::Statement q(atlas_.database(),
                        "SELECT unit, rms, max FROM unit_stats WHERE layer = ? AND quantity = 'max'");
    q.bind(1, l.id);
    while (q.executeStep()) {
      const int64_t u = q.getColumn(0).getInt64();
      if (u < 0 || u >= l.units) continue;
      s.rms[static_cast<size_t>(u)] = q.getColumn(1).getDouble();
      s.max[static_cast<size_t>(u)] = q.getColumn(2).getDouble();
    }
    s.by_max.resize(static_cast<size_t>(l.units));
    for (int64_t u = 0; u < l.units; ++u) s.by_max[static_cast<size_t>(u)] = u;
    std::stable_sort(s.by_max.begin(), s.by_max.end(), [&](int64_t a, int64_t b) {
      return s.max[static_cast<size_t>(a)] > s.max[static_cast<size_t>(b)];
    });
    s.max_matrix = atlas_.matrix(l, atlas::Quantity::Max);
    stats_[l.id] = std::move(s);
  }
  if (options.labels) labels_ = atlas::read_labels(atlas_, *options.labels, options.label_key);
  vis_dir_ = options.visualizations.empty() ? options.atlas / "optvis" : options.visualizations;
  vis_.scan(vis_dir_, [this](const std::string& name) -> std::optional<std::string> {
    for (const auto& l : atlas_.layers())
      if (l.name == name || l.requested == name) return l.name;
    return std::nullopt;
  });
  featured_ = read_featured(options.atlas / "featured.json");
}

json AtlasView::read_featured(const fs::path& file) const {
  if (!fs::exists(file)) return nullptr;
  std::ifstream in(file);
  json j;
  try {
    j = json::parse(in);
    json units = json::array();
    for (const auto& u : j.at("units")) {
      const std::string name = u.at("layer").get<std::string>();
      const int64_t unit = u.at("unit").get<int64_t>();
      const auto found = std::find_if(atlas_.layers().begin(), atlas_.layers().end(),
                                      [&](const auto& l) { return l.name == name || l.requested == name; });
      if (found == atlas_.layers().end() || unit < 0 || unit >= found->units) continue;
      units.push_back({{"layer", found->name}, {"unit", unit}, {"note", u.value("note", "")}});
    }
    return {
        {"title", j.value("title", "Featured units")}, {"description", j.value("description", "")}, {"units", units}};
  } catch (const json::exception& e) {
    throw Error(fmt::format("{}: not a featured-units file ({})", file.string(), e.what()));
  }
}

const atlas::LayerInfo& AtlasView::layer(const std::string& name) const {
  for (const auto& l : atlas_.layers())
    if (l.name == name || l.requested == name) return l;
  std::string names;
  for (const auto& l : atlas_.layers()) names += (names.empty() ? "" : ", ") + l.name;
  throw not_found(fmt::format("layer '{}': not in this atlas (it has {})", name, names));
}

void AtlasView::check_unit(const atlas::LayerInfo& layer, int64_t unit) const {
  if (unit < 0 || unit >= layer.units)
    throw not_found(fmt::format("unit {}: out of range ({} has units 0-{})", unit, layer.name, layer.units - 1));
}

double AtlasView::rms(const atlas::LayerInfo& layer, int64_t unit) const {
  return stats(layer).rms.at(static_cast<size_t>(unit));
}

std::optional<words::WordSet> AtlasView::word_set(const atlas::LayerInfo& layer) const {
  for (const auto& s : word_sets_)
    if (s.layer == layer.name || s.layer == layer.requested) return s;
  return std::nullopt;
}

torch::Tensor AtlasView::word_baseline(const words::WordSet& set) const {
  std::lock_guard lock(db_mutex_);
  return words_->baseline(set);
}

std::string AtlasView::thumbnail_url(const atlas::LayerInfo& layer, int64_t unit) const {
  const auto vis = vis_.for_unit(layer.name, unit);
  if (!vis.empty()) return fmt::format("/img/vis/{}", vis.front().id);
  return fmt::format("/img/example/{}/{}/top_max/0?size=96", url_segment(layer.name), unit);
}

json AtlasView::unit_tiles(const atlas::LayerInfo& layer, const std::vector<std::pair<int64_t, double>>& units,
                           const std::string& score_name) const {
  json out = json::array();
  for (const auto& [unit, score] : units)
    out.push_back({{"unit", unit}, {score_name, number(score)}, {"thumb", thumbnail_url(layer, unit)}});
  return out;
}

std::vector<std::filesystem::path> AtlasView::example_paths(const atlas::LayerInfo& layer, int64_t unit, int k) const {
  std::lock_guard lock(db_mutex_);
  std::vector<std::filesystem::path> out;
  for (const auto& e : atlas_.examples(layer, unit, atlas::ExampleList::TopMax, k)) out.push_back(e.path);
  return out;
}

json AtlasView::overview() const {
  std::lock_guard lock(db_mutex_);
  json layers = json::array();
  for (const auto& l : atlas_.layers()) {
    json matrices = json::array();
    for (const atlas::Quantity q : settings_.matrix_quantities)
      if (std::find(settings_.matrix_layers.begin(), settings_.matrix_layers.end(), l.name) !=
          settings_.matrix_layers.end())
        matrices.push_back(atlas::quantity_name(q));
    json words = nullptr;
    if (const auto set = word_set(l)) words = set_words_.at(set->id);
    const Annotations a = annotations(l);
    json families = nullptr;
    if (!a.families.empty()) {
      families = json::object();
      for (const auto f : labels::kFamilies) families[labels::family_name(f)] = 0;
      for (const auto& [unit, f] : a.families) families[f.first] = families[f.first].get<int64_t>() + 1;
    }
    layers.push_back({{"name", l.name},
                      {"label_method", a.method ? json(*a.method) : json(nullptr)},
                      {"families", families},
                      {"requested", l.requested},
                      {"units", l.units},
                      {"cells", l.cells},
                      {"grid", {l.grid_height, l.grid_width}},
                      {"layout", std::string(layout_name(l.layout))},
                      {"relu", l.relu},
                      {"matrices", matrices},
                      {"words", words},
                      {"vis", vis_.count(l.name)}});
  }
  return {{"name", fs::absolute(atlas_.dir()).lexically_normal().filename().string()},
          {"model", settings_.model},
          {"model_sha256", settings_.model_sha256},
          {"architecture", settings_.architecture},
          {"precision", settings_.precision},
          {"n_px", settings_.n_px},
          {"k", settings_.k},
          {"status", atlas_.status()},
          {"images", readable_images_},
          {"skipped", skipped_images_},
          {"command", atlas_.meta("command").value_or("")},
          {"completed", atlas_.meta("completed").value_or("")},
          {"labels", labels_.has_value()},
          {"layers", layers},
          {"featured", featured_tiles()}};
}

json AtlasView::featured_tiles() const {
  if (featured_.is_null()) return nullptr;
  json units = json::array();
  for (const auto& u : featured_["units"]) {
    const auto& l = layer(u["layer"].get<std::string>());
    units.push_back({{"layer", l.name},
                     {"unit", u["unit"]},
                     {"note", u["note"]},
                     {"thumb", thumbnail_url(l, u["unit"].get<int64_t>())}});
  }
  return {{"title", featured_["title"]}, {"description", featured_["description"]}, {"units", units}};
}

json AtlasView::unit_grid(const std::string& name, int64_t offset, int64_t limit, const std::string& sort,
                          const std::string& family) const {
  const auto& l = layer(name);
  if (sort != "unit" && sort != "max") throw bad_request(fmt::format("sort '{}': expected unit or max", sort));
  if (!family.empty()) {
    try {
      labels::parse_family(family);
    } catch (const ArgumentError& e) {
      throw bad_request(fmt::format("family '{}': {}", family, e.problem()));
    }
  }
  const auto& s = stats(l);
  Annotations a;
  {
    std::lock_guard lock(db_mutex_);
    a = annotations(l);
  }
  // The units in the order asked, then those of the family.
  std::vector<int64_t> order;
  for (int64_t i = 0; i < l.units; ++i) {
    const int64_t u = sort == "max" ? s.by_max[static_cast<size_t>(i)] : i;
    const auto f = a.families.find(u);
    if (family.empty() || (f != a.families.end() && f->second.first == family)) order.push_back(u);
  }
  json items = json::array();
  for (int64_t i = offset; i < std::min<int64_t>(static_cast<int64_t>(order.size()), offset + limit); ++i) {
    const int64_t u = order[static_cast<size_t>(i)];
    const auto label = a.labels.find(u);
    const auto f = a.families.find(u);
    items.push_back({{"unit", u},
                     {"max", number(s.max[static_cast<size_t>(u)])},
                     {"rms", number(s.rms[static_cast<size_t>(u)])},
                     {"thumb", thumbnail_url(l, u)},
                     {"thumb_kind", vis_.for_unit(l.name, u).empty() ? "example" : "vis"},
                     {"label", label == a.labels.end() ? json(nullptr) : json(label->second.front().first)},
                     {"family", f == a.families.end() ? json(nullptr) : json(f->second.first)}});
  }
  return {{"layer", l.name},  {"units", static_cast<int64_t>(order.size())},
          {"offset", offset}, {"limit", limit},
          {"sort", sort},     {"family", family.empty() ? json(nullptr) : json(family)},
          {"items", items}};
}

AtlasView::Annotations AtlasView::annotations(const atlas::LayerInfo& l, std::optional<int64_t> unit) const {
  Annotations a;
  auto& db = atlas_.database();
  const auto path = atlas_.dir() / atlas::kDatabaseName;
  sqlite_guarded(path, &db, [&] {
    if (const auto method = labels::stored_method(db, l.name)) {
      a.method = labels::method_name(*method);
      for (auto& [u, list] : labels::stored_layer_labels(db, l.name, *method))
        if (!unit || u == *unit)
          for (const auto& x : list) a.labels[u].emplace_back(x.concept_name, x.score);
    }
    for (auto& [u, f] : labels::stored_families(db, l.name, unit))
      a.families[u] = {labels::family_name(f.family), std::move(f.words)};
  });
  return a;
}

json AtlasView::unit(const std::string& name, int64_t unit, int k) const {
  const auto& l = layer(name);
  check_unit(l, unit);
  const double unit_rms = rms(l, unit);
  const std::string base = fmt::format("/img/example/{}/{}", url_segment(l.name), unit);
  json out = {{"layer", l.name}, {"unit", unit}, {"units", l.units}};
  {
    std::lock_guard lock(db_mutex_);
    out["stats"] = {{"max", summary_json(atlas_.summary(l, unit, atlas::Quantity::Max))},
                    {"mean", summary_json(atlas_.summary(l, unit, atlas::Quantity::Mean))}};
    const auto h = atlas_.histogram(l, unit, atlas::Quantity::Max);
    out["histogram"] = {{"quantity", "max"}, {"lo", h.lo}, {"width", h.width}, {"counts", h.counts}};
    json examples = json::object();
    for (atlas::ExampleList list : kLists) {
      const std::string name(atlas::example_list_name(list));
      json rows = json::array();
      for (const auto& r : atlas_.examples(l, unit, list, k))
        rows.push_back({{"rank", r.rank},
                        {"image", r.image},
                        {"value", number(r.value)},
                        {"std", unit_rms > 0 ? number(r.value / unit_rms) : json(nullptr)},
                        {"cell", r.cell},
                        {"crop", fmt::format("{}/{}/{}?size=160", base, name, r.rank)},
                        {"full", fmt::format("{}/{}/{}?full=1&size=448", base, name, r.rank)}});
      examples[name] = rows;
    }
    out["examples"] = examples;
    out["words"] = nullptr;
    if (const auto set = word_set(l)) {
      json words = json::array();
      for (const auto& w : words_->unit_words(*set, unit, k))
        words.push_back({{"word", w.word}, {"value", number(w.value)}});
      out["words"] = words;
    }
    out["condprob"] = nullptr;
    if (labels_ && stats(l).max_matrix) {
      const auto values = atlas::unit_values(atlas_, l, unit, atlas::Quantity::Max);
      const auto cp = atlas::conditional_probability(values, *labels_, condprob_bins_);
      out["condprob"] = {{"lo", cp.lo}, {"hi", cp.hi}, {"labelled", cp.labelled}, {"labels", cp.labels}, {"p", cp.p}};
    }
    json texts = json::array();
    for (const auto& r : maxtext::stored_results(atlas_.database(), l.name, unit)) texts.push_back(r.to_json());
    out["maximal_texts"] = texts;
    const Annotations a = annotations(l, unit);
    json labels = json::array();
    if (const auto it = a.labels.find(unit); it != a.labels.end())
      for (const auto& [concept_name, score] : it->second)
        labels.push_back({{"label", concept_name}, {"score", number(score)}});
    out["labels"] = labels;
    out["label_method"] = a.method ? json(*a.method) : json(nullptr);
    out["family"] = nullptr;
    if (const auto it = a.families.find(unit); it != a.families.end())
      out["family"] = {{"family", it->second.first}, {"words", it->second.second}};
  }
  json vis = json::array();
  for (const auto& v : vis_.for_unit(l.name, unit))
    vis.push_back({{"id", v.id},
                   {"url", fmt::format("/img/vis/{}", v.id)},
                   {"kind", v.kind},
                   {"label", v.label},
                   {"activation", v.activation ? json(*v.activation) : json(nullptr)}});
  out["vis"] = vis;
  out["permalink"] = fmt::format("#/unit/{}/{}", url_segment(l.name), unit);
  return out;
}

torch::Tensor AtlasView::correlation_rows(const atlas::LayerInfo& l) const {
  std::lock_guard lock(neighbor_mutex_);
  if (auto it = correlation_rows_.find(l.id); it != correlation_rows_.end()) return it->second;
  const auto& path = stats(l).max_matrix;
  if (!path)
    throw bad_request(
        fmt::format("neighbors by correlation: {} has no max matrix (the atlas was indexed without one)", l.name));
  // Correlations over an evenly spaced sample of at most 8,192 images: a few
  // seconds once per layer, then one matrix-vector product per request.
  torch::Tensor rows = atlas::correlation_rows(*path, 8192);
  correlation_rows_[l.id] = rows;
  return rows;
}

torch::Tensor AtlasView::word_profiles(const atlas::LayerInfo& l, const words::WordSet& set) const {
  std::lock_guard lock(neighbor_mutex_);
  if (auto it = word_profiles_.find(l.id); it != word_profiles_.end()) return it->second;
  torch::Tensor acts;
  {
    std::lock_guard db_lock(db_mutex_);
    acts = words_->matrix(set).second;  // (words, units)
  }
  // Each unit's response over the words, centred and scaled to unit length: a dot
  // product is then the cosine of two units' word profiles.
  torch::Tensor profiles = (acts - acts.mean(0, true)).t().contiguous();
  profiles = profiles / profiles.norm(2, 1, true).clamp_min(1e-12);
  word_profiles_[l.id] = profiles;
  return profiles;
}

json AtlasView::neighbors(const std::string& name, int64_t unit, const std::string& by, int k) const {
  const auto& l = layer(name);
  check_unit(l, unit);
  torch::Tensor rows;
  if (by == "correlation") {
    rows = correlation_rows(l);
  } else if (by == "words") {
    const auto set = word_set(l);
    if (!set)
      throw bad_request(
          fmt::format("neighbors by words: {} has no word database (build one with clipscope words)", l.name));
    rows = word_profiles(l, *set);
  } else {
    throw bad_request(fmt::format("by '{}': expected correlation or words", by));
  }
  torch::Tensor scores = rows.mv(rows[unit]);
  scores[unit] = -std::numeric_limits<float>::infinity();  // not its own neighbour
  const auto top = scores.topk(std::min<int64_t>(k, l.units - 1));
  std::vector<std::pair<int64_t, double>> items;
  for (int64_t i = 0; i < std::get<1>(top).size(0); ++i)
    items.emplace_back(std::get<1>(top)[i].item<int64_t>(), std::get<0>(top)[i].item<double>());
  return {{"layer", l.name}, {"unit", unit}, {"by", by}, {"items", unit_tiles(l, items, "score")}};
}

json AtlasView::word_search(const std::string& query, int k) const {
  json words = json::array(), suggestions = json::array();
  if (!words_) return {{"words", words}, {"suggestions", suggestions}};
  const std::string lower = lower_ascii(query);
  std::lock_guard lock(db_mutex_);
  for (const auto& set : word_sets_) {
    const auto& l = layer(set.layer);
    for (const auto& candidate : {query, lower}) {
      std::vector<words::RankedUnit> units;
      try {
        units = words_->word_units(set, candidate, k);
      } catch (const Error&) {
        continue;  // not in this set (or skipped when it was encoded)
      }
      std::vector<std::pair<int64_t, double>> items;
      for (const auto& u : units) items.emplace_back(u.unit, u.value);
      words.push_back({{"layer", l.name}, {"word", candidate}, {"units", unit_tiles(l, items, "value")}});
      break;
    }
  }
  // Words starting with the query (LIKE is case-insensitive for ASCII); shortest first.
  std::string pattern;
  for (char c : query) {
    if (c == '%' || c == '_' || c == '\\') pattern += '\\';
    pattern += c;
  }
  SQLite::Statement q(words_->database(),
                      "SELECT DISTINCT word FROM words WHERE status = 'ok' AND word LIKE ? ESCAPE '\\' "
                      "ORDER BY length(word), word LIMIT 20");
  q.bind(1, pattern + "%");
  while (q.executeStep()) suggestions.push_back(q.getColumn(0).getString());
  return {{"words", words}, {"suggestions", suggestions}};
}

json AtlasView::label_search(const std::string& query, int k) const {
  json out = json::array();
  std::lock_guard lock(db_mutex_);
  auto& db = atlas_.database();
  const auto matches = sqlite_guarded(atlas_.dir() / atlas::kDatabaseName, &db,
                                      [&] { return labels::find_labelled_units(db, query, k); });
  for (const auto& m : matches) {
    const atlas::LayerInfo* l = nullptr;
    for (const auto& candidate : atlas_.layers())
      if (candidate.name == m.layer) l = &candidate;
    if (!l || m.unit < 0 || m.unit >= l->units) continue;
    out.push_back({{"layer", l->name},
                   {"unit", m.unit},
                   {"label", m.concept_name},
                   {"rank", m.rank},
                   {"score", number(m.score)},
                   {"thumb", thumbnail_url(*l, m.unit)}});
  }
  return out;
}

json AtlasView::word(const std::string& word, int k) const {
  json sets = json::array();
  if (words_) {
    std::lock_guard lock(db_mutex_);
    for (const auto& set : word_sets_) {
      std::vector<words::RankedUnit> units;
      try {
        units = words_->word_units(set, word, k);
      } catch (const Error&) {
        continue;
      }
      const auto& l = layer(set.layer);
      std::vector<std::pair<int64_t, double>> items;
      for (const auto& u : units) items.emplace_back(u.unit, u.value);
      sets.push_back({{"layer", l.name}, {"units", unit_tiles(l, items, "value")}});
    }
  }
  if (sets.empty())
    throw not_found(words_ ? fmt::format("word '{}': not in the atlas's word database", word)
                           : std::string("words: this atlas has no word database (build one with clipscope words)"));
  return {{"word", word}, {"sets", sets}};
}

std::shared_ptr<const std::string> AtlasView::example_jpeg(const std::string& name, int64_t unit,
                                                           atlas::ExampleList list, int rank, int size,
                                                           bool full) const {
  const auto& l = layer(name);
  check_unit(l, unit);
  const std::string_view list_name = atlas::example_list_name(list);
  if (rank < 0 || rank >= settings_.k)
    throw not_found(
        fmt::format("example {} of {}:{} {}: ranks are 0-{}", rank, l.name, unit, list_name, settings_.k - 1));
  const std::string key = fmt::format("{}/{}/{}/{}/{}/{}", l.id, unit, list_name, rank, size, full);
  if (auto hit = images_.get(key)) return hit;
  std::vector<atlas::ExampleRow> rows;
  {
    std::lock_guard lock(db_mutex_);
    rows = atlas_.examples(l, unit, list, rank + 1);
  }
  if (static_cast<int>(rows.size()) <= rank)
    throw not_found(
        fmt::format("example {} of {}:{} {}: the atlas keeps {}", rank, l.name, unit, list_name, rows.size()));
  const auto& row = rows[static_cast<size_t>(rank)];
  Image seen;
  try {
    seen = resize_and_center_crop(read_image(row.path), n_px_);
  } catch (const Error& e) {
    throw not_found(fmt::format("image {}: cannot be read now ({})", row.image, e.what()));
  }
  const atlas::PixelBox cell = atlas::cell_box(l, row.cell, n_px_);
  Image out;
  if (full) {
    out = resize_bicubic(seen, size, size);
    const double s = static_cast<double>(size) / n_px_;
    outline(out, static_cast<int>(std::lround(cell.x * s)), static_cast<int>(std::lround(cell.y * s)),
            std::max(4, static_cast<int>(std::lround(cell.width * s))),
            std::max(4, static_cast<int>(std::lround(cell.height * s))));
  } else {
    const atlas::PixelBox box = atlas::crop_around(cell, n_px_, 0.5);
    out = resize_bicubic(plot::crop(seen, {box.x, box.y, box.width, box.height}), size, size);
  }
  const auto bytes = encode_jpeg(out, 88);
  auto encoded = std::make_shared<const std::string>(bytes.begin(), bytes.end());
  images_.put(key, encoded);
  return encoded;
}

}  // namespace clipscope::serve
