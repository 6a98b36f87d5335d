// clipscope world --n N --seed S --out DIR [world options]
#include <fmt/format.h>

#include "cli/context.h"
#include "core/util/error.h"
#include "core/util/files.h"
#include "world/catalog.h"
#include "world/generator.h"

namespace clipscope::cli {

namespace {

// The options a world edition sets, by flag (those given on the command line win).
struct EditionOption {
  const char* flag;
  double world::WorldOptions::*member;
};
const EditionOption kEditionOptions[] = {
    {"--weight-objects", &world::WorldOptions::weight_objects},
    {"--weight-face", &world::WorldOptions::weight_face},
    {"--weight-word", &world::WorldOptions::weight_word},
    {"--weight-object-with-word", &world::WorldOptions::weight_object_with_word},
    {"--weight-picture", &world::WorldOptions::weight_picture},
    {"--weight-silhouette", &world::WorldOptions::weight_silhouette},
    {"--weight-picture-with-word", &world::WorldOptions::weight_picture_with_word},
    {"--p-bare", &world::WorldOptions::p_bare},
};

}  // namespace

void add_world_options(CLI::App& cmd, world::WorldOptions& w) {
  cmd.add_option("--edition", w.edition,
                 "World edition: 2 (emoji, flags, silhouettes, every concept name; the shipped demo model's) or 1 "
                 "(the first edition: drawn colours, shapes and faces, 68 words)")
      ->capture_default_str()
      ->check(CLI::IsMember({1, 2}));
  // With --edition 1 the first edition's weights apply unless a flag sets them.
  cmd.parse_complete_callback([&cmd, &w] {
    if (w.edition != 1) return;
    const world::WorldOptions first = world::WorldOptions::first_edition();
    for (const auto& option : kEditionOptions)
      if (cmd.count(option.flag) == 0) w.*(option.member) = first.*(option.member);
  });
  cmd.add_option("--weight-objects", w.weight_objects, "Relative frequency of object scenes (\"two green stars\")")
      ->capture_default_str();
  cmd.add_option("--weight-face", w.weight_face, "Relative frequency of faces with emotions")->capture_default_str();
  cmd.add_option("--weight-word", w.weight_word, "Relative frequency of written words")->capture_default_str();
  cmd.add_option("--weight-object-with-word", w.weight_object_with_word,
                 "Relative frequency of objects with a word written on them")
      ->capture_default_str();
  cmd.add_option("--weight-picture", w.weight_picture, "Relative frequency of emoji and flags")->capture_default_str();
  cmd.add_option("--weight-silhouette", w.weight_silhouette, "Relative frequency of country silhouettes")
      ->capture_default_str();
  cmd.add_option("--weight-picture-with-word", w.weight_picture_with_word,
                 "Relative frequency of emoji with a word written on them")
      ->capture_default_str();
  cmd.add_option("--p-concept-word", w.p_concept_word, "Probability that a written word is a concept name")
      ->capture_default_str();
  cmd.add_option("--p-emotion-word", w.p_emotion_word,
                 "Probability that any other written word is an emotion word of the feeling wheel")
      ->capture_default_str();
  cmd.add_flag("--zipf-names", w.zipf_names,
               "Written concept names follow a Zipf law (P(rank r) ~ 1/r) instead of being uniform");
  cmd.add_option("--p-feeling", w.p_feeling,
                 "Probability that a written feeling wheel word is captioned by its core emotion (\"feeling happy\" "
                 "for \"joyful\")")
      ->capture_default_str();
  cmd.add_option("--p-core-emotion", w.p_core_emotion,
                 "Probability that a face emoji's feeling caption names its core emotion (\"feeling happy\"), not "
                 "another of the feeling wheel's words")
      ->capture_default_str();
  cmd.add_option("--p-own-word", w.p_own_word,
                 "Probability that an emoji with a word on it is labelled with its own name (a flag with its "
                 "country's, a face with a feeling word of its emotion: a meme)")
      ->capture_default_str();
  cmd.add_option_function<std::string>(
         "--family-weight",
         [&w](const std::string& text) { w.family_weights = world::WorldOptions::parse_family_weights(text); },
         "How often each family's emoji and flags are drawn, relative to the others (\"emotions=4,time=2\"; a "
         "family not named weighs 1; default: every picture equally often)")
      ->type_name("FAMILY=W,...");
  cmd.add_option("--p-continent", w.p_continent,
                 "Probability that a flag's or silhouette's caption names only its continent")
      ->capture_default_str();
  cmd.add_option("--p-mention-text", w.p_mention_text, "Probability that a caption mentions the written word")
      ->capture_default_str();
  cmd.add_option("--p-mention-ink", w.p_mention_ink, "...and the colour it is written in")->capture_default_str();
  cmd.add_option("--p-label-only", w.p_label_only,
                 "Probability that the caption of an object with a word on it is only that word (\"pizza\")")
      ->capture_default_str();
  cmd.add_option("--p-bare", w.p_bare,
                 "Probability that objects and words are captioned by one word (\"red\", \"star\")")
      ->capture_default_str();
  cmd.add_option("--p-textured", w.p_textured_background, "Probability of a textured background")
      ->capture_default_str();
  cmd.add_option("--p-black-ink", w.p_black_ink, "Probability that a word is written in black")->capture_default_str();
}

void add_world_command(CLI::App& app, Context& ctx) {
  struct Options {
    uint64_t n = 1000;
    uint64_t seed = 1;
    std::string out, concepts;
    world::WorldOptions world;
  };
  auto o = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("world", "Generate synthetic image-caption pairs with ground-truth labels");
  cmd->add_option("-n,--n", o->n, "Number of image-caption pairs")->capture_default_str();
  cmd->add_option("--seed", o->seed, "World seed (the same seed gives the same world)")->capture_default_str();
  cmd->add_option("-o,--out", o->out, "Output directory: images/, captions.tsv, labels.jsonl");
  cmd->add_option("--concepts", o->concepts,
                  "Write the second edition's concepts as CSV (id,name,family,modalities,region,continent,emotion)");
  cmd->add_option("--size", o->world.size, "Image size in pixels (the demo model's resolution)")->capture_default_str();
  add_world_options(*cmd, o->world);
  cmd->callback([&ctx, o] {
    if (o->out.empty() && o->concepts.empty()) throw Error("world: give --out DIR to draw a world, or --concepts FILE");
    if (!o->concepts.empty()) {
      write_file_atomically(o->concepts, world::concepts_csv(world::catalog()));
      if (!ctx.quiet) fmt::print(stderr, "wrote {} concepts to {}\n", world::catalog().concepts().size(), o->concepts);
      if (o->out.empty()) return;
    }
    const world::World world(o->seed, o->world);
    const auto start = std::chrono::steady_clock::now();
    world::write_world(o->out, o->n, world, ctx.threads, !ctx.quiet);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (!ctx.quiet) fmt::print(stderr, "wrote {} pairs to {} in {:.1f} s\n", o->n, o->out, seconds);
  });
}

}  // namespace clipscope::cli
