#include "cli/context.h"

#include <fmt/format.h>

#include <algorithm>
#include <future>

#include "core/hub/download.h"
#include "core/hub/zoo.h"
#include "core/util/error.h"
#include "zeroshot/zeroshot.h"

namespace clipscope::cli {

LoadOptions Context::load_options() const {
  LoadOptions o;
  o.device = parse_device(device);
  o.cache_dir = cache_dir;
  o.progress = !quiet;
  if (!activation.empty()) {
    try {
      o.activation = parse_activation(activation);
    } catch (const Error&) {
      throw Error(fmt::format("--act {}: expected gelu or quickgelu", activation));
    }
  }
  o.note = [](std::string_view note) {
    fmt::print(stderr, "clipscope: note: {}; --act gelu or --act quickgelu chooses\n", note);
  };
  return o;
}

CLIP Context::load_model(const std::string& spec, const std::string& precision) const {
  set_threads(threads);
  LoadOptions options = load_options();
  options.precision = parse_precision(precision, options.device);
  return load_clip(spec, options);
}

std::pair<CLIP, atlas::ModelIdentity> Context::load_identified_model(const std::string& spec,
                                                                     const std::string& precision) const {
  // Hashing a checkpoint takes about a second per 400 MB: do it while the model loads.
  const std::filesystem::path checkpoint = resolve_model_path(spec, load_options());
  auto checksum = std::async(std::launch::async, [checkpoint] { return sha256_file(checkpoint); });
  CLIP model = load_model(spec, precision);
  return {model, atlas::ModelIdentity{spec, checksum.get()}};
}

Tokenizer Context::load_tokenizer(const std::optional<std::string>& vocab, const std::string& model_spec,
                                  const CLIP& model) const {
  return Tokenizer(resolve_vocab_path(vocab, load_options(), model_spec), static_cast<int>(model->config().vocab_size));
}

torch::Tensor Context::zero_shot_weights(const std::filesystem::path& model_file,
                                         const std::filesystem::path& vocab_file, CLIP& model,
                                         const Tokenizer& tokenizer, const std::vector<std::string>& labels,
                                         const std::vector<std::string>& templates, bool truncate,
                                         bool no_cache) const {
  if (no_cache) return clipscope::zero_shot_weights(model, tokenizer, labels, templates, truncate);
  const LoadOptions load = load_options();
  const std::string identity = file_identity(model_file) + "|" + file_identity(vocab_file);
  return zero_shot_weights_cached(model, tokenizer, labels, templates, identity,
                                  load.cache_dir.empty() ? default_cache_dir() : load.cache_dir, truncate);
}

void add_model_option(CLI::App& cmd, std::string& model) {
  cmd.add_option("-m,--model", model,
                 "demo (clipscope's own, shipped), an official name (RN50, ViT-B/32, ...; see `clipscope models`) "
                 "or a checkpoint path")
      ->default_val(std::string(kDemoModelName));
}

void add_precision_option(CLI::App& cmd, std::string& precision) {
  cmd.add_option("--precision", precision,
                 "exact (OpenAI's fp32 computation op for op), fp32 (batch norms folded, channels-last), bf16, or auto "
                 "(bf16 where the CPU or GPU computes it natively, else fp32)")
      ->default_val("auto");
}

void add_truncate_option(CLI::App& cmd, bool& truncate) {
  cmd.add_flag(
      "--truncate", truncate,
      "Cut texts longer than the model's context (77 tokens for OpenAI's) as clip.tokenize(truncate=True) does, "
      "instead of refusing them");
}

void add_vocab_option(CLI::App& cmd, std::optional<std::string>& vocab) {
  cmd.add_option("--vocab", vocab,
                 "BPE merges file (default: the one beside the checkpoint, else $CLIPSCOPE_VOCAB, else OpenAI's "
                 "bpe_simple_vocab_16e6.txt.gz, cached)");
}

std::string flag_message(const CLI::App& app, const ArgumentError& e) {
  std::string flag = "--" + e.parameter();
  std::replace(flag.begin(), flag.end(), '_', '-');
  for (const CLI::App* command = &app; command;) {  // the global options, then each command that ran
    if (command->get_option_no_throw(flag))
      return flag + (e.value().empty() ? "" : " " + e.value()) + ": " + e.problem();
    const auto ran = command->get_subcommands();
    command = ran.empty() ? nullptr : ran.front();
  }
  return e.what();
}

void create_output_folder(const std::string& out) {
  if (out.empty()) return;
  std::error_code ec;
  std::filesystem::create_directories(out, ec);
  if (ec) throw Error(fmt::format("--out {}: cannot create the folder ({})", out, ec.message()));
}

}  // namespace clipscope::cli
