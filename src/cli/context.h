#pragma once
// What every subcommand shares: global options and the model/tokenizer they name.
#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include "atlas/indexer.h"
#include "core/model/clip.h"
#include "core/model/loader.h"
#include "core/text/tokenizer.h"
#include "core/util/error.h"
#include "world/scene.h"

namespace clipscope::cli {

struct Context {
  // Global options.
  std::string device = "cpu";
  int threads = 0;  // 0 = every core
  std::string cache_dir;
  std::string activation;  // --act: "gelu", "quickgelu", or empty (the checkpoint's config decides)
  bool quiet = false;
  std::string command_line;  // as typed, recorded in what a command writes (atlases)

  LoadOptions load_options() const;
  // precision: "exact", "fp32", "bf16" or "auto" (see core/model/precision.h).
  CLIP load_model(const std::string& spec, const std::string& precision = "exact") const;
  // The model with its identity (the spec and its checkpoint's SHA-256), as an
  // atlas records it; the checkpoint is hashed while the model loads.
  std::pair<CLIP, atlas::ModelIdentity> load_identified_model(const std::string& spec,
                                                              const std::string& precision) const;
  // The tokenizer for a model: `vocab` path when given, else the merges file beside
  // the model's checkpoint (the demo model's own), else the default BPE file.
  Tokenizer load_tokenizer(const std::optional<std::string>& vocab, const std::string& model_spec,
                           const CLIP& model) const;
  // Zero-shot class embeddings (zero_shot_weights), kept in the cache folder under a key
  // of the model's and vocabulary's files (as resolve_model_path and resolve_vocab_path
  // give them), the labels and the templates, unless no_cache.
  torch::Tensor zero_shot_weights(const std::filesystem::path& model_file, const std::filesystem::path& vocab_file,
                                  CLIP& model, const Tokenizer& tokenizer, const std::vector<std::string>& labels,
                                  const std::vector<std::string>& templates, bool truncate, bool no_cache) const;
};

// A library's ArgumentError as the user typed it: the parameter replaced by the
// flag of the command that ran ("batch_size 0: ..." -> "--batch-size 0: ..."),
// or the library's message when no flag has the parameter's name.
std::string flag_message(const CLI::App& app, const ArgumentError& e);

// Each subcommand adds itself to the app; its callback runs after parsing.
void add_models_commands(CLI::App& app, Context& ctx);  // models, fetch
void add_tokenize_command(CLI::App& app, Context& ctx);
void add_layers_command(CLI::App& app, Context& ctx);
void add_classify_command(CLI::App& app, Context& ctx);
void add_embed_commands(CLI::App& app, Context& ctx);  // embed, activations
void add_render_command(CLI::App& app, Context& ctx);
void add_index_commands(CLI::App& app, Context& ctx);        // index, merge
void add_atlas_query_commands(CLI::App& app, Context& ctx);  // top, stats, buckets, condprob, categories
void add_words_commands(CLI::App& app, Context& ctx);        // diff, words, word-units, unit-words, wordvec, region-map
void add_optvis_commands(CLI::App& app, Context& ctx);       // visualize, facet-probe, preimage, deepdream
void add_serve_command(CLI::App& app, Context& ctx);         // serve
void add_tour_command(CLI::App& app, Context& ctx);          // tour

void add_world_command(CLI::App& app, Context& ctx);
void add_demo_commands(CLI::App& app, Context& ctx);         // train-demo, demo-report
void add_experiment_commands(CLI::App& app, Context& ctx);   // gap, stroop, attack, fit-probe, in-the-wild
void add_abstraction_commands(CLI::App& app, Context& ctx);  // attribute, intervene, emotion-atlas, probe
void add_maximal_text_command(CLI::App& app, Context& ctx);
void add_circuits_commands(CLI::App& app, Context& ctx);  // expanded-weights, residual-share, contributions
void add_label_command(CLI::App& app, Context& ctx);      // label, families, audit
// The synthetic world's options (proportions of scenes, caption coupling).
void add_world_options(CLI::App& cmd, world::WorldOptions& options);

// Adds --model (default: the shipped demo model) and --vocab to a subcommand.
void add_model_option(CLI::App& cmd, std::string& model);
void add_vocab_option(CLI::App& cmd, std::optional<std::string>& vocab);
// Adds --truncate: texts longer than the context are cut as clip.tokenize(truncate=True)
// cuts them (the last kept token becomes end-of-text) instead of being refused.
void add_truncate_option(CLI::App& cmd, bool& truncate);
// Creates the folder of --out (nothing when empty); throws Error naming the flag.
void create_output_folder(const std::string& out);
// Adds --precision (default auto) to a forward-only subcommand.
void add_precision_option(CLI::App& cmd, std::string& precision);

}  // namespace clipscope::cli
