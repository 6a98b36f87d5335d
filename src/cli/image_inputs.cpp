#include "cli/image_inputs.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <sys/resource.h>

#include <chrono>
#include <fstream>
#include <memory>

#include "core/model/image_batches.h"
#include "core/util/error.h"
#include "core/util/npy.h"
#include "core/util/progress.h"

namespace clipscope::cli {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

double peak_rss_mib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // Linux reports KiB
}

fs::path beside(const fs::path& out, const std::string& suffix) {
  return out.parent_path() / (out.stem().string() + "." + suffix);
}

}  // namespace

void add_image_input_options(CLI::App& cmd, ImageInputs& images) {
  cmd.add_option("-i,--image,--images", images.inputs,
                 "Image files, folders (searched recursively for .jpg/.jpeg/.png, in sorted order) or lists of paths "
                 "(.txt/.lst, one per line)");
  // 16 measured best on 2 cores (RN50: bf16 57 img/s vs 54 at 32; exact 23 vs 19); docs/performance.md.
  cmd.add_option("--batch-size", images.batch_size, "Images per forward pass")->default_val(16);
  cmd.add_option("--workers", images.workers,
                 "Threads decoding images (default: the cores the model's threads leave free, decoding while the model "
                 "runs; every core, decoding between batches, when none is free)")
      ->default_val(0);
}

ImageRunSummary run_over_images(const ImageInputs& images, const CLIPConfig& model, bool progress, const BatchFn& fn,
                                const RowSink& sink) {
  auto paths = collect_image_paths(images.inputs);
  if (paths.empty()) throw Error(fmt::format("--image {}: no JPEG or PNG images found", fmt::join(images.inputs, " ")));
  ImageStreamOptions options;
  options.n_px = static_cast<int>(model.image_resolution);
  options.normalization = model.normalization;
  options.workers = images.workers;
  ImageBatcher batches(std::move(paths), images.batch_size, options);

  ImageRunSummary run;
  run.inputs = batches.size();
  Progress bar("images", static_cast<int64_t>(run.inputs), "img", progress && run.inputs > 1);
  double model_seconds = 0;
  const auto start = Clock::now();
  while (auto batch = batches.next()) {
    const auto t0 = Clock::now();
    const torch::Tensor rows = fn(batch->images).to(torch::kCPU).contiguous();
    model_seconds += std::chrono::duration<double>(Clock::now() - t0).count();
    sink(rows, batch->paths);
    run.rows += batch->paths.size();
    bar.set(static_cast<int64_t>(batch->inputs_done));
  }
  bar.set(static_cast<int64_t>(run.inputs));
  bar.finish();
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  run.skipped = batches.skipped();
  if (run.rows == 0)
    throw Error(fmt::format("{} (no readable image among {} inputs)", run.skipped.front().error, run.inputs));

  if (!run.skipped.empty())
    fmt::print(stderr, "clipscope: warning: skipped {} of {} images that could not be read (first: {})\n",
               run.skipped.size(), run.inputs, run.skipped.front().error);
  if (progress && run.inputs > 1) {  // as the progress bar: one image has no rate worth printing
    const double n = static_cast<double>(run.rows);
    fmt::print(stderr,
               "{} images in {:.2f} s: {:.1f} img/s end to end; model busy {:.0f} % of the time ({:.1f} img/s "
               "while running); decoding on {} thread{} {}; peak memory {:.0f} MiB\n",
               run.rows, seconds, n / seconds, 100 * model_seconds / seconds, n / model_seconds, batches.workers(),
               batches.workers() == 1 ? "" : "s",
               batches.schedule() == DecodeSchedule::Bursts ? "between batches" : "overlapped", peak_rss_mib());
  }
  return run;
}

std::vector<int64_t> write_rows_over_images(const ImageInputs& images, const fs::path& out, const CLIPConfig& model,
                                            bool progress, const BatchFn& fn) {
  std::unique_ptr<NpyRowWriter> writer;  // opened at the first batch, when the row shape is known
  const fs::path list_file = beside(out, "paths.txt");
  std::ofstream list;
  const auto run = run_over_images(images, model, progress, fn, [&](const torch::Tensor& rows, const auto& paths) {
    if (!writer) {
      const auto shape = rows.sizes().vec();
      writer = std::make_unique<NpyRowWriter>(out, std::vector<int64_t>(shape.begin() + 1, shape.end()));
      list.open(list_file, std::ios::trunc);
    }
    const torch::Tensor values = rows.to(torch::kFloat32).contiguous();
    writer->append(values.data_ptr<float>(), static_cast<size_t>(values.size(0)));
    for (const auto& p : paths) list << p.string() << '\n';
    if (!list) throw Error(fmt::format("{}: cannot write", list_file.string()));
  });
  writer->close();
  list.close();

  const fs::path skipped_file = beside(out, "skipped.tsv");
  std::error_code ec;
  fs::remove(skipped_file, ec);  // a list left by an earlier run would mislead
  if (!run.skipped.empty()) {
    std::ofstream tsv(skipped_file);
    tsv << "path\treason\n";
    for (const auto& s : run.skipped) tsv << s.path.string() << '\t' << s.error << '\n';
    if (!tsv) throw Error(fmt::format("{}: cannot write", skipped_file.string()));
  }
  std::vector<int64_t> shape = writer->row_shape();
  shape.insert(shape.begin(), static_cast<int64_t>(writer->rows()));
  return shape;
}

}  // namespace clipscope::cli
