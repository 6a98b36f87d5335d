#include "atlas/indexer.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <memory>
#include <regex>

#include "atlas/matrix.h"
#include "core/hub/download.h"
#include "core/model/image_batches.h"
#include "core/util/crash.h"
#include "core/util/error.h"
#include "core/util/progress.h"

namespace clipscope::atlas {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

bool has_point(CLIP& model, const std::string& name) {
  for (const auto& p : model->points())
    if (p.name == name) return true;
  return false;
}

// The point whose ReLU is `name`, when there is one: the article reads inhibition
// (negative values) there. A bottleneck's output is ReLU(its residual sum), a
// ResNet stage's output is its last bottleneck's, and reluN follows bnN (relu3 of a
// bottleneck follows the residual sum).
std::optional<std::string> pre_relu_point(CLIP& model, const std::string& name) {
  static const std::regex block(R"(visual\.layer\d+\.\d+)"), stage(R"(visual\.layer\d+)"), relu(R"((.*)\.relu(\d))");
  std::smatch m;
  std::string candidate;
  if (std::regex_match(name, block)) {
    candidate = name + ".add";
  } else if (std::regex_match(name, stage)) {
    int last = -1;
    while (has_point(model, fmt::format("{}.{}", name, last + 1))) ++last;
    if (last >= 0) candidate = fmt::format("{}.{}.add", name, last);
  } else if (std::regex_match(name, m, relu)) {
    const std::string sum = m[1].str() + ".add";
    candidate = m[2] == "3" && has_point(model, sum) ? sum : m[1].str() + ".bn" + m[2].str();
  }
  if (!candidate.empty() && has_point(model, candidate)) return candidate;
  return std::nullopt;
}

}  // namespace

torch::Tensor units_by_cells(const torch::Tensor& value, Layout layout) {
  torch::Tensor t = to_batch_first(value, layout).to(torch::kCPU, torch::kFloat32);
  switch (layout) {
    case Layout::NCHW:
      return t.flatten(2).contiguous();
    case Layout::LND:
    case Layout::NLD:
      return t.transpose(1, 2).contiguous();
    case Layout::ND:
      return t.unsqueeze(2).contiguous();
    default:
      throw Error("attention patterns cannot be indexed");
  }
}

LayerInfo describe_layer(CLIP& model, const std::string& requested, int id) {
  LayerInfo l;
  l.id = id;
  l.requested = requested;
  l.name = model->resolve_point(requested);
  if (l.name.rfind("visual", 0) != 0)
    throw ArgumentError("layers", requested, "a text-tower point; the atlas indexes image-tower points");
  const PointInfo& info = model->point(l.name);
  if (info.layout == Layout::Pattern)
    throw ArgumentError("layers", requested, "attention patterns have no units to index");
  const auto pre = pre_relu_point(model, l.name);
  l.read_at = pre.value_or(l.name);
  l.relu = pre.has_value();
  l.layout = info.layout;
  l.units = info.channels;
  if (info.layout == Layout::NCHW) {
    l.grid_height = info.shape[1];
    l.grid_width = info.shape[2];
    l.cells = l.grid_height * l.grid_width;
  } else if (info.layout == Layout::LND || info.layout == Layout::NLD) {
    l.cells = info.shape[0];
    const auto side = static_cast<int64_t>(std::lround(std::sqrt(static_cast<double>(l.cells - 1))));
    l.grid_height = l.grid_width = side * side == l.cells - 1 ? side : 1;
  }
  return l;
}

std::vector<fs::path> absolute_inputs(const std::vector<fs::path>& inputs) {
  std::vector<fs::path> out;
  out.reserve(inputs.size());
  for (const auto& p : inputs) out.push_back(fs::absolute(p).lexically_normal());
  return out;
}

std::string inputs_digest(const std::vector<fs::path>& absolute_paths) {
  std::string all;
  for (const auto& p : absolute_paths) all += p.string() + '\n';
  return sha256_text(all);
}

void require_atlas_model(const Atlas& atlas, const ModelIdentity& identity) {
  const std::string& expected = atlas.settings().model_sha256;
  if (!expected.empty() && identity.sha256 != expected)
    throw Error(fmt::format("model {}: not the model the atlas was built with ({}; checkpoint SHA-256 {} vs {})",
                            identity.spec, atlas.settings().model, identity.sha256.substr(0, 12),
                            expected.substr(0, 12)));
}

IndexResult index_images(CLIP& model, const ModelIdentity& identity, const std::vector<fs::path>& inputs,
                         const fs::path& dir, const IndexOptions& options) {
  const auto start = Clock::now();
  if (options.layers.empty()) throw ArgumentError("layers", "", "name at least one layer");
  if (inputs.empty()) throw ArgumentError("images", "", "no images to index");

  const auto paths = absolute_inputs(inputs);
  std::vector<LayerInfo> layers;
  Settings settings;
  settings.model = identity.spec;
  settings.model_sha256 = identity.sha256;
  settings.architecture = model->config().describe();
  settings.precision = precision_name(model->precision());
  settings.n_px = static_cast<int>(model->config().image_resolution);
  settings.k = options.k;
  settings.batch_size = options.batch_size;
  for (const auto& name : options.layers) {
    layers.push_back(describe_layer(model, name, static_cast<int>(layers.size())));
    for (size_t i = 0; i + 1 < layers.size(); ++i)
      if (layers[i].name == layers.back().name) throw ArgumentError("layers", name, "given twice");
    settings.layers.push_back(layers.back().name);
  }
  for (const auto& name : options.matrix_layers) settings.matrix_layers.push_back(model->resolve_point(name));
  for (const auto& name : settings.matrix_layers)
    if (std::find(settings.layers.begin(), settings.layers.end(), name) == settings.layers.end())
      throw ArgumentError("matrix_layers", name, "not one of the indexed layers");
  if (!settings.matrix_layers.empty() && options.matrix_quantities.empty())
    throw ArgumentError("matrix_layers", "", "say which quantities to keep (matrix max and/or mean)");
  settings.matrix_quantities = settings.matrix_layers.empty() ? std::vector<Quantity>{} : options.matrix_quantities;
  settings.inputs_total = static_cast<int64_t>(paths.size());
  settings.inputs_sha256 = inputs_digest(paths);
  if (options.batch_size <= 0)
    throw ArgumentError("batch_size", std::to_string(options.batch_size), "must be positive");
  const Shard shard = shard_range(options.shard, settings.inputs_total, options.batch_size);

  IndexResult result;
  std::unique_ptr<Atlas> atlas;
  if (Atlas::exists(dir)) {
    atlas = std::make_unique<Atlas>(Atlas::open(dir, true));
    const std::string difference = atlas->settings_difference(settings);
    if (!difference.empty())
      throw ArgumentError(
          "out", dir.string(),
          fmt::format("holds an atlas indexed with other settings ({}); use another directory or remove it",
                      difference));
    const Shard theirs = atlas->shard();
    if (theirs.index != shard.index || theirs.count != shard.count)
      throw ArgumentError(
          "out", dir.string(),
          fmt::format("holds shard {}/{}, not {}/{}", theirs.index, theirs.count, shard.index, shard.count));
    if (atlas->complete()) {
      result.already_complete = true;
      result.images = atlas->image_count();
      result.skipped = atlas->image_count(false) - result.images;
      return result;
    }
    result.resumed_at = atlas->next_input();
  } else {
    atlas = std::make_unique<Atlas>(Atlas::create(dir, settings, shard, layers, options.command_line));
  }
  auto accumulators = atlas->load_accumulators();
  const int64_t begin = result.resumed_at >= 0 ? result.resumed_at : shard.first;

  std::vector<std::unique_ptr<MatrixWriter>> writers;  // per (matrix layer, quantity)
  struct MatrixTarget {
    const LayerInfo* layer;
    bool max;  // else mean
    MatrixWriter* writer;
  };
  std::vector<MatrixTarget> targets;
  for (const auto& name : settings.matrix_layers) {
    const LayerInfo& l = atlas->layer(name);
    for (const Quantity q : settings.matrix_quantities) {
      writers.push_back(std::make_unique<MatrixWriter>(atlas->matrix_path(l.name, q), l.units, shard.end - shard.first,
                                                       begin - shard.first));
      targets.push_back({&l, q == Quantity::Max, writers.back().get()});
    }
  }

  std::vector<std::string> read_points;
  for (const auto& l : atlas->layers()) read_points.push_back(l.read_at);

  ImageStreamOptions stream;
  stream.n_px = settings.n_px;
  stream.normalization = model->config().normalization;
  stream.workers = options.workers;
  ImageBatcher batches(std::vector<fs::path>(paths.begin() + begin, paths.begin() + shard.end), options.batch_size,
                       stream);
  batches.batch_by_input_windows();  // every image in the same batch as an unsplit run (see ImageBatcher)

  std::vector<ImageRecord> pending;
  size_t skipped_recorded = 0;
  auto take_skipped = [&] {
    const auto& skipped = batches.skipped();
    for (; skipped_recorded < skipped.size(); ++skipped_recorded) {
      const auto& s = skipped[skipped_recorded];
      pending.push_back({begin + static_cast<int64_t>(s.index), s.path.string(), s.error});
    }
  };
  auto checkpoint = [&](int64_t next_input) {
    for (auto& w : writers) w->flush(next_input - shard.first);
    atlas->checkpoint(pending, accumulators, next_input);
    pending.clear();
  };

  Progress bar(shard.count > 1 ? fmt::format("shard {}/{}", shard.index, shard.count) : "indexing", shard.end - begin,
               "img", options.progress);
  int batches_done = 0;
  int64_t images_read = 0;
  auto last_checkpoint = Clock::now();
  torch::NoGradGuard no_grad;
  while (auto batch = batches.next()) {
    ActivationCache cache(read_points);
    model->run_image(batch->images.to(model->device()), cache);
    std::vector<int64_t> ids;
    for (size_t r = 0; r < batch->indices.size(); ++r) {
      ids.push_back(begin + static_cast<int64_t>(batch->indices[r]));
      pending.push_back({ids.back(), batch->paths[r].string(), ""});
    }
    for (const auto& l : atlas->layers()) {
      const torch::Tensor values = units_by_cells(cache[l.read_at], cache.layout(l.read_at));
      const LayerBatch summary = summarize(values.data_ptr<float>(), values.size(0), l.units, l.cells, l.relu);
      accumulators.at(l.id).add(summary, ids);
      for (const auto& t : targets) {
        if (t.layer->id != l.id) continue;
        const auto& column_values = t.max ? summary.max : summary.mean;
        for (size_t r = 0; r < ids.size(); ++r)
          t.writer->set_column(ids[r] - shard.first, column_values.data() + r * static_cast<size_t>(l.units), 1);
      }
    }
    images_read += static_cast<int64_t>(ids.size());
    take_skipped();
    bar.set(static_cast<int64_t>(batch->inputs_done));
    ++batches_done;
    crash_point(batches_done, options.crash_after);
    const bool due =
        options.checkpoint_batches > 0
            ? batches_done % options.checkpoint_batches == 0
            : std::chrono::duration<double>(Clock::now() - last_checkpoint).count() >= options.checkpoint_seconds;
    if (due) {
      checkpoint(begin + static_cast<int64_t>(batch->inputs_done));
      last_checkpoint = Clock::now();
    }
  }
  take_skipped();
  bar.set(shard.end - begin);
  bar.finish();
  checkpoint(shard.end);
  atlas->finalize(accumulators);

  result.images = atlas->image_count();
  result.skipped = atlas->image_count(false) - result.images;
  result.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  result.images_per_second = static_cast<double>(images_read) / result.seconds;
  return result;
}

}  // namespace clipscope::atlas
