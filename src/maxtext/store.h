#pragma once
// Maximal texts kept in an atlas (atlas.db), one result per unit and method, so that
// `serve` shows them on unit pages and a later run skips the units already done.
// `clipscope maximal-text --atlas` fills the tables; `serve --model` adds to them on
// request. Tables are documented in docs/maximal-text.md.
#include <SQLiteCpp/Database.h>

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "atlas/indexer.h"
#include "maxtext/maximal_text.h"

namespace clipscope::maxtext {

// One stored search.
struct StoredResult {
  std::string layer;  // canonical point name
  int64_t unit = 0;
  std::string method;      // method_name()
  nlohmann::json options;  // options_json() of the search
  std::string model_sha256;
  int64_t evaluated = 0;
  double seconds = 0;
  std::string created;           // UTC, ISO 8601
  std::vector<Candidate> texts;  // best first
  nlohmann::json to_json() const;
};

// Writes a unit's result into the atlas at `atlas_dir`, replacing an earlier one of
// the same method (one transaction). Throws Error naming the database on failure.
void store_result(const std::filesystem::path& atlas_dir, const std::string& layer, int64_t unit, const Result& result,
                  const Options& options, const std::string& model_sha256);

// The unit's stored results, hill climbing first; none when the atlas has no tables
// for them. `db` is the atlas's database (any connection, read-only is enough).
std::vector<StoredResult> stored_results(SQLite::Database& db, const std::string& layer, int64_t unit);

struct FillReport {
  int64_t computed = 0;  // units searched this run
  int64_t skipped = 0;   // units that already had a result of the method
  double seconds = 0;
};

// The library entry point for an atlas: for each of `units` of the atlas layer `layer`
// (one whose units have a direction in the embedding space), the maximal texts of its
// direction by `options`, stored as each finishes — a killed run loses at most one
// unit, and running it again skips the units done unless `replace`. `identity` must be
// the checkpoint the atlas was built with. Progress (units, rate, ETA) on stderr when
// options.progress. Throws Error naming the layer, a unit or the model.
FillReport fill_atlas(CLIP& model, const Tokenizer& tokenizer, const atlas::ModelIdentity& identity,
                      const std::filesystem::path& atlas_dir, const std::string& layer,
                      const std::vector<int64_t>& units, const Options& options, bool replace = false);

}  // namespace clipscope::maxtext
