#include "experiments/typographic.h"

#include <ATen/Parallel.h>
#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <set>

#include "core/hub/download.h"
#include "core/image/preprocess.h"
#include "core/util/csv.h"
#include "core/util/error.h"
#include "core/util/files.h"
#include "core/util/progress.h"
#include "core/util/strings.h"

namespace clipscope::experiments {

namespace fs = std::filesystem;
using torch::Tensor;

const AttackLayout& article_layout() {
  // Read off small_attacks/example_before.png and example_after.png (288 x 288): the
  // changed pixels form 8 boxes of "pizza" 55 x 23 px whose top-left corners step
  // 50 px right every second copy and 25 px down every copy; 8.0 % of the pixels change.
  static const AttackLayout layout = [] {
    AttackLayout l;
    l.name = "article";
    for (auto [x, y] : std::vector<std::array<double, 2>>{
             {21, 24}, {71, 49}, {21, 74}, {71, 99}, {121, 124}, {171, 149}, {121, 174}, {171, 199}})
      l.positions.push_back({x / 288, y / 288});
    l.text_size = 19.5 / 288;
    l.outline_width = 2.0 / 288;
    l.before_preprocessing = false;
    return l;
  }();
  return layout;
}

const AttackLayout& ntua_layout() {
  static const AttackLayout layout = [] {
    AttackLayout l;
    l.name = "ntua";
    for (auto [x, y] : std::vector<std::array<double, 2>>{
             {41, 72}, {167, 149}, {278, 96}, {447, 76}, {15, 349}, {153, 310}, {293, 327}, {409, 315}})
      l.positions.push_back({x / 500, y / 375});
    l.text_size = article_layout().text_size;
    l.outline_width = article_layout().outline_width;
    l.before_preprocessing = true;
    return l;
  }();
  return layout;
}

const AttackLayout& attack_layout(const std::string& name, const std::string& parameter) {
  if (name == "article") return article_layout();
  if (name == "ntua") return ntua_layout();
  throw ArgumentError(parameter, name, "not a layout (article, ntua)");
}

void draw_attack(Image& image, const std::string& text, const AttackLayout& layout, TextRasterizer& raster,
                 const AttackStyle& style) {
  const double side = std::min(image.width, image.height);
  TextStyle fill{style.font, layout.text_size * side, style.fill};
  const double outline = std::max(0.5, layout.outline_width * side);
  const PixelBox box = raster.measure(text, fill);
  if (box.empty()) return;
  for (const auto& [fx, fy] : layout.positions) {
    // The ink box (outline included) starts at the position: its centre is half a box further.
    const double x = fx * image.width + outline + box.width() / 2.0;
    const double y = fy * image.height + outline + box.height() / 2.0;
    draw_outlined(raster, image, text, fill, style.outline, outline, {x, y});
  }
}

double changed_pixel_fraction(const Image& a, const Image& b) {
  if (a.width != b.width || a.height != b.height)
    throw ArgumentError("images", fmt::format("{}x{} and {}x{}", a.width, a.height, b.width, b.height),
                        "must have the same size");
  const size_t n = static_cast<size_t>(a.width) * a.height;
  if (n == 0) return 0;
  size_t changed = 0;
  for (size_t i = 0; i < n; ++i)
    changed +=
        a.rgb[3 * i] != b.rgb[3 * i] || a.rgb[3 * i + 1] != b.rgb[3 * i + 1] || a.rgb[3 * i + 2] != b.rgb[3 * i + 2];
  return static_cast<double>(changed) / static_cast<double>(n);
}

const std::vector<ArticleAttack>& article_attacks() {
  static const std::vector<ArticleAttack> attacks = {{"trash", "waste container", "trash can"},
                                                     {"iPod", "iPod", "iPod"},
                                                     {"pizza", "pizza", "pizza"},
                                                     {"rifle", "rifle", "rifle"},
                                                     {"radio", "radio", "radio"},
                                                     {"library", "library", "library"},
                                                     {"shark", "great white shark", "great white shark"},
                                                     {"meow", "Siamese cat", "Siamese cat"},
                                                     {"$$$", "piggy bank", "piggy bank"}};
  return attacks;
}

const std::vector<PublishedSuccess>& ntua_attacks() {
  static const std::vector<PublishedSuccess> attacks = {
      {"iPod", "iPod", 0.884}, {"jeep", "jeep", 0.854}, {"radio", "radio", 0.750}, {"rifle", "rifle", 0.712}};
  return attacks;
}

double AttackOutcome::success() const {
  const int64_t eligible = changed_to + both_not_target;
  return eligible > 0 ? static_cast<double>(changed_to) / static_cast<double>(eligible) : 0;
}

nlohmann::json AttackOutcome::to_json() const {
  return {{"text", attack.text},
          {"target", attack.target},
          {"images", images},
          {"success", success()},
          {"fraction_changed_to", fraction(changed_to)},
          {"fraction_already_equal", fraction(already_equal)},
          {"fraction_changed_away", fraction(changed_away)},
          {"fraction_both_results_not_target", fraction(both_not_target)},
          {"avg_img_l0_norm_diff", pixel_cover}};
}

const AttackOutcome* PublishedAttacks::find(const std::string& text) const {
  for (const auto& a : attacks)
    if (a.attack.text == text) return &a;
  return nullptr;
}

PublishedAttacks read_published_attacks(const fs::path& json) {
  std::ifstream in(json);
  if (!in) throw Error(fmt::format("{}: cannot open the published attacks", json.string()));
  PublishedAttacks out;
  try {
    const auto j = nlohmann::json::parse(in);
    out.images = j.at("n").get<int64_t>();
    const auto& probes = j.at("linear_probes");
    out.baseline_accuracy = probes.value("baseline_accuracy", 0.0);
    for (const auto& [target, texts] : probes.at("results").items())
      for (const auto& [text, f] : texts.items()) {
        AttackOutcome a;
        a.attack = {text, target};
        a.images = out.images;
        auto count = [&](const char* field) {
          return static_cast<int64_t>(std::llround(f.at(field).get<double>() * static_cast<double>(out.images)));
        };
        a.changed_to = count("fraction_changed_to");
        a.already_equal = count("fraction_already_equal");
        a.changed_away = count("fraction_changed_away");
        a.both_not_target = count("fraction_both_results_not_target");
        a.pixel_cover = f.at("avg_img_l0_norm_diff").get<double>();
        out.attacks.push_back(a);
      }
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("{}: not the article's attack results ({})", json.string(), first_line(e.what())));
  }
  return out;
}

std::vector<Attack> class_name_attacks(const std::vector<std::string>& classes, size_t max_length) {
  std::vector<Attack> out;
  for (const auto& c : classes)
    if (!c.empty() && c.size() <= max_length && c.find(' ') == std::string::npos) out.push_back({c, c});
  return out;
}

std::vector<AttackOutcome> ranked_by_success(std::vector<AttackOutcome> outcomes) {
  std::stable_sort(outcomes.begin(), outcomes.end(),
                   [](const AttackOutcome& a, const AttackOutcome& b) { return a.success() > b.success(); });
  return outcomes;
}

namespace {

// One image under one attack: the classes before and after and the pixels changed.
struct Row {
  int64_t clean = -1, attacked = -1;
  double cover = 0;
};

constexpr const char* kRowsFile = "attack-rows.csv";
constexpr const char* kRunFile = "attack-run.json";

nlohmann::json run_settings(const Classifier& classifier, const std::vector<fs::path>& images,
                            const std::vector<Attack>& attacks, const AttackOptions& o) {
  std::string paths, classes;
  for (const auto& p : images) paths += p.string() + '\n';
  for (const auto& c : classifier.classes) classes += c + '\n';
  nlohmann::json a = nlohmann::json::array();
  for (const auto& x : attacks) a.push_back({x.text, x.target});
  return {{"model", o.model_identity},
          {"classifier", classifier.kind},
          {"classes_sha256", sha256_text(classes)},
          {"images", images.size()},
          {"images_sha256", sha256_text(paths)},
          {"layout", o.layout.name},
          {"before_preprocessing", o.layout.before_preprocessing},
          {"font", o.style.font},
          {"attacks", a}};
}

// The rows a killed run wrote (a last line cut short is ignored): rows[attack][image].
void read_rows(const fs::path& file, std::vector<std::vector<std::optional<Row>>>& rows, int64_t& resumed) {
  std::ifstream in(file);
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    const auto f = csv_fields(line);
    if (f.size() != 5) continue;
    const auto a = to_number<int64_t>(f[0]), i = to_number<int64_t>(f[1]);
    const auto clean = to_number<int64_t>(f[2]), attacked = to_number<int64_t>(f[3]);
    const auto cover = to_number<double>(f[4]);
    if (!a || !i || !clean || !attacked || !cover || *a < 0 || *a >= static_cast<int64_t>(rows.size()) || *i < 0 ||
        *i >= static_cast<int64_t>(rows[0].size()))
      continue;
    auto& slot = rows[static_cast<size_t>(*a)][static_cast<size_t>(*i)];
    if (!slot) ++resumed;
    slot = Row{*clean, *attacked, *cover};
  }
}

// Top-1 classes of images (already at the model's input size or not), in batches.
std::vector<int64_t> classify(CLIP& model, const Classifier& classifier, const std::vector<const Image*>& images,
                              int batch_size) {
  const int n_px = static_cast<int>(model->config().image_resolution);
  const auto& norm = model->config().normalization;
  std::vector<int64_t> out;
  for (size_t start = 0; start < images.size(); start += static_cast<size_t>(batch_size)) {
    const size_t end = std::min(images.size(), start + static_cast<size_t>(batch_size));
    Tensor batch = torch::empty({static_cast<int64_t>(end - start), 3, n_px, n_px});
    at::parallel_for(static_cast<int64_t>(start), static_cast<int64_t>(end), 1, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        const auto chw = clip_preprocess(*images[static_cast<size_t>(i)], n_px, norm);
        std::copy(chw.begin(), chw.end(), batch[i - static_cast<int64_t>(start)].data_ptr<float>());
      }
    });
    const Tensor top = classifier.logits(model->encode_image(batch.to(model->device()))).argmax(1).to(torch::kCPU);
    for (int64_t i = 0; i < top.size(0); ++i) out.push_back(top[i].item<int64_t>());
  }
  return out;
}

AttackOutcome count_outcome(const Attack& attack, size_t target, const std::vector<std::optional<Row>>& rows) {
  AttackOutcome o;
  o.attack = attack;
  double cover = 0;
  const auto t = static_cast<int64_t>(target);
  for (const auto& r : rows) {
    if (!r || r->clean < 0) continue;
    ++o.images;
    cover += r->cover;
    const bool before = r->clean == t, after = r->attacked == t;
    (before ? (after ? o.already_equal : o.changed_away) : (after ? o.changed_to : o.both_not_target)) += 1;
  }
  o.pixel_cover = o.images > 0 ? cover / static_cast<double>(o.images) : 0;
  return o;
}

// The class an untargeted attack moved most images to (from another class); when it
// moved none, the class it left most images in.
size_t most_attracted(const std::vector<std::optional<Row>>& rows, size_t classes) {
  std::vector<int64_t> moved(classes, 0), stayed(classes, 0);
  for (const auto& r : rows)
    if (r && r->clean >= 0) ++(r->attacked != r->clean ? moved : stayed)[static_cast<size_t>(r->attacked)];
  const auto& votes = std::any_of(moved.begin(), moved.end(), [](int64_t v) { return v > 0; }) ? moved : stayed;
  return static_cast<size_t>(std::max_element(votes.begin(), votes.end()) - votes.begin());
}

}  // namespace

nlohmann::json AttackRun::to_json() const {
  nlohmann::json a = nlohmann::json::array();
  for (const auto& o : outcomes) a.push_back(o.to_json());
  return {{"n", images}, {"inputs", inputs}, {"skipped", skipped}, {"attacks", a}};
}

namespace {

// The run's rows file, opened for appending: a new one with its header, or (when the
// folder holds the same run's settings) the rows a killed run wrote, read back into `rows`.
std::ofstream open_checkpoint(const Classifier& classifier, const std::vector<fs::path>& images,
                              const std::vector<Attack>& attacks, const AttackOptions& options,
                              std::vector<std::vector<std::optional<Row>>>& rows, int64_t& resumed) {
  std::error_code ec;
  fs::create_directories(options.checkpoint, ec);
  if (ec) throw ArgumentError("checkpoint", options.checkpoint.string(), "cannot create the folder: " + ec.message());
  const nlohmann::json settings = run_settings(classifier, images, attacks, options);
  const fs::path settings_file = options.checkpoint / kRunFile, rows_file = options.checkpoint / kRowsFile;
  if (fs::exists(settings_file)) {
    std::ifstream in(settings_file);
    nlohmann::json held;
    try {
      held = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception&) {}
    if (held != settings)
      throw ArgumentError("checkpoint", options.checkpoint.string(),
                          "holds a run with other settings (model, classifier, images, layout or attacks); give an "
                          "empty folder or the same settings");
    read_rows(rows_file, rows, resumed);
  } else {
    write_file_atomically(settings_file, settings.dump(1) + "\n");
  }
  const bool fresh = !fs::exists(rows_file);
  // A run killed mid-line left a last line without its end: end it, so that the
  // next row starts a line of its own (the cut row is done again).
  bool ended = true;
  if (!fresh) {
    std::ifstream last(rows_file, std::ios::binary | std::ios::ate);
    if (last.tellg() > 0) {
      last.seekg(-1, std::ios::end);
      ended = last.get() == '\n';
    }
  }
  std::ofstream out(rows_file, std::ios::app);
  if (!out) throw ArgumentError("checkpoint", rows_file.string(), "cannot be written");
  if (fresh) out << "attack,image,clean,attacked,l0\n" << std::flush;
  if (!ended) out << "\n" << std::flush;
  return out;
}

// The images [start, end) as the attack draws on them (the model's input crop, or the
// image as read); unreadable ones stay empty with their reason in `unreadable`.
std::vector<std::optional<Image>> load_chunk(const std::vector<fs::path>& images, size_t start, size_t end,
                                             const AttackLayout& layout, int n_px,
                                             std::vector<std::string>& unreadable) {
  std::vector<std::optional<Image>> base(end - start);
  at::parallel_for(static_cast<int64_t>(start), static_cast<int64_t>(end), 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const auto k = static_cast<size_t>(i);
      try {
        Image im = read_image(images[k]);
        base[k - start] = layout.before_preprocessing ? std::move(im) : resize_and_center_crop(im, n_px);
      } catch (const std::exception& ex) {
        unreadable[k] = first_line(ex.what());
      }
    }
  });
  return base;
}

// One attack on the readable images of a chunk: (class after, pixels changed) per image.
std::pair<std::vector<int64_t>, std::vector<double>> attack_images(CLIP& model, const Classifier& classifier,
                                                                   const std::vector<const Image*>& readable,
                                                                   const std::string& text,
                                                                   const AttackOptions& options) {
  std::vector<Image> attacked(readable.size());
  std::vector<double> cover(readable.size());
  at::parallel_for(0, static_cast<int64_t>(readable.size()), 1, [&](int64_t b, int64_t e) {
    TextRasterizer raster;  // one per thread: FreeType faces are not thread-safe
    for (auto r = static_cast<size_t>(b); r < static_cast<size_t>(e); ++r) {
      attacked[r] = *readable[r];
      draw_attack(attacked[r], text, options.layout, raster, options.style);
      cover[r] = changed_pixel_fraction(*readable[r], attacked[r]);
    }
  });
  std::vector<const Image*> pointers;
  for (const auto& im : attacked) pointers.push_back(&im);
  return {classify(model, classifier, pointers, options.batch_size), cover};
}

// Throws ArgumentError for options or attacks the run cannot use; returns each attack's
// target class (nullopt: untargeted).
std::vector<std::optional<size_t>> check_attacks(const Classifier& classifier, const std::vector<fs::path>& images,
                                                 const std::vector<Attack>& attacks, const AttackOptions& options) {
  if (attacks.empty()) throw ArgumentError("attacks", "", "name at least one attack");
  if (images.empty()) throw ArgumentError("images", "", "no images to attack");
  if (options.batch_size < 1) throw ArgumentError("batch_size", std::to_string(options.batch_size), "must be positive");
  if (options.chunk < 1) throw ArgumentError("chunk", std::to_string(options.chunk), "must be positive");
  if (options.layout.positions.empty() || !(options.layout.text_size > 0))
    throw ArgumentError("layout", options.layout.name, "needs positions and a text size");
  std::vector<std::optional<size_t>> targets;
  TextRasterizer raster;
  for (const auto& a : attacks) {
    if (a.text.empty()) throw ArgumentError("attack", "''", "the text is empty");
    if (!raster.missing_glyphs(a.text, options.style.font).empty())
      throw ArgumentError("attack", fmt::format("'{}'", a.text),
                          fmt::format("the font {} has no glyph for some of its characters", options.style.font));
    targets.push_back(a.target.empty() ? std::nullopt
                                       : std::optional<size_t>(classifier.class_index(a.target, "target")));
  }
  return targets;
}

}  // namespace

AttackRun typographic_attack(CLIP& model, const Classifier& classifier, const std::vector<fs::path>& images,
                             const std::vector<Attack>& attacks, const AttackOptions& options) {
  const auto targets = check_attacks(classifier, images, attacks, options);
  const Classifier cls = classifier.to(model->device());
  std::vector<std::vector<std::optional<Row>>> rows(attacks.size(), std::vector<std::optional<Row>>(images.size()));
  AttackRun run;
  run.inputs = static_cast<int64_t>(images.size());
  std::ofstream out;
  if (!options.checkpoint.empty()) out = open_checkpoint(classifier, images, attacks, options, rows, run.resumed);

  torch::NoGradGuard no_grad;
  const int n_px = static_cast<int>(model->config().image_resolution);
  Progress bar("attack: image x attack", static_cast<int64_t>(images.size() * attacks.size()), "", options.progress);
  bar.resume_at(run.resumed);
  run.clean_top1.assign(images.size(), -1);
  std::vector<std::string> unreadable(images.size());
  for (size_t start = 0; start < images.size(); start += static_cast<size_t>(options.chunk)) {
    const size_t end = std::min(images.size(), start + static_cast<size_t>(options.chunk));
    // Decoded also when every attack is done, for the clean answers.
    const auto base = load_chunk(images, start, end, options.layout, n_px, unreadable);
    std::vector<const Image*> readable;
    std::vector<size_t> where;
    for (size_t i = start; i < end; ++i)
      if (base[i - start]) readable.push_back(&*base[i - start]), where.push_back(i);
    const auto clean = classify(model, cls, readable, options.batch_size);
    for (size_t r = 0; r < where.size(); ++r) run.clean_top1[where[r]] = clean[r];
    for (size_t a = 0; a < attacks.size(); ++a) {
      if (std::all_of(rows[a].begin() + static_cast<int64_t>(start), rows[a].begin() + static_cast<int64_t>(end),
                      [](const auto& row) { return row.has_value(); }))
        continue;
      const auto [after, cover] = attack_images(model, cls, readable, attacks[a].text, options);
      std::string lines;
      for (size_t i = start, r = 0; i < end; ++i) {
        Row row;
        if (r < where.size() && where[r] == i) row = {clean[r], after[r], cover[r]}, ++r;
        if (!rows[a][i]) bar.add(1);
        rows[a][i] = row;
        lines += fmt::format("{},{},{},{},{}\n", a, i, row.clean, row.attacked, row.cover);
      }
      if (out.is_open()) out << lines << std::flush;
    }
  }
  bar.finish();
  if (out.is_open() && !out) throw ArgumentError("checkpoint", options.checkpoint.string(), "could not be written");

  for (size_t i = 0; i < images.size(); ++i)
    if (!unreadable[i].empty()) run.skipped.push_back(fmt::format("{}: {}", images[i].string(), unreadable[i]));
  run.images = run.inputs - static_cast<int64_t>(run.skipped.size());
  if (run.images == 0)
    throw Error(fmt::format("none of the {} images could be read (first: {})", images.size(), run.skipped.front()));
  for (size_t a = 0; a < attacks.size(); ++a) {
    const size_t target = targets[a] ? *targets[a] : most_attracted(rows[a], cls.classes.size());
    run.outcomes.push_back(count_outcome({attacks[a].text, cls.classes[target]}, target, rows[a]));
  }
  return run;
}

void write_attack_examples(const fs::path& folder, const fs::path& image, const std::vector<AttackOutcome>& outcomes,
                           const AttackOptions& options, int n_px, size_t count) {
  Image base = read_image(image);
  if (!options.layout.before_preprocessing) base = resize_and_center_crop(base, n_px);
  TextRasterizer raster;
  for (size_t a = 0; a < std::min(count, outcomes.size()); ++a) {
    Image x = base;
    draw_attack(x, outcomes[a].attack.text, options.layout, raster, options.style);
    write_png(folder / fmt::format("example-{}.png", a + 1), x);
  }
}

std::string attack_table(const std::vector<AttackOutcome>& outcomes, const PublishedAttacks* published) {
  std::string s = fmt::format("{:<18} {:<34} {:>6} {:>9} {:>9} {:>9} {:>9} {:>9} {:>7}\n", "text", "target", "images",
                              "success", "chg_to", "already", "chg_away", "neither", "cover");
  for (const auto& o : outcomes) {
    s += fmt::format("{:<18} {:<34} {:>6} {:>8.1f}% {:>8.1f}% {:>8.1f}% {:>8.1f}% {:>8.1f}% {:>6.2f}%\n", o.attack.text,
                     o.attack.target, o.images, 100 * o.success(), 100 * o.fraction(o.changed_to),
                     100 * o.fraction(o.already_equal), 100 * o.fraction(o.changed_away),
                     100 * o.fraction(o.both_not_target), 100 * o.pixel_cover);
    if (published)
      if (const AttackOutcome* p = published->find(o.attack.text))
        s += fmt::format("{:<18} {:<34} {:>6} {:>8.1f}% {:>8.1f}% {:>8.1f}% {:>8.1f}% {:>8.1f}% {:>6.2f}%\n",
                         "  article", p->attack.target + " (RN50x4 probe)", p->images, 100 * p->success(),
                         100 * p->fraction(p->changed_to), 100 * p->fraction(p->already_equal),
                         100 * p->fraction(p->changed_away), 100 * p->fraction(p->both_not_target),
                         100 * p->pixel_cover);
    if (published)
      for (const auto& n : ntua_attacks())
        if (n.text == o.attack.text)
          s += fmt::format("{:<18} {:<34} {:>6} {:>8.1f}%\n", "  NTUA", n.target + " (RN50 zero-shot)", "",
                           100 * n.success);
  }
  return s;
}

}  // namespace clipscope::experiments
