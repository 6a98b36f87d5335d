#pragma once
// Building an atlas: stream images through the model (fast path, stopping at the
// deepest requested layer), keep every unit's extreme examples and statistics,
// optionally the full activation matrices, and checkpoint so that a killed run
// resumes to exactly the atlas an uninterrupted one would have written.
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "atlas/atlas.h"
#include "core/model/clip.h"

namespace clipscope::atlas {

struct IndexOptions {
  std::vector<std::string> layers;  // as given (canonical or alias names)
  int k = 100;
  std::vector<std::string> matrix_layers;  // subset of layers (as given) with full matrices
  std::vector<Quantity> matrix_quantities;
  int batch_size = 16;
  int workers = 0;                 // decode threads; 0 = automatic (see ImageBatcher)
  Shard shard;                     // index/count; the range is computed from the inputs
  double checkpoint_seconds = 60;  // checkpoint at most this long after the previous one
  int checkpoint_batches = 0;      // > 0: every this many batches instead (tests)
  bool progress = true;
  std::string command_line;  // recorded in the atlas
  // Tests: throw CrashForTesting after this many batches, before their checkpoint, as a
  // killed run would stop (core/util/crash.h).
  int crash_after = 0;
};

struct ModelIdentity {
  std::string spec;    // as given
  std::string sha256;  // of the checkpoint file
};

// Throws Error naming the model and the atlas when `identity` is not the checkpoint the
// atlas was indexed with (an atlas that recorded no checkpoint hash accepts any).
void require_atlas_model(const Atlas& atlas, const ModelIdentity& identity);

struct IndexResult {
  int64_t images = 0;       // readable images in the atlas
  int64_t skipped = 0;      // unreadable inputs, listed in the atlas
  int64_t resumed_at = -1;  // input the run resumed from (-1: started afresh)
  bool already_complete = false;
  double seconds = 0;
  double images_per_second = 0;  // this run's readable images over its wall time
};

// (images, units, cells) floats on the CPU from a captured point, as the atlas reads it.
torch::Tensor units_by_cells(const torch::Tensor& value, Layout layout);

// The layer as the atlas reads it: canonical name, pre-ReLU point, grid.
LayerInfo describe_layer(CLIP& model, const std::string& requested, int id);

// Absolute, normalized paths (what the atlas records and hashes).
std::vector<std::filesystem::path> absolute_inputs(const std::vector<std::filesystem::path>& inputs);
std::string inputs_digest(const std::vector<std::filesystem::path>& absolute_paths);

// Indexes the shard of `inputs` into `dir`, resuming the run found there when its
// settings match (Error naming the first difference when they do not).
IndexResult index_images(CLIP& model, const ModelIdentity& identity, const std::vector<std::filesystem::path>& inputs,
                         const std::filesystem::path& dir, const IndexOptions& options);

}  // namespace clipscope::atlas
