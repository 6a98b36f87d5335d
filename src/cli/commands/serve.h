#pragma once
// What `clipscope serve` runs, shared with `clipscope tour`, which serves the atlas it built.
#include <cstdint>
#include <string>

#include "cli/context.h"

namespace clipscope::cli {

struct ServeArgs {
  std::string atlas, model, precision, labels, label_key = "label", vis_dir, host = "127.0.0.1";
  int port = 8080, render_steps = 512, text_generations = 60;
  int64_t max_upload_mb = 8;
  bool render_featured = false;  // queue renders of the featured units without a visualization
};

// Serves the atlas until SIGINT or SIGTERM; the first line on stdout is the address.
void run_serve(Context& ctx, const ServeArgs& args);

}  // namespace clipscope::cli
