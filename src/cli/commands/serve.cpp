// clipscope serve --atlas ATLAS [--model M] [--labels FILE] [--host H] [--port P]
#include <fmt/format.h>

#include <csignal>
#include <memory>
#include <thread>

#include "cli/commands/serve.h"
#include "cli/context.h"
#include "core/util/error.h"
#include "serve/server.h"

namespace fs = std::filesystem;

namespace clipscope::cli {

namespace {

serve::Server* running_server = nullptr;

}  // namespace

void run_serve(Context& ctx, const ServeArgs& a) {
  if (a.port < 0 || a.port > 65535) throw Error(fmt::format("--port {}: expected 0-65535", a.port));
  if (a.render_steps < 1) throw Error(fmt::format("--render-steps {}: must be >= 1", a.render_steps));
  if (a.text_generations < 1) throw Error(fmt::format("--text-generations {}: must be >= 1", a.text_generations));
  if (a.max_upload_mb < 1 || a.max_upload_mb > 1024)
    throw Error(fmt::format("--max-upload-mb {}: expected 1-1024", a.max_upload_mb));
  serve::ViewOptions view_options;
  view_options.atlas = a.atlas;
  view_options.visualizations = a.vis_dir;
  if (!a.labels.empty()) view_options.labels = fs::path(a.labels);
  view_options.label_key = a.label_key;
  serve::AtlasView view(view_options);

  std::unique_ptr<serve::LiveModel> live;
  if (!a.model.empty()) {
    // The atlas's own precision by default, so live values compare with its statistics.
    auto [model, identity] =
        ctx.load_identified_model(a.model, a.precision.empty() ? view.atlas().settings().precision : a.precision);
    atlas::require_atlas_model(view.atlas(), identity);
    serve::LiveOptions live_options;
    live_options.render_steps = a.render_steps;
    live_options.maximal_text.generations = a.text_generations;
    live_options.model_sha256 = identity.sha256;
    live =
        std::make_unique<serve::LiveModel>(model, ctx.load_tokenizer(std::nullopt, a.model, model), view, live_options);
  }

  if (live && a.render_featured && !view.featured().is_null()) {
    // The featured units' missing feature visualizations, rendered in the background.
    int queued = 0;
    for (const auto& u : view.featured()["units"]) {
      const auto& layer = view.layer(u["layer"].get<std::string>());
      const int64_t unit = u["unit"].get<int64_t>();
      if (!view.visualizations().for_unit(layer.name, unit).empty()) continue;
      live->render(layer, unit);
      ++queued;
    }
    if (queued && !ctx.quiet)
      fmt::print(stderr,
                 "rendering the feature visualizations of {} featured units in the background ({} steps each)\n",
                 queued, a.render_steps);
  }

  serve::ServerOptions options;
  options.host = a.host;
  options.port = a.port;
  options.max_upload_bytes = static_cast<size_t>(a.max_upload_mb) << 20;
  serve::Server server(view, live.get(), options);
  const int port = server.bind();
  if (a.host != "127.0.0.1" && a.host != "localhost" && a.host != "::1" && !ctx.quiet)
    fmt::print(stderr, "warning: --host {} makes the atlas readable by every machine that can reach this one\n",
               a.host);
  // The first line is the address (tests and scripts read it); then serve until a signal.
  fmt::print("serving {} at http://{}:{}/\n", a.atlas,
             a.host.find(':') != std::string::npos ? "[" + a.host + "]" : a.host, port);
  std::fflush(stdout);
  running_server = &server;
  std::signal(SIGINT, [](int) { running_server->stop(); });
  std::signal(SIGTERM, [](int) { running_server->stop(); });
  server.listen();
  running_server = nullptr;
}

void add_serve_command(CLI::App& app, Context& ctx) {
  auto a = std::make_shared<ServeArgs>();
  auto* cmd =
      app.add_subcommand("serve", "Browse an atlas in a web page: units, examples, words, feature visualizations");
  cmd->add_option("-a,--atlas", a->atlas, "Atlas directory (clipscope index; words from clipscope words)")->required();
  cmd->add_option(
      "-m,--model", a->model,
      "The atlas's model (demo, an official name or a checkpoint path): enables image search, text-direction "
      "search, and feature visualizations and maximal texts on request");
  cmd->add_option("--precision", a->precision, "exact, fp32, bf16 or auto (default: the atlas's)");
  cmd->add_option("--labels", a->labels,
                  "Per-image labels (CSV or JSON lines, as clipscope condprob) for conditional-probability plots");
  cmd->add_option("--label-key", a->label_key, "Label field in a JSON-lines labels file")->default_val("label");
  cmd->add_option("--vis", a->vis_dir, "Folder searched for visualize.json output (default: ATLAS/optvis)");
  cmd->add_option("--host", a->host, "Address to listen on (127.0.0.1: this machine only)")->default_val("127.0.0.1");
  cmd->add_option("--port", a->port, "Port (0: any free port)")->default_val(8080);
  cmd->add_option("--render-steps", a->render_steps, "Optimization steps of feature visualizations rendered on request")
      ->default_val(512);
  cmd->add_option("--text-generations", a->text_generations,
                  "Hill-climbing generations of maximal texts computed on request (clipscope maximal-text)")
      ->default_val(60);
  cmd->add_option("--max-upload-mb", a->max_upload_mb, "Largest image upload accepted, MiB")->default_val(8);
  cmd->add_flag("--render-featured", a->render_featured,
                "With --model: render the missing feature visualizations of the featured units (ATLAS/featured.json) "
                "in the background");
  cmd->callback([&ctx, a] { run_serve(ctx, *a); });
}

}  // namespace clipscope::cli
