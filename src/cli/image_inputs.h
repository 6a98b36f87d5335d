#pragma once
// Images as the commands take them: files, folders and lists, decoded on worker
// threads while the model runs, unreadable ones skipped and reported.
#include <CLI/CLI.hpp>
#include <torch/types.h>

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "core/image/stream.h"

namespace clipscope::cli {

struct ImageInputs {
  std::vector<std::string> inputs;  // files, folders, .txt/.lst lists
  int batch_size = 16;
  int workers = 0;  // 0 = the stream's default
};
// Adds --image, --batch-size and --workers.
void add_image_input_options(CLI::App& cmd, ImageInputs& images);

struct ImageRun {
  torch::Tensor rows;                           // fn's rows for the readable images, in input order
  std::vector<std::filesystem::path> paths;     // the path of each row
  std::vector<StreamItem> skipped;              // unreadable inputs with their reasons
  size_t inputs = 0;
};

// Runs fn over batches of the images, with progress (count, rate, ETA) and, at the
// end, one line with throughput, the model's share of the time and peak memory.
// Skipped images get a warning line; when none is readable, throws Error naming
// the first one's problem.
ImageRun run_over_images(const ImageInputs& images, int n_px, bool progress,
                         const std::function<torch::Tensor(const torch::Tensor&)>& fn);

// Beside an output array NAME.npy: NAME.paths.txt (the path of each row) and, when
// some images were skipped, NAME.skipped.tsv (path, reason).
void write_image_run_files(const ImageRun& run, const std::filesystem::path& out);

}  // namespace clipscope::cli
