#pragma once
// Joining shard atlases (`clipscope index --shard i/n`, or MPI ranks) into the atlas
// one process would have written: the accumulators are order-independent, so the
// merged examples and statistics are identical, not approximately equal.
#include <filesystem>
#include <vector>

namespace clipscope::atlas {

struct MergeResult {
  int64_t images = 0, skipped = 0;
  double seconds = 0;
};

// Every shard must be complete, from the same settings, and together they must
// cover every input exactly once. `out` must not hold an atlas yet.
MergeResult merge_atlases(const std::vector<std::filesystem::path>& shards, const std::filesystem::path& out,
                          const std::string& command_line = {});

}  // namespace clipscope::atlas
