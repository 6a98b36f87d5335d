// clipscope gap | stroop | attack | fit-probe | in-the-wild: the article's behavioural
// experiments on any checkpoint.
#include <fmt/format.h>

#include "cli/context.h"
#include "core/hub/zoo.h"
#include "core/image/stream.h"
#include "core/util/error.h"
#include "core/util/files.h"
#include "core/util/strings.h"
#include "experiments/gap.h"
#include "experiments/in_the_wild.h"
#include "experiments/stroop.h"
#include "experiments/typographic.h"
#include "zeroshot/classifier.h"
#include "zeroshot/zeroshot.h"

namespace clipscope::cli {

namespace fs = std::filesystem;

namespace {

void add_stroop_command(CLI::App& app, Context& ctx) {
  struct Options {
    std::string model, precision, out, published;
    std::optional<std::string> vocab;
    experiments::StroopOptions stroop;
    std::vector<std::string> words = experiments::article_stroop_words();
    bool json = false;
  };
  auto o = std::make_shared<Options>();
  auto* cmd = app.add_subcommand(
      "stroop", "The article's Stroop test: colour words in every ink, does the model report the ink or the word?");
  add_model_option(*cmd, o->model);
  add_vocab_option(*cmd, o->vocab);
  add_precision_option(*cmd, o->precision);
  cmd->add_option("--colours", o->stroop.colours, "Inks and colour words (CSS names)")->capture_default_str();
  cmd->add_option("--words", o->words, "Words written in every ink (colour words and control words)")
      ->capture_default_str();
  cmd->add_option("--prompt", o->stroop.prompt, "Zero-shot prompt, {} for the colour")->capture_default_str();
  cmd->add_option(
         "--published", o->published,
         "The article's results to print beside ours (../shared/data/typographic/paper_stroop_experiment.json)")
      ->check(CLI::ExistingFile);
  cmd->add_option("-o,--out", o->out, "Folder for stroop.json and stroop.png (the grid)");
  cmd->add_flag("--json", o->json, "Print the JSON instead of the table");
  cmd->callback([&ctx, o] {
    create_output_folder(o->out);
    CLIP model = ctx.load_model(o->model, o->precision);
    const Tokenizer tokenizer = ctx.load_tokenizer(o->vocab, o->model, model);
    const auto run = experiments::article_stroop(model, tokenizer, o->stroop, o->words, o->published);
    auto json = run.result.to_json();
    json["model"] = o->model;
    json["prompt"] = o->stroop.prompt;
    if (run.published) json["published"] = run.published->to_json();
    if (!o->out.empty()) {
      write_file_atomically(fs::path(o->out) / "stroop.json", json.dump(2) + "\n");
      experiments::write_stroop_grid(fs::path(o->out) / "stroop.png", run.result);
      if (!ctx.quiet) fmt::print(stderr, "wrote {}/stroop.json and stroop.png\n", o->out);
    }
    if (o->json)
      fmt::print("{}\n", json.dump(2));
    else
      fmt::print("{}", run.result.table(run.published ? &*run.published : nullptr));
  });
}

void add_gap_command(CLI::App& app, Context& ctx) {
  struct Options {
    std::string model, precision, captions, out;
    std::optional<std::string> vocab;
    experiments::GapRunOptions run;
    bool json = false;
  };
  auto o = std::make_shared<Options>();
  auto* cmd = app.add_subcommand(
      "gap", "The modality gap (Liang et al. 2022) on image-caption pairs: centroid distance, cones, shift sweep");
  add_model_option(*cmd, o->model);
  add_vocab_option(*cmd, o->vocab);
  add_precision_option(*cmd, o->precision);
  cmd->add_option("--captions", o->captions,
                  "Image-caption table in open_clip's CSV/TSV layout (a header row; e.g. a world's captions.tsv)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--image-column", o->run.image_column, "The table's column of image paths")->capture_default_str();
  cmd->add_option("--caption-column", o->run.caption_column, "The table's column of captions")->capture_default_str();
  cmd->add_option("--max-pairs", o->run.max_pairs, "Use the first this many pairs (0 = all)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--batch-size", o->run.batch_size, "Pairs embedded at once")->capture_default_str();
  cmd->add_option("--shifts", o->run.gap.shifts,
                  "Shift amounts along the gap vector (1: the centroids meet before normalization)")
      ->capture_default_str();
  cmd->add_option("--loss-batch", o->run.gap.loss_batch, "Pairs per block of the contrastive loss")
      ->capture_default_str();
  cmd->add_option("-o,--out", o->out, "Folder for gap.json and gap.png (the 2-D projection)");
  cmd->add_flag("--json", o->json, "Print the JSON instead of the table");
  add_truncate_option(*cmd, o->run.truncate);
  cmd->callback([&ctx, o] {
    create_output_folder(o->out);
    CLIP model = ctx.load_model(o->model, o->precision);
    const Tokenizer tokenizer = ctx.load_tokenizer(o->vocab, o->model, model);
    o->run.progress = !ctx.quiet;
    const auto run = experiments::measure_gap(model, tokenizer, o->captions, o->run);
    if (!ctx.quiet) {
      if (!run.skipped_lines.empty())
        fmt::print(stderr, "warning: skipped {} line(s) of {} (first: {})\n", run.skipped_lines.size(), o->captions,
                   run.skipped_lines.front());
      if (!run.skipped_images.empty())
        fmt::print(stderr, "warning: skipped {} unreadable image(s) (first: {}: {})\n", run.skipped_images.size(),
                   run.skipped_images.front().path.string(), run.skipped_images.front().error);
    }
    auto json = run.result.to_json();
    json["skipped_images"] = run.skipped_images.size();
    json["skipped_lines"] = run.skipped_lines.size();
    json["model"] = o->model;
    json["captions"] = o->captions;
    if (!o->out.empty()) {
      write_file_atomically(fs::path(o->out) / "gap.json", json.dump(2) + "\n");
      experiments::write_gap_plot(fs::path(o->out) / "gap.png", run.result);
      if (!ctx.quiet) fmt::print(stderr, "wrote {}/gap.json and gap.png\n", o->out);
    }
    if (o->json)
      fmt::print("{}\n", json.dump(2));
    else
      fmt::print("{}", run.result.table());
    if (!o->json && (!run.skipped_images.empty() || !run.skipped_lines.empty()))
      fmt::print("  skipped: {} unreadable image(s), {} line(s) of the table\n", run.skipped_images.size(),
                 run.skipped_lines.size());
  });
}

// The classifier an experiment asks: zero-shot over --classes (with --templates or one
// --prompt) or a linear probe from fit-probe.
struct ClassifierOptions {
  std::string classes, templates, prompt = "This is a photo of a {}", probe;
  bool no_cache = false, truncate = false;
};

void add_classifier_options(CLI::App& cmd, ClassifierOptions& o) {
  cmd.add_option("--classes", o.classes,
                 "Class names, one per line, for zero-shot classification (../shared/data/imagenet_classes.txt)");
  cmd.add_option("--templates", o.templates,
                 "Prompt templates, one per line with {} for the class (imagenet_templates.txt: the 80 of the CLIP "
                 "paper); default: --prompt");
  cmd.add_option("--prompt", o.prompt, "The one prompt used without --templates")->capture_default_str();
  cmd.add_option("--probe", o.probe, "A linear probe written by fit-probe, instead of zero-shot");
  cmd.add_flag("--no-cache", o.no_cache, "Recompute the class embeddings instead of reusing the cached ones");
  add_truncate_option(cmd, o.truncate);
}

struct LoadedModel {
  CLIP model;
  std::string identity;  // "file|size|mtime" of the checkpoint and what the classifier was made from
  Classifier classifier;
};

LoadedModel load_with_classifier(const Context& ctx, const std::string& model_spec,
                                 const std::optional<std::string>& vocab, const std::string& precision,
                                 const ClassifierOptions& o) {
  if (o.probe.empty() == o.classes.empty()) throw Error("give --classes (zero-shot) or --probe (a linear probe)");
  const LoadOptions load = ctx.load_options();
  if (o.probe.empty() && o.templates.empty() && o.prompt.find("{}") == std::string::npos)
    throw Error(fmt::format("--prompt '{}': has no {{}} for the class", o.prompt));
  const fs::path model_file = resolve_model_path(model_spec, load);
  LoadedModel m{ctx.load_model(model_file.string(), precision), file_identity(model_file), {}};
  if (!o.probe.empty()) {
    m.classifier = load_linear_probe(o.probe);
    if (m.classifier.weight.size(1) != m.model->config().embed_dim)
      throw Error(fmt::format("--probe {}: fitted on {}-d embeddings, but the model's are {}-d", o.probe,
                              m.classifier.weight.size(1), m.model->config().embed_dim));
    m.identity += "|" + file_identity(o.probe);
    return m;
  }
  const fs::path vocab_file = resolve_vocab_path(vocab, load, model_spec);  // zero-shot only: a probe needs none
  const Tokenizer tokenizer(vocab_file, static_cast<int>(m.model->config().vocab_size));
  const auto classes = read_list_file(o.classes, "classes");
  std::vector<std::string> templates = {o.prompt};
  if (!o.templates.empty()) templates = read_templates(o.templates);
  const auto weights =
      ctx.zero_shot_weights(model_file, vocab_file, m.model, tokenizer, classes, templates, o.truncate, o.no_cache);
  m.classifier = zero_shot_classifier(m.model, classes, weights);
  m.identity += "|" + file_identity(vocab_file) + "|" + file_identity(o.classes) + "|" +
                (o.templates.empty() ? o.prompt : file_identity(o.templates));
  return m;
}

// "TEXT=TARGET" or "TEXT" (aimed at the class of that name).
experiments::Attack parse_attack(const std::string& spec) {
  const auto eq = spec.rfind('=');
  if (eq == std::string::npos || eq == 0) return {spec, spec};
  return {spec.substr(0, eq), spec.substr(eq + 1)};
}

void add_attack_command(CLI::App& app, Context& ctx) {
  struct Options {
    std::string model, precision, layout = "article", apply, out, published, search;
    std::optional<std::string> vocab;
    ClassifierOptions classifier;
    std::vector<std::string> images, attacks;
    experiments::AttackOptions attack;
    int64_t max_images = 0, top = 20;
    size_t search_length = 12;
    bool json = false;
  };
  auto o = std::make_shared<Options>();
  auto* cmd = app.add_subcommand(
      "attack", "Typographic attacks: a text written 8 times on every image, the answers before and after");
  add_model_option(*cmd, o->model);
  add_vocab_option(*cmd, o->vocab);
  add_precision_option(*cmd, o->precision);
  add_classifier_options(*cmd, o->classifier);
  cmd->add_option("-i,--image", o->images, "Images: files, folders (searched recursively) or .txt/.lst lists")
      ->required();
  cmd->add_option("-a,--attack", o->attacks,
                  "Attacks as TEXT=TARGET (\"meow=Siamese cat\") or TEXT aimed at the class of that name; default: "
                  "the article's nine (iPod, pizza, rifle, radio, library, shark, trash, meow, $$$)");
  cmd->add_option("--search", o->search,
                  "Search instead: 'classes' (every class name of one word as its own attack, the article's brute "
                  "force) or a word list (each word aimed at the class it moves most images to)");
  cmd->add_option("--search-length", o->search_length, "Longest class name searched (characters)")
      ->capture_default_str();
  cmd->add_option("--top", o->top, "Attacks shown after a search")->capture_default_str();
  cmd->add_option("--layout", o->layout,
                  "Where the text goes: article (the diagonal of its example images, on the model's input crop) or "
                  "ntua (NTUA's 8 coordinates on the full-size image)")
      ->capture_default_str();
  cmd->add_option("--apply", o->apply,
                  "Draw before or after CLIP's resize and crop (default: the layout's; the article's numbers are "
                  "after, on the crop)")
      ->check(CLI::IsMember({"before", "after"}));
  cmd->add_option("--font", o->attack.style.font, "The attack's font")->capture_default_str();
  cmd->add_option("--max-images", o->max_images, "Attack only the first this many images (0 = all)")
      ->capture_default_str();
  cmd->add_option("--batch-size", o->attack.batch_size, "Images classified at once")->capture_default_str();
  cmd->add_option("--published", o->published,
                  "The article's results to print beside ours (../shared/data/typographic/paper_small_attacks.json)")
      ->check(CLI::ExistingFile);
  cmd->add_option("-o,--out", o->out,
                  "Folder for attack.json, the per-image rows and an example image per attack; a killed run "
                  "resumes from it");
  cmd->add_flag("--json", o->json, "Print the JSON instead of the table");
  cmd->callback([&ctx, o] {
    create_output_folder(o->out);
    o->attack.layout = experiments::attack_layout(o->layout, "--layout");
    if (!o->apply.empty()) o->attack.layout.before_preprocessing = o->apply == "before";
    auto m = load_with_classifier(ctx, o->model, o->vocab, o->precision, o->classifier);
    std::vector<experiments::Attack> attacks;
    if (!o->search.empty()) {
      if (!o->attacks.empty()) throw Error("--search and --attack: give one");
      if (o->search == "classes") {
        attacks = experiments::class_name_attacks(m.classifier.classes, o->search_length);
      } else {
        for (const auto& w : read_list_file(o->search, "--search")) attacks.push_back({w, ""});
      }
    } else if (o->attacks.empty()) {
      for (const auto& a : experiments::article_attacks()) {
        bool has = false;
        for (const auto& c : m.classifier.classes) has = has || ascii_lower(c) == ascii_lower(a.imagenet_class);
        if (has) attacks.push_back({a.text, a.imagenet_class});
      }
      if (attacks.empty())
        throw Error("the classifier has none of the article's target classes: name attacks with --attack");
    } else {
      for (const auto& a : o->attacks) attacks.push_back(parse_attack(a));
    }
    auto paths = collect_image_paths(o->images);
    if (o->max_images > 0 && static_cast<int64_t>(paths.size()) > o->max_images)
      paths.resize(static_cast<size_t>(o->max_images));
    o->attack.checkpoint = o->out;
    o->attack.model_identity = m.identity;
    o->attack.progress = !ctx.quiet;
    auto run = experiments::typographic_attack(m.model, m.classifier, paths, attacks, o->attack);
    if (!ctx.quiet && run.resumed > 0)
      fmt::print(stderr, "resumed: {} image x attack results read back from {}\n", run.resumed, o->out);
    if (!ctx.quiet && !run.skipped.empty())
      fmt::print(stderr, "warning: skipped {} unreadable image(s) (first: {})\n", run.skipped.size(),
                 run.skipped.front());
    if (!o->search.empty()) run.outcomes = experiments::ranked_by_success(run.outcomes);
    std::optional<experiments::PublishedAttacks> published;
    if (!o->published.empty()) published = experiments::read_published_attacks(o->published);
    auto json = run.to_json();
    json["model"] = o->model;
    json["classifier"] = m.classifier.kind;
    json["layout"] = o->attack.layout.name;
    json["applied"] = o->attack.layout.before_preprocessing ? "before preprocessing" : "after preprocessing";
    if (!o->out.empty()) {
      write_file_atomically(fs::path(o->out) / "attack.json", json.dump(2) + "\n");
      // One example per attack on the first readable image.
      for (size_t i = 0; i < paths.size(); ++i)
        if (run.clean_top1[i] >= 0) {
          experiments::write_attack_examples(o->out, paths[i], run.outcomes, o->attack,
                                             static_cast<int>(m.model->config().image_resolution));
          break;
        }
      if (!ctx.quiet) fmt::print(stderr, "wrote {}/attack.json and example images\n", o->out);
    }
    if (o->json) {
      fmt::print("{}\n", json.dump(2));
      return;
    }
    auto shown = run.outcomes;
    if (!o->search.empty() && static_cast<int64_t>(shown.size()) > o->top) shown.resize(static_cast<size_t>(o->top));
    fmt::print("{} attack(s) on {} image(s) ({}, layout {}, drawn {}):\n", run.outcomes.size(), run.images,
               m.classifier.kind, o->attack.layout.name, json["applied"].get<std::string>());
    fmt::print("{}", experiments::attack_table(shown, published ? &*published : nullptr));
    if (!run.skipped.empty()) fmt::print("  skipped: {} unreadable image(s)\n", run.skipped.size());
  });
}

void add_fit_probe_command(CLI::App& app, Context& ctx) {
  struct Options {
    std::string model, precision, images, class_names, out;
    std::optional<std::string> vocab;
    ProbeRunOptions run;
  };
  auto o = std::make_shared<Options>();
  auto* cmd =
      app.add_subcommand("fit-probe",
                         "A linear probe on image embeddings (multinomial logistic regression, L-BFGS) for attack and "
                         "in-the-wild");
  add_model_option(*cmd, o->model);
  add_precision_option(*cmd, o->precision);
  cmd->add_option("-i,--images", o->images, "A folder with one subfolder of images per class (ImageNet's layout)")
      ->required()
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--class-names", o->class_names,
                  "Names of the subfolders' classes, one per line in sorted subfolder order (imagenet_classes.txt for "
                  "wnid folders); default: the subfolder names")
      ->check(CLI::ExistingFile);
  cmd->add_option("-o,--out", o->out, "The probe (JSON; its weights beside it as NAME.weight.npy)")->required();
  cmd->add_option("--l2", o->run.fit.l2, "L2 penalty λ (λ/2 |W|² added to the mean cross-entropy)")
      ->capture_default_str();
  cmd->add_option("--max-iterations", o->run.fit.max_iterations, "L-BFGS iterations")->capture_default_str();
  cmd->add_option("--validation", o->run.fit.validation, "Share of each class held out to measure accuracy")
      ->capture_default_str();
  cmd->add_option("--seed", o->run.fit.seed, "Which images are held out")->capture_default_str();
  cmd->add_option("--batch-size", o->run.batch_size, "Images embedded at once")->capture_default_str();
  cmd->callback([&ctx, o] {
    CLIP model = ctx.load_model(o->model, o->precision);
    std::vector<std::string> names;
    if (!o->class_names.empty()) names = read_list_file(o->class_names, "--class-names");
    o->run.progress = !ctx.quiet;
    const auto run = fit_probe_on_folder(model, o->images, names, o->run);
    auto info = run.fit.to_json();
    info["model"] = o->model;
    info["images"] = o->images;
    info["l2"] = o->run.fit.l2;
    info["skipped"] = run.skipped;
    save_linear_probe(o->out, run.fit.probe, info);
    fmt::print("linear probe: {} classes, {} training and {} held-out images, {} L-BFGS evaluations, loss {:.4f}\n",
               run.fit.probe.classes.size(), run.fit.train, run.fit.validation, run.fit.iterations, run.fit.loss);
    fmt::print("  top-1: train {:.1f}%, held out {:.1f}% (top-5 {:.1f}%)\n", 100 * run.fit.train_top1,
               100 * run.fit.validation_top1, 100 * run.fit.validation_top5);
    if (run.skipped > 0) fmt::print("  skipped: {} unreadable image(s)\n", run.skipped);
  });
}

void add_in_the_wild_command(CLI::App& app, Context& ctx) {
  struct Options {
    std::string model, precision, folder, out;
    std::optional<std::string> vocab;
    ClassifierOptions classifier;
    std::vector<std::string> published;
    experiments::WildOptions wild;
    bool json = false;
  };
  auto o = std::make_shared<Options>();
  auto* cmd = app.add_subcommand(
      "in-the-wild", "The article's photos with handwritten labels, classified and set beside the article's numbers");
  add_model_option(*cmd, o->model);
  add_vocab_option(*cmd, o->vocab);
  add_precision_option(*cmd, o->precision);
  add_classifier_options(*cmd, o->classifier);
  cmd->add_option("-i,--images", o->folder,
                  "The photos, named SERIES_OBJECT-TEXT.jpg (../shared/data/typographic/in-the-wild)")
      ->required()
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--published", o->published,
                  "The article's numbers (../shared/data/typographic/paper_in_the_wild_*.json; the number in the "
                  "name is the series)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--top", o->wild.top, "Classes kept per photo")->capture_default_str();
  cmd->add_option("-o,--out", o->out, "Folder for in-the-wild.json and in-the-wild.png (a contact sheet)");
  cmd->add_flag("--json", o->json, "Print the JSON instead of the table");
  cmd->callback([&ctx, o] {
    create_output_folder(o->out);
    auto m = load_with_classifier(ctx, o->model, o->vocab, o->precision, o->classifier);
    std::vector<fs::path> published(o->published.begin(), o->published.end());
    o->wild.progress = !ctx.quiet;
    const auto run = experiments::in_the_wild(m.model, m.classifier, o->folder, published, o->wild);
    if (!ctx.quiet && !run.skipped.empty())
      fmt::print(stderr, "warning: skipped {} photo(s) (first: {})\n", run.skipped.size(), run.skipped.front());
    auto json = run.to_json();
    json["model"] = o->model;
    json["classifier"] = m.classifier.kind;
    if (!o->out.empty()) {
      write_file_atomically(fs::path(o->out) / "in-the-wild.json", json.dump(2) + "\n");
      experiments::write_wild_sheet(fs::path(o->out) / "in-the-wild.png", run);
      if (!ctx.quiet) fmt::print(stderr, "wrote {}/in-the-wild.json and in-the-wild.png\n", o->out);
    }
    if (o->json)
      fmt::print("{}\n", json.dump(2));
    else
      fmt::print("{}", run.table());
  });
}

}  // namespace

void add_experiment_commands(CLI::App& app, Context& ctx) {
  add_gap_command(app, ctx);
  add_stroop_command(app, ctx);
  add_attack_command(app, ctx);
  add_fit_probe_command(app, ctx);
  add_in_the_wild_command(app, ctx);
}

}  // namespace clipscope::cli
