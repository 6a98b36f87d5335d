// clipscope: a thin command line over the core library. Each subcommand lives in
// commands/; errors surface as one line "clipscope: <message>" and exit code 1.
#include <c10/util/Exception.h>
#include <CLI/CLI.hpp>

#include <cstdio>
#include <cstdlib>

#include "cli/context.h"
#include "core/util/crash.h"
#include "core/util/error.h"

int main(int argc, char** argv) {
  using namespace clipscope;
  cli::Context ctx;
  for (int i = 0; i < argc; ++i) ctx.command_line += (i ? " " : "") + std::string(i ? argv[i] : "clipscope");
  CLI::App app{"clipscope: find out what the neurons of CLIP models mean", "clipscope"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "clipscope 0.1.0");
  app.add_option("--device", ctx.device, "cpu, cuda or cuda:N")->default_val("cpu");
  app.add_option("--threads", ctx.threads, "CPU threads for LibTorch (default: every core)")->default_val(0);
  app.add_option(
      "--cache-dir", ctx.cache_dir,
      "Where weights and vocabularies are cached (default: $CLIPSCOPE_CACHE, else $XDG_CACHE_HOME/clipscope)");
  app.add_flag("-q,--quiet", ctx.quiet, "No progress output on stderr");
  app.add_option(
      "--act", ctx.activation,
      "The transformers' activation: gelu (LAION-trained open_clip towers) or quickgelu (OpenAI's); default: "
      "what the checkpoint's open_clip_config.json says, else quickgelu");
  // Global options may be given after the subcommand too.
  app.fallthrough();

  cli::add_models_commands(app, ctx);
  cli::add_tokenize_command(app, ctx);
  cli::add_layers_command(app, ctx);
  cli::add_classify_command(app, ctx);
  cli::add_embed_commands(app, ctx);
  cli::add_render_command(app, ctx);
  cli::add_index_commands(app, ctx);
  cli::add_atlas_query_commands(app, ctx);
  cli::add_words_commands(app, ctx);
  cli::add_optvis_commands(app, ctx);
  cli::add_serve_command(app, ctx);
  cli::add_tour_command(app, ctx);
  cli::add_world_command(app, ctx);
  cli::add_demo_commands(app, ctx);
  cli::add_experiment_commands(app, ctx);
  cli::add_abstraction_commands(app, ctx);
  cli::add_maximal_text_command(app, ctx);
  cli::add_circuits_commands(app, ctx);
  cli::add_label_command(app, ctx);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    // A usage error is one line like every other error (CLI11's own adds a second).
    std::fprintf(stderr, "clipscope: %s (see --help)\n", e.what());
    return e.get_exit_code();
  } catch (const CrashForTesting&) {
    std::_Exit(3);  // as a killed process stops: no cleanup
  } catch (const ArgumentError& e) {
    std::fprintf(stderr, "clipscope: %s\n", cli::flag_message(app, e).c_str());
    return 1;
  } catch (const Error& e) {
    std::fprintf(stderr, "clipscope: %s\n", e.what());
    return 1;
  } catch (const c10::Error& e) {
    std::string msg = e.what_without_backtrace();
    std::fprintf(stderr, "clipscope: %s\n", msg.substr(0, msg.find('\n')).c_str());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "clipscope: %s\n", e.what());
    return 1;
  }
  return 0;
}
