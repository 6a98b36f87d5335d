// clipscope layers --model M: every named point with its shape and unit count.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "cli/context.h"
#include "core/model/point_names.h"

namespace clipscope::cli {

void add_layers_command(CLI::App& app, Context& ctx) {
  struct Options {
    std::string model;
    bool json = false;
    std::string filter;
  };
  auto o = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("layers", "List every named point of a model with its shape and channel count");
  add_model_option(*cmd, o->model);
  cmd->add_option("--filter", o->filter, "Only names containing this text");
  cmd->add_flag("--json", o->json, "JSON output");
  cmd->callback([&ctx, o] {
    CLIP model = ctx.load_model(o->model);
    nlohmann::json out = nlohmann::json::array();
    if (!o->json)
      fmt::print("# {}\n{:<52} {:<6} {:<18} {:<6} {}\n", model->config().describe(), "name", "layout", "shape", "units",
                 "also");
    for (const auto& p : model->points()) {
      const auto aliases = point_aliases(p.name);
      const auto matches = [&](const std::string& name) { return name.find(o->filter) != std::string::npos; };
      if (!o->filter.empty() && !matches(p.name) && std::none_of(aliases.begin(), aliases.end(), matches)) continue;
      if (o->json) {
        out.push_back({{"name", p.name},
                       {"layout", layout_name(p.layout)},
                       {"shape", p.shape},
                       {"units", p.channels},
                       {"aliases", aliases}});
      } else {
        fmt::print("{:<52} {:<6} {:<18} {:<6} {}\n", p.name, layout_name(p.layout),
                   fmt::format("[{}]", fmt::join(p.shape, ", ")), p.channels, fmt::join(aliases, " "));
      }
    }
    if (o->json) fmt::print("{}\n", out.dump(1));
  });
}

}  // namespace clipscope::cli
