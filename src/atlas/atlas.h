#pragma once
// The atlas: a directory holding what clipscope learned about every unit of some
// layers over an image set — a SQLite database (atlas.db) and, optionally, full
// activation matrices (matrix/*.npy). The schema is documented in docs/atlas.md;
// Python reads it with sqlite3 and numpy alone.
#include <SQLiteCpp/Database.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "atlas/accumulators.h"
#include "core/model/points.h"

namespace clipscope::atlas {

inline constexpr int kFormatVersion = 1;
inline constexpr const char* kDatabaseName = "atlas.db";

// What a matrix or a statistics row holds per image and unit: the spatial max (before
// the ReLU) or the spatial mean (after it). Stored in the atlas by name.
enum class Quantity { Max, Mean };
std::string quantity_name(Quantity quantity);  // "max", "mean"
// Throws ArgumentError naming `parameter` for any other name.
Quantity parse_quantity(const std::string& name, const std::string& parameter = "quantity");
std::vector<std::string> quantity_names(const std::vector<Quantity>& quantities);

// A layer as the atlas records it.
struct LayerInfo {
  int id = 0;
  std::string name;       // canonical point name, e.g. visual.layer4.2
  std::string requested;  // as the user gave it, e.g. image_block_4/2/Add_6
  std::string read_at;    // the point values are read at (its pre-ReLU point when it has one)
  bool relu = false;      // whether the layer's output is ReLU(read_at)
  Layout layout = Layout::NCHW;
  int64_t units = 0;
  int64_t cells = 1;  // spatial cells (height × width) or tokens per image
  int64_t grid_height = 1,
          grid_width = 1;  // the spatial grid cells map to (for LND: the patch grid; cell 0 is the class token)
};

// What defines an indexing run: to resume it or to merge shards, these must match.
struct Settings {
  std::string model;         // as given (name or path)
  std::string model_sha256;  // of the checkpoint file
  // CLIPConfig::describe() of the model as built: the activation and mean/std come from
  // a config or a choice, not from the checkpoint, so the hash alone does not pin them.
  // Empty in atlases written before it was recorded.
  std::string architecture;
  std::string precision;  // exact, fp32 or bf16
  int n_px = 0;           // model input resolution
  int k = 100;
  int batch_size = 16;
  std::vector<std::string> layers;         // canonical names, in order
  std::vector<std::string> matrix_layers;  // layers with full matrices
  std::vector<Quantity> matrix_quantities;
  int64_t inputs_total = 0;
  std::string inputs_sha256;  // of the absolute input paths, one per line
};

// Which part of the inputs a run covers: batches [index/count of the batches].
struct Shard {
  int index = 0, count = 1;
  int64_t first = 0, end = 0;  // input range [first, end)
};
// "i/n" -> Shard (range filled by shard_range); throws Error on bad syntax.
Shard parse_shard(const std::string& spec);
// Splits inputs into whole batches, so shards batch every image as one run would.
Shard shard_range(Shard shard, int64_t inputs_total, int batch_size);

// One image's row.
struct ImageRecord {
  int64_t id = 0;
  std::string path;
  std::string error;  // empty when it was read
};

// A unit's example with its image's path.
struct ExampleRow {
  int rank = 0;
  int64_t image = 0;
  float value = 0;
  int32_t cell = 0;
  std::string path;
};

struct UnitRef {
  std::string layer;  // as typed: canonical or requested name
  int64_t unit = 0;
};
// "LAYER:INDEX" (the layer name may itself contain ':' only as "…relu3:input").
UnitRef parse_unit(const std::string& spec);

class Atlas {
 public:
  // Creates a new atlas directory (or an empty one) with this run's settings.
  static Atlas create(const std::filesystem::path& dir, const Settings& settings, const Shard& shard,
                      const std::vector<LayerInfo>& layers, const std::string& command_line);
  // Opens an existing atlas; throws Error naming the directory when it is none.
  static Atlas open(const std::filesystem::path& dir, bool writable = false);
  static bool exists(const std::filesystem::path& dir);

  const std::filesystem::path& dir() const { return dir_; }
  std::filesystem::path matrix_path(const std::string& layer, Quantity quantity) const;

  std::optional<std::string> meta(const std::string& key) const;
  std::string status() const;  // "indexing" or "complete"
  bool complete() const { return status() == "complete"; }
  Settings settings() const;
  Shard shard() const;
  int64_t next_input() const;  // first input not yet covered by a checkpoint
  // The first setting that differs from `other`, as "name: ours vs theirs", or empty.
  std::string settings_difference(const Settings& other) const;

  const std::vector<LayerInfo>& layers() const { return layers_; }
  // By canonical or requested name; throws Error listing the atlas's layers.
  const LayerInfo& layer(const std::string& name) const;

  // The accumulators saved by the last checkpoint (fresh ones when there is none).
  std::map<int, LayerAccumulator> load_accumulators() const;
  // One transaction: the images read since the last checkpoint, every layer's
  // accumulators and the new resume point. Matrices must be flushed before.
  void checkpoint(const std::vector<ImageRecord>& images, const std::map<int, LayerAccumulator>& accumulators,
                  int64_t next_input);
  // Writes the examples and statistics tables from the accumulators and marks the
  // atlas complete (one transaction).
  void finalize(const std::map<int, LayerAccumulator>& accumulators);

  // Queries.
  int64_t image_count(bool readable_only = true) const;
  std::vector<ImageRecord> skipped_images() const;
  std::string image_path(int64_t id) const;
  // Every readable image as (id, path), in id order.
  std::vector<std::pair<int64_t, std::string>> readable_images() const;
  // k <= 0: all kept.
  std::vector<ExampleRow> examples(const LayerInfo& layer, int64_t unit, ExampleList list, int k) const;
  Summary summary(const LayerInfo& layer, int64_t unit, Quantity quantity) const;
  StdHistogram histogram(const LayerInfo& layer, int64_t unit, Quantity quantity) const;
  // The matrix file of a layer and quantity, when the atlas has one.
  std::optional<std::filesystem::path> matrix(const LayerInfo& layer, Quantity quantity) const;
  void check_unit(const LayerInfo& layer, int64_t unit) const;

  SQLite::Database& database() { return *db_; }

 private:
  Atlas(std::filesystem::path dir, std::unique_ptr<SQLite::Database> db);
  void load_layers();
  std::filesystem::path dir_;
  std::unique_ptr<SQLite::Database> db_;
  std::vector<LayerInfo> layers_;
};

// Bin width, in RMS units, of the stored histograms.
inline constexpr double kHistogramBinWidth = 0.25;

}  // namespace clipscope::atlas
