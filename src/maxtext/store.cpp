#include "maxtext/store.h"

#include <SQLiteCpp/Statement.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <chrono>

#include "abstractions/attribution.h"
#include "atlas/atlas.h"
#include "core/util/error.h"
#include "core/util/progress.h"
#include "core/util/sqlite.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace clipscope::maxtext {

namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS maximal_text_runs(
  id INTEGER PRIMARY KEY,
  layer TEXT NOT NULL,              -- canonical point name
  unit INTEGER NOT NULL,
  method TEXT NOT NULL CHECK(method IN ('hill-climb', 'embedding')),
  options TEXT NOT NULL,            -- JSON: the search's options (max_tokens, seed, pool, ...)
  model_sha256 TEXT NOT NULL,
  evaluated INTEGER NOT NULL,       -- sequences scored
  seconds REAL NOT NULL,
  created TEXT NOT NULL,            -- UTC, ISO 8601
  UNIQUE(layer, unit, method)
);
CREATE TABLE IF NOT EXISTS maximal_texts(
  run INTEGER NOT NULL REFERENCES maximal_text_runs(id),
  rank INTEGER NOT NULL,            -- from 1, best first
  text TEXT NOT NULL,
  score REAL NOT NULL,              -- cosine with the unit's direction
  found_at INTEGER NOT NULL,        -- generation or epoch
  PRIMARY KEY(run, rank)
) WITHOUT ROWID;
)sql";

fs::path database_path(const fs::path& atlas_dir) { return atlas_dir / atlas::kDatabaseName; }

}  // namespace

json StoredResult::to_json() const {
  json list = json::array();
  for (const auto& c : texts) list.push_back({{"text", c.text}, {"score", c.score}, {"found_at", c.found_at}});
  return {{"method", method},       {"options", options}, {"model_sha256", model_sha256},
          {"evaluated", evaluated}, {"seconds", seconds}, {"created", created},
          {"texts", list}};
}

void store_result(const fs::path& atlas_dir, const std::string& layer, int64_t unit, const Result& result,
                  const Options& options, const std::string& model_sha256) {
  const fs::path path = database_path(atlas_dir);
  sqlite_guarded(path, nullptr, [&] {
    SQLite::Database db(path.string(), SQLite::OPEN_READWRITE);
    db.setBusyTimeout(5000);  // serve's readers, or another writer
    sqlite_transaction(path, db, [&] {
      db.exec(kSchema);
      delete_runs(db, "maximal_text_runs", "maximal_texts", "layer = ? AND unit = ? AND method = ?", layer, unit,
                  method_name(result.method));
      SQLite::Statement run(db,
                            "INSERT INTO maximal_text_runs(layer, unit, method, options, model_sha256, evaluated, "
                            "seconds, created) VALUES(?, ?, ?, ?, ?, ?, ?, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))");
      run.bind(1, layer);
      run.bind(2, unit);
      run.bind(3, method_name(result.method));
      run.bind(4, options_json(options).dump());
      run.bind(5, model_sha256);
      run.bind(6, result.evaluated);
      run.bind(7, result.seconds);
      run.exec();
      const int64_t id = db.getLastInsertRowid();
      SQLite::Statement text(db, "INSERT INTO maximal_texts(run, rank, text, score, found_at) VALUES(?, ?, ?, ?, ?)");
      for (size_t i = 0; i < result.texts.size(); ++i) {
        text.bind(1, id);
        text.bind(2, static_cast<int64_t>(i + 1));
        text.bind(3, result.texts[i].text);
        text.bind(4, result.texts[i].score);
        text.bind(5, result.texts[i].found_at);
        text.exec();
        text.reset();
      }
    });
  });
}

std::vector<StoredResult> stored_results(SQLite::Database& db, const std::string& layer, int64_t unit) {
  return sqlite_guarded(db.getFilename(), &db, [&] {
    std::vector<StoredResult> out;
    if (!db.tableExists("maximal_text_runs")) return out;
    SQLite::Statement q(db,
                        "SELECT id, method, options, model_sha256, evaluated, seconds, created FROM maximal_text_runs "
                        "WHERE layer = ? AND unit = ? ORDER BY method = 'embedding', id");
    q.bind(1, layer);
    q.bind(2, unit);
    while (q.executeStep()) {
      StoredResult r;
      r.layer = layer;
      r.unit = unit;
      r.method = q.getColumn(1).getString();
      r.options = json::parse(q.getColumn(2).getString(), nullptr, false);
      r.model_sha256 = q.getColumn(3).getString();
      r.evaluated = q.getColumn(4).getInt64();
      r.seconds = q.getColumn(5).getDouble();
      r.created = q.getColumn(6).getString();
      SQLite::Statement t(db, "SELECT text, score, found_at FROM maximal_texts WHERE run = ? ORDER BY rank");
      t.bind(1, q.getColumn(0).getInt64());
      while (t.executeStep())
        r.texts.push_back({t.getColumn(0).getString(), t.getColumn(1).getDouble(), t.getColumn(2).getInt()});
      out.push_back(std::move(r));
    }
    return out;
  });
}

FillReport fill_atlas(CLIP& model, const Tokenizer& tokenizer, const atlas::ModelIdentity& identity,
                      const fs::path& atlas_dir, const std::string& layer, const std::vector<int64_t>& units,
                      const Options& options, bool replace) {
  const auto start = std::chrono::steady_clock::now();
  auto atlas = atlas::Atlas::open(atlas_dir);
  atlas::require_atlas_model(atlas, identity);
  const auto& l = atlas.layer(layer);
  const auto points = abstractions::attribution_points(*model);
  if (std::find(points.begin(), points.end(), l.name) == points.end())
    throw ArgumentError("layer", l.name,
                        fmt::format("its units have no direction in the embedding space (maximal text reads {})",
                                    fmt::join(points, ", ")));
  for (int64_t u : units) atlas.check_unit(l, u);

  FillReport report;
  std::vector<int64_t> todo;
  for (int64_t u : units) {
    bool done = false;
    if (!replace)
      for (const auto& r : stored_results(atlas.database(), l.name, u))
        done = done || r.method == method_name(options.method);
    if (done)
      ++report.skipped;
    else
      todo.push_back(u);
  }
  Options quiet = options;
  quiet.progress = false;  // one bar over the units, not one per unit
  Progress bar(fmt::format("maximal text: {}", l.name), static_cast<int64_t>(units.size()), "units",
               options.progress && !todo.empty());
  bar.resume_at(report.skipped);
  for (int64_t u : todo) {
    const Target target = parse_target(model, tokenizer, fmt::format("{}:{}", l.name, u));
    const Result result = maximal_text(model, tokenizer, target, quiet);
    store_result(atlas_dir, l.name, u, result, options, identity.sha256);
    ++report.computed;
    bar.add();
  }
  bar.finish();
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

}  // namespace clipscope::maxtext
