#pragma once
// Images as the commands take them: files, folders and lists, decoded on worker
// threads while the model runs, unreadable ones skipped and reported.
#include <torch/types.h>
#include <CLI/CLI.hpp>

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "core/image/stream.h"
#include "core/model/config.h"

namespace clipscope::cli {

struct ImageInputs {
  std::vector<std::string> inputs;  // files, folders, .txt/.lst lists
  int batch_size = 16;
  int workers = 0;  // 0 = the stream's default
};
// Adds --image, --batch-size and --workers.
void add_image_input_options(CLI::App& cmd, ImageInputs& images);

using BatchFn = std::function<torch::Tensor(const torch::Tensor& images)>;
// Receives fn's rows for a batch of readable images, in input order, with their paths.
using RowSink = std::function<void(const torch::Tensor& rows, const std::vector<std::filesystem::path>& paths)>;

struct ImageRunSummary {
  size_t inputs = 0, rows = 0;
  std::vector<StreamItem> skipped;  // unreadable inputs with their reasons
};

// Runs fn over batches of the images and hands each batch's rows to sink, with
// progress (count, rate, ETA) and, at the end, one line with throughput, the
// model's share of the time and peak memory. Skipped images get a warning line;
// when none is readable, throws Error naming the first one's problem.
// Images are preprocessed for `model` (its resolution, mean and std).
ImageRunSummary run_over_images(const ImageInputs& images, const CLIPConfig& model, bool progress, const BatchFn& fn,
                                const RowSink& sink);

// fn's rows streamed into the float32 array `out` (NAME.npy, written as batches
// finish: memory stays bounded whatever the number of images), the path of each row
// into NAME.paths.txt and, when some images were skipped, NAME.skipped.tsv (path,
// reason). Returns the shape written.
std::vector<int64_t> write_rows_over_images(const ImageInputs& images, const std::filesystem::path& out,
                                            const CLIPConfig& model, bool progress, const BatchFn& fn);

}  // namespace clipscope::cli
