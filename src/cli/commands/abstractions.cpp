// clipscope attribute | intervene | emotion-atlas | probe: how neurons are used (the article's "Using
// Abstractions"): which units raise a text's logit, and what editing a unit does to
// zero-shot logits.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <regex>

#include "abstractions/attribution.h"
#include "abstractions/emotion_atlas.h"
#include "abstractions/emotion_codes.h"
#include "abstractions/intervene.h"
#include "abstractions/probe_report.h"
#include "atlas/atlas.h"
#include "atlas/indexer.h"
#include "cli/context.h"
#include "core/image/image.h"
#include "core/image/stream.h"
#include "core/model/tensor_io.h"
#include "core/raster/text.h"
#include "core/util/csv.h"
#include "core/util/error.h"
#include "core/util/files.h"
#include "core/util/strings.h"
#include "world/catalog.h"
#include "zeroshot/zeroshot.h"

namespace clipscope::cli {

namespace fs = std::filesystem;

namespace {

// --templates: "emotions" (the article's three prompts), "none" (the text alone) or a file.
std::vector<std::string> templates_option(const std::string& value) {
  if (value == "emotions") return abstractions::emotion_templates();
  if (value == "none") return {};
  return read_templates(value);
}

void add_attribute_command(CLI::App& app, Context& ctx) {
  struct Options {
    std::string model, precision, texts_file, templates = "emotions", out, atlas;
    std::optional<std::string> vocab;
    std::vector<std::string> texts;
    abstractions::AttributionOptions run;
    abstractions::AttributionSheetOptions sheet;
    int top = 10;
  };
  auto o = std::make_shared<Options>();
  auto* cmd = app.add_subcommand(
      "attribute", "Which image units raise a text's logit (the bilinear view, the attention pool taken as affine)");
  add_model_option(*cmd, o->model);
  add_vocab_option(*cmd, o->vocab);
  add_precision_option(*cmd, o->precision);
  cmd->add_option("-t,--text", o->texts, "Texts to attribute (repeat, or several after one flag)");
  cmd->add_option("--texts", o->texts_file, "A file of texts, one per line");
  cmd->add_option("--layer", o->run.point, "The image layer (default: the last, whose units have directions)");
  cmd->add_option("--templates", o->templates,
                  "Prompts averaged per text: 'emotions' (the article's three), 'none' (the text alone) or a file "
                  "with {} for the text")
      ->capture_default_str();
  cmd->add_option("--top", o->top, "Units printed per text")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("-o,--out", o->out,
                  "Folder for attribution.npy (texts x units), attribution.csv and .json (and with --atlas "
                  "units-N.png per text)");
  cmd->add_option("--atlas", o->atlas,
                  "An atlas of this model indexing the layer: per text, a sheet of its top units' top images");
  cmd->add_option("--sheet-units", o->sheet.units, "Units per sheet (with --atlas)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--examples", o->sheet.examples, "Images per unit on the sheet (with --atlas)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_flag("--center", o->run.center,
                "Subtract the texts' mean vector (what sets each text apart from the others given; CLIP's text "
                "embeddings share a large common component)");
  add_truncate_option(*cmd, o->run.truncate);
  cmd->callback([&ctx, o] {
    std::vector<std::string> texts = o->texts;
    if (!o->texts_file.empty())
      for (auto& t : read_list_file(o->texts_file, "texts")) texts.push_back(std::move(t));
    if (texts.empty()) throw ArgumentError("texts", "", "give texts with --text or --texts");
    if (!o->atlas.empty() && o->out.empty())
      throw ArgumentError("out", "", "--atlas draws sheets into the --out folder: give one");
    o->run.templates = templates_option(o->templates);
    create_output_folder(o->out);
    std::optional<atlas::Atlas> atlas;
    if (!o->atlas.empty()) atlas.emplace(atlas::Atlas::open(o->atlas));
    auto [model, identity] = ctx.load_identified_model(o->model, o->precision);
    if (atlas) atlas::require_atlas_model(*atlas, identity);
    const Tokenizer tokenizer = ctx.load_tokenizer(o->vocab, o->model, model);
    const auto a = abstractions::attribute_texts(model, tokenizer, texts, o->run);
    std::string csv = "text,rank,unit,score\n";
    for (size_t t = 0; t < a.texts.size(); ++t) {
      fmt::print("{}\n", a.texts[t]);
      int rank = 0;
      for (const auto& [unit, score] : a.top(t, o->top)) {
        fmt::print("  {}:{:<6} {:+.4f}\n", a.point, unit, score);
        csv += fmt::format("{},{},{},{}\n", csv_field(a.texts[t]), ++rank, unit, score);
      }
    }
    if (o->out.empty()) return;
    write_npy_tensor(fs::path(o->out) / "attribution.npy", a.scores);
    write_file_atomically(fs::path(o->out) / "attribution.csv", csv);
    const nlohmann::json j = {{"model", o->model},          {"point", a.point},
                              {"texts", a.texts},           {"templates", o->run.templates},
                              {"centered", o->run.center},  {"units", a.scores.size(1)},
                              {"scores", "attribution.npy"}};
    write_file_atomically(fs::path(o->out) / "attribution.json", j.dump(2) + "\n");
    if (atlas)
      for (size_t t = 0; t < a.texts.size(); ++t)
        abstractions::write_attribution_sheet(fs::path(o->out) / fmt::format("units-{}.png", t), a, t, *atlas,
                                              o->sheet);
    if (!ctx.quiet)
      fmt::print(stderr, "wrote {}/attribution.npy, .csv and .json{}\n", o->out,
                 atlas ? fmt::format(" and {} sheets (units-N.png)", a.texts.size()) : "");
  });
}

// "visual.layer4:12" or "visual.layer4:12,40" -> point and units.
abstractions::PointEdit parse_unit(const std::string& text) {
  static const std::regex form(R"(^(.+):([0-9]+(,[0-9]+)*)$)");
  std::smatch m;
  if (!std::regex_match(text, m, form))
    throw ArgumentError("unit", text, "expected LAYER:UNIT or LAYER:UNIT,UNIT,... (e.g. visual.layer4:12)");
  abstractions::PointEdit e;
  e.point = m[1].str();
  for (const auto& u : split(m[2].str(), ',')) e.edit.units.push_back(std::stoll(u));
  return e;
}

void add_intervene_command(CLI::App& app, Context& ctx) {
  struct Options {
    std::string model, precision, templates = "none";
    std::optional<std::string> vocab;
    std::vector<std::string> units, images, labels;
    std::optional<double> set, add, scale;
    bool blank = false;
  };
  auto o = std::make_shared<Options>();
  auto* cmd = app.add_subcommand(
      "intervene",
      "Edit units during the forward pass (set, add, scale) and compare zero-shot logits before and after");
  add_model_option(*cmd, o->model);
  add_vocab_option(*cmd, o->vocab);
  add_precision_option(*cmd, o->precision);
  cmd->add_option("--unit", o->units, "Units to edit: LAYER:UNIT[,UNIT...] (repeatable)")->required();
  auto* set = cmd->add_option("--set", o->set, "Set the units to this value");
  auto* add = cmd->add_option("--add", o->add, "Add this value to the units");
  auto* scale = cmd->add_option("--scale", o->scale, "Multiply the units by this factor");
  set->excludes(add)->excludes(scale);
  add->excludes(scale);
  cmd->add_option("--image", o->images, "Images (files)")->check(CLI::ExistingFile);
  cmd->add_flag("--blank", o->blank, "Also a blank image (uniform mid-grey), as the article's footnote uses");
  cmd->add_option("-l,--labels", o->labels, "Labels whose logits are compared")->required();
  cmd->add_option("--templates", o->templates,
                  "Prompts per label: 'none' (the label alone), 'emotions' (the article's three) or a file")
      ->capture_default_str();
  cmd->callback([&ctx, o] {
    if (!o->set && !o->add && !o->scale) throw ArgumentError("edit", "", "give one of --set, --add or --scale");
    if (o->images.empty() && !o->blank) throw ArgumentError("images", "", "give --image files or --blank");
    std::vector<abstractions::PointEdit> edits;
    for (const auto& u : o->units) {
      auto e = parse_unit(u);
      e.edit.op = o->set ? UnitEdit::Op::Set : o->add ? UnitEdit::Op::Add : UnitEdit::Op::Scale;
      e.edit.value = o->set ? *o->set : o->add ? *o->add : *o->scale;
      edits.push_back(std::move(e));
    }
    CLIP model = ctx.load_model(o->model, o->precision);
    const Tokenizer tokenizer = ctx.load_tokenizer(o->vocab, o->model, model);
    const int n_px = static_cast<int>(model->config().image_resolution);
    std::vector<Image> images;
    std::vector<std::string> names;
    for (const auto& path : o->images) {
      images.push_back(read_image(path));
      names.push_back(path);
    }
    if (o->blank) {
      images.push_back(blank_image(n_px, n_px, {128, 128, 128}));
      names.push_back("blank");
    }
    const auto r =
        abstractions::intervene(model, tokenizer, preprocess_batch(images, n_px, model->config().normalization), edits,
                                o->labels, templates_option(o->templates));
    for (size_t i = 0; i < names.size(); ++i) {
      fmt::print("{}\n  {:<32} {:>9} {:>9} {:>9}\n", names[i], "label", "before", "after", "change");
      for (size_t l = 0; l < r.labels.size(); ++l) {
        const double b = r.before[static_cast<int64_t>(i)][static_cast<int64_t>(l)].item<double>();
        const double a = r.after[static_cast<int64_t>(i)][static_cast<int64_t>(l)].item<double>();
        fmt::print("  {:<32} {:9.3f} {:9.3f} {:+9.3f}\n", r.labels[l], b, a, a - b);
      }
    }
  });
}

// The options every feeling wheel command shares: the wheel, the layer and the prompts.
void add_wheel_options(CLI::App& cmd, std::string& wheel, std::string& layer, std::string& templates) {
  cmd.add_option("--wheel", wheel, "The feeling wheel (default: ../shared/data/words/feeling_wheel.tsv)")
      ->check(CLI::ExistingFile);
  cmd.add_option("--layer", layer, "The image layer (default: the last)");
  cmd.add_option("--templates", templates,
                 "Prompts per word: 'emotions' (the article's three), 'none' or a file with {}")
      ->capture_default_str();
}

// --wheel, or the one in ../shared.
fs::path wheel_option(const std::string& wheel) {
  const fs::path path = wheel.empty() ? world::shared_data_file("data/words/feeling_wheel.tsv") : fs::path(wheel);
  if (path.empty())
    throw ArgumentError("wheel", "", "no feeling wheel found: give one (../shared/data/words/feeling_wheel.tsv)");
  return path;
}

void add_emotion_atlas_command(CLI::App& app, Context& ctx) {
  struct Options {
    std::string model, precision, templates = "emotions", out, wheel;
    std::optional<std::string> vocab;
    abstractions::EmotionAtlasOptions run;
    bool json = false;
  };
  auto o = std::make_shared<Options>();
  auto* cmd = app.add_subcommand(
      "emotion-atlas", "The article's atlas of emotions: NMF of the feeling wheel words' attribution vectors");
  add_model_option(*cmd, o->model);
  add_vocab_option(*cmd, o->vocab);
  add_precision_option(*cmd, o->precision);
  add_wheel_options(*cmd, o->wheel, o->run.attribution.point, o->templates);
  cmd->add_option("--factors", o->run.factors, "NMF solutions to compute")->capture_default_str();
  cmd->add_option("--iterations", o->run.nmf.iterations, "NMF iterations at most")->capture_default_str();
  cmd->add_option("--seed", o->run.nmf.seed, "NMF's random start")->capture_default_str();
  cmd->add_flag("!--no-center", o->run.center,
                "Factorize the words' attribution vectors as they are, without subtracting their mean");
  cmd->add_option("-o,--out", o->out,
                  "Folder for emotion-atlas.json, attributions.npy, and per solution a wheel and (2 factors) a "
                  "scatter PNG");
  cmd->add_flag("--json", o->json, "Print the JSON instead of the table");
  cmd->callback([&ctx, o] {
    o->run.wheel = wheel_option(o->wheel);
    o->run.attribution.templates = templates_option(o->templates);
    create_output_folder(o->out);
    CLIP model = ctx.load_model(o->model, o->precision);
    const Tokenizer tokenizer = ctx.load_tokenizer(o->vocab, o->model, model);
    const auto atlas = abstractions::emotion_atlas(model, tokenizer, o->run);
    auto json = atlas.to_json();
    json["model"] = o->model;
    json["templates"] = o->run.attribution.templates;
    if (!o->out.empty()) {
      const fs::path out(o->out);
      write_npy_tensor(out / "attributions.npy", atlas.attributions);
      write_file_atomically(out / "emotion-atlas.json", json.dump(2) + "\n");
      for (const auto& f : atlas.factorizations) {
        abstractions::write_emotion_wheel(out / fmt::format("wheel-{}.png", f.factors), atlas, f);
        if (f.factors == 2) abstractions::write_emotion_scatter(out / "scatter-2.png", atlas, f);
      }
      if (!ctx.quiet) fmt::print(stderr, "wrote {}/emotion-atlas.json, attributions.npy and the PNGs\n", o->out);
    }
    if (o->json)
      fmt::print("{}\n", json.dump(2));
    else
      fmt::print("{}", atlas.table());
  });
}

void add_emotion_codes_command(CLI::App& app, Context& ctx) {
  struct Options {
    std::string model, precision, templates = "emotions", out, wheel, exclude, lexical_from;
    std::optional<std::string> vocab;
    std::vector<std::string> images;
    abstractions::EmotionCodesOptions run;
    bool json = false;
  };
  auto o = std::make_shared<Options>();
  auto* cmd = app.add_subcommand(
      "emotion-codes",
      "Each feeling wheel word as a few units (\"jealous = a + b - c\"): a sparse logistic regression on the words' "
      "attribution vectors");
  add_model_option(*cmd, o->model);
  add_vocab_option(*cmd, o->vocab);
  add_precision_option(*cmd, o->precision);
  cmd->add_option("-i,--images", o->images, "Images (folders, files or .txt lists) the codes are fitted on")
      ->required();
  add_wheel_options(*cmd, o->wheel, o->run.attribution.point, o->templates);
  cmd->add_option("--units-per-word", o->run.probe.neurons_per_class, "The codes' mean length")->capture_default_str();
  cmd->add_option("--path", o->run.probe.path, "Regularization path points")->capture_default_str();
  cmd->add_option("--iterations", o->run.probe.max_iterations, "Solver iterations per path point at most")
      ->capture_default_str();
  cmd->add_option("--validation", o->run.probe.validation, "Share of the images held out to measure agreement")
      ->capture_default_str();
  cmd->add_option("--seed", o->run.probe.seed, "Seed of the held-out split")->capture_default_str();
  cmd->add_option("--exclude", o->exclude, "A file of units no code may use (one per line or comma-separated)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--lexical-from", o->lexical_from,
                  "An atlas with a word database for the layer: leave out its lexical units (the rule of "
                  "'wordvec --mask-lexical', docs/words.md)");
  cmd->add_option("--label-words", o->run.label_words, "Wheel words naming each unit")->capture_default_str();
  cmd->add_option("--batch", o->run.batch_size, "Images per batch")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("-o,--out", o->out, "Folder for codes.json, codes.csv, weights.npy and codes.png");
  cmd->add_flag("--json", o->json, "Print the JSON instead of the table");
  cmd->callback([&ctx, o] {
    o->run.wheel = wheel_option(o->wheel);
    o->run.attribution.templates = templates_option(o->templates);
    const auto images = collect_image_paths(o->images);
    if (images.empty()) throw ArgumentError("images", fmt::format("{}", fmt::join(o->images, " ")), "holds no images");
    create_output_folder(o->out);
    CLIP model = ctx.load_model(o->model, o->precision);
    const Tokenizer tokenizer = ctx.load_tokenizer(o->vocab, o->model, model);
    o->run.exclude_file = o->exclude;
    o->run.lexical_atlas = o->lexical_from;
    o->run.progress = !ctx.quiet;
    o->run.probe.progress = !ctx.quiet;
    const auto codes = abstractions::emotion_codes(model, tokenizer, images, o->run);
    auto json = codes.to_json();
    json["model"] = o->model;
    json["templates"] = o->run.attribution.templates;
    if (!o->out.empty()) {
      abstractions::write_emotion_codes(o->out, codes, json);
      if (!ctx.quiet) fmt::print(stderr, "wrote {}/codes.json, codes.csv, weights.npy and codes.png\n", o->out);
    }
    if (o->json)
      fmt::print("{}\n", json.dump(2));
    else
      fmt::print("{}", codes.table());
  });
}

void add_probe_command(CLI::App& app, Context& ctx) {
  struct Options {
    std::string model, precision, images, atlas, features, labels, class_names, layer, reduce = "mean", out, hierarchy,
                                                                                       wordnet;
    abstractions::ProbeReportOptions run;
    int batch = 32;
    bool json = false;
  };
  auto o = std::make_shared<Options>();
  auto* cmd = app.add_subcommand(
      "probe", "Sparse linear probe: classes read off a few units (L1 path), shared units vs a class hierarchy");
  add_model_option(*cmd, o->model);
  add_precision_option(*cmd, o->precision);
  auto* images = cmd->add_option("--images", o->images, "A labelled folder: one subfolder of images per class");
  auto* atlas = cmd->add_option("--atlas", o->atlas, "An atlas with a full matrix of the layer (index --matrix)");
  auto* features = cmd->add_option("--features", o->features,
                                   "A (rows, units) .npy with NAME.paths.txt beside it (clipscope activations)");
  images->excludes(atlas)->excludes(features);
  atlas->excludes(features);
  cmd->add_option("--labels", o->labels, "With --atlas or --features: a CSV or TSV of path,class");
  cmd->add_option("--class-names", o->class_names,
                  "With --images: class names, one per subfolder in sorted order (e.g. for wnid folders)");
  cmd->add_option("--layer", o->layer,
                  "The layer whose units are the features (default: the last image layer; with --atlas its first)");
  cmd->add_option("--reduce", o->reduce, "Each unit's spatial mean or max per image")->capture_default_str();
  cmd->add_option("--l1-ratio", o->run.fit.l1_ratio, "1: lasso; below 1: elastic net (the rest is an L2 penalty)")
      ->capture_default_str();
  cmd->add_option("--neurons-per-class", o->run.fit.neurons_per_class,
                  "Target sparsity: the path point closest to this many units per class is kept")
      ->capture_default_str();
  cmd->add_option("--path", o->run.fit.path, "Points on the regularization path")->capture_default_str();
  cmd->add_option("--min-ratio", o->run.fit.lambda_min_ratio, "The path's smallest λ over its largest")
      ->capture_default_str();
  cmd->add_flag("--full-path", o->run.fit.full_path, "Go on past the target to the path's end");
  cmd->add_option("--iterations", o->run.fit.max_iterations, "Solver iterations per λ at most")->capture_default_str();
  cmd->add_option("--tolerance", o->run.fit.tolerance, "Stop a λ when no weight moves more than this (relative)")
      ->capture_default_str();
  cmd->add_option("--validation", o->run.fit.validation, "Share of each class held out")->capture_default_str();
  cmd->add_option("--seed", o->run.fit.seed, "Which images are held out")->capture_default_str();
  cmd->add_option("--hierarchy", o->hierarchy,
                  "A class hierarchy: lines of class<TAB>group<TAB>group... (default for wnid classes: WordNet)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--wordnet", o->wordnet, "WordNet 3.0's data.noun (default /usr/share/wordnet/data.noun)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--show", o->run.shown, "Classes in matrix.png (default: those of the most shared units)");
  cmd->add_option("--batch", o->batch, "Images per forward pass")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("-o,--out", o->out,
                  "Folder for probe.json, weights.npy, path.csv, path.png, matrix.png and shared-units.csv");
  cmd->add_flag("--json", o->json, "Print probe.json instead of the table");
  cmd->callback([&ctx, o] {
    if (o->images.empty() && o->atlas.empty() && o->features.empty())
      throw ArgumentError("images", "", "give --images DIR, --atlas DIR or --features NPY");
    if (o->images.empty() && o->labels.empty())
      throw ArgumentError("labels", "", "--atlas and --features need --labels FILE");
    if (o->reduce != "mean" && o->reduce != "max") throw ArgumentError("reduce", o->reduce, "must be mean or max");
    o->run.hierarchy_table = o->hierarchy;
    if (!o->wordnet.empty()) o->run.wordnet = o->wordnet;
    o->run.fit.progress = !ctx.quiet;
    create_output_folder(o->out);
    abstractions::ProbeData data;
    if (!o->features.empty()) {
      data = abstractions::probe_data_from_features(o->features, o->labels);
    } else if (!o->atlas.empty()) {
      std::string layer = o->layer;
      if (layer.empty()) layer = atlas::Atlas::open(o->atlas).layers().at(0).name;
      data = abstractions::probe_data_from_atlas(o->atlas, layer, o->reduce, o->labels);
    } else {
      CLIP model = ctx.load_model(o->model, o->precision);
      const std::string layer = o->layer.empty() ? abstractions::attribution_points(*model).at(0) : o->layer;
      std::vector<std::string> names;
      if (!o->class_names.empty()) names = read_list_file(o->class_names, "class names");
      data = abstractions::probe_data_from_folder(model, o->images, layer, parse_reduce(o->reduce), names, o->batch,
                                                  !ctx.quiet);
    }
    data.features = data.features.to(torch::Device(ctx.device));  // --device cuda fits on the GPU
    auto report = abstractions::probe_classes(std::move(data), o->run);
    report.probe = report.probe.to(torch::kCPU);
    if (!o->out.empty()) {
      abstractions::write_probe_report(o->out, report);
      if (!ctx.quiet)
        fmt::print(stderr, "wrote {}/probe.json, weights.npy, path.csv, path.png and matrix.png\n", o->out);
    }
    if (o->json) {
      auto j = report.probe.to_json();
      if (report.shared) j["shared_units"] = report.shared->to_json(report.probe);
      fmt::print("{}\n", j.dump(2));
    } else {
      fmt::print("{}", report.table());
    }
  });
}

}  // namespace

void add_abstraction_commands(CLI::App& app, Context& ctx) {
  add_attribute_command(app, ctx);
  add_intervene_command(app, ctx);
  add_emotion_atlas_command(app, ctx);
  add_emotion_codes_command(app, ctx);
  add_probe_command(app, ctx);
}

}  // namespace clipscope::cli
