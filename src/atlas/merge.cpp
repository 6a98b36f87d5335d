#include "atlas/merge.h"

#include <SQLiteCpp/Statement.h>
#include <SQLiteCpp/Transaction.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>

#include "atlas/atlas.h"
#include "atlas/matrix.h"
#include "core/util/error.h"

namespace clipscope::atlas {

namespace fs = std::filesystem;

MergeResult merge_atlases(const std::vector<fs::path>& shard_dirs, const fs::path& out,
                          const std::string& command_line) {
  const auto start = std::chrono::steady_clock::now();
  if (shard_dirs.empty()) throw Error("merge: name the shard atlases to merge");
  if (Atlas::exists(out)) throw ArgumentError("out", out.string(), "already holds an atlas");

  std::vector<Atlas> shards;
  for (const auto& dir : shard_dirs) {
    shards.push_back(Atlas::open(dir));
    if (!shards.back().complete())
      throw Error(fmt::format("{}: shard is not complete (resume its `clipscope index` first)", dir.string()));
  }
  std::sort(shards.begin(), shards.end(),
            [](const Atlas& a, const Atlas& b) { return a.shard().first < b.shard().first; });
  const Settings settings = shards.front().settings();
  int64_t covered = 0;
  for (const auto& s : shards) {
    const std::string difference = s.settings_difference(settings);
    if (!difference.empty())
      throw Error(fmt::format("{}: indexed with other settings than {} ({})", s.dir().string(),
                              shards.front().dir().string(), difference));
    const Shard range = s.shard();
    if (range.first != covered)
      throw Error(fmt::format("{}: covers inputs {}-{}, but the shards before end at {} ({})", s.dir().string(),
                              range.first, range.end, covered,
                              range.first > covered ? "a shard is missing" : "shards overlap"));
    covered = range.end;
  }
  if (covered != settings.inputs_total)
    throw Error(
        fmt::format("merge: the shards cover inputs 0-{} of {} (a shard is missing)", covered, settings.inputs_total));

  Shard whole;
  whole.first = 0;
  whole.end = settings.inputs_total;
  Atlas merged = Atlas::create(out, settings, whole, shards.front().layers(), command_line);
  std::map<int, LayerAccumulator> accumulators;
  std::vector<ImageRecord> images;
  for (auto& s : shards) {
    auto theirs = s.load_accumulators();
    for (auto& [layer, acc] : theirs) {
      auto it = accumulators.find(layer);
      if (it == accumulators.end())
        accumulators.emplace(layer, std::move(acc));
      else
        it->second.merge(acc);
    }
    SQLite::Statement q(s.database(), "SELECT id, path, error FROM images ORDER BY id");
    while (q.executeStep())
      images.push_back({q.getColumn(0).getInt64(), q.getColumn(1).getString(),
                        q.getColumn(2).isNull() ? "" : q.getColumn(2).getString()});
  }
  for (const auto& name : settings.matrix_layers) {
    const LayerInfo& l = merged.layer(name);
    for (const Quantity quantity : settings.matrix_quantities) {
      const fs::path target = merged.matrix_path(l.name, quantity);
      MatrixWriter(target, l.units, settings.inputs_total).flush(0);  // creates it at full size
      for (auto& s : shards) {
        const auto from = s.matrix(s.layer(name), quantity);
        if (!from)
          throw Error(fmt::format("{}: lacks the {} matrix of {}", s.dir().string(), quantity_name(quantity), name));
        copy_matrix_columns(*from, target, s.shard().first);
      }
    }
  }
  merged.checkpoint(images, accumulators, settings.inputs_total);
  merged.finalize(accumulators);

  MergeResult result;
  result.images = merged.image_count();
  result.skipped = merged.image_count(false) - result.images;
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

}  // namespace clipscope::atlas
