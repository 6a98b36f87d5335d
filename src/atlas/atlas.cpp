#include "atlas/atlas.h"

#include <SQLiteCpp/Statement.h>
#include <SQLiteCpp/Transaction.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <sqlite3.h>

#include <chrono>
#include <cstring>
#include <nlohmann/json.hpp>

#include "core/util/error.h"
#include "core/util/sqlite.h"
#include "core/util/strings.h"

namespace clipscope::atlas {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE images(
  id INTEGER PRIMARY KEY,           -- position in the run's input list
  path TEXT NOT NULL,               -- absolute
  status TEXT NOT NULL CHECK(status IN ('ok', 'skipped')),
  error TEXT                        -- why a skipped image could not be read
);
CREATE TABLE layers(
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,        -- canonical point name
  requested TEXT NOT NULL,          -- as given on the command line
  read_at TEXT NOT NULL,            -- point the values are read at (pre-ReLU where there is one)
  relu INTEGER NOT NULL,            -- 1: the layer's output is ReLU(read_at)
  layout TEXT NOT NULL,             -- NCHW, LND or ND
  units INTEGER NOT NULL,
  cells INTEGER NOT NULL,           -- cells (NCHW: grid_height * grid_width) or tokens (LND) per image
  grid_height INTEGER NOT NULL,
  grid_width INTEGER NOT NULL
);
CREATE TABLE examples(
  layer INTEGER NOT NULL REFERENCES layers(id),
  unit INTEGER NOT NULL,
  list TEXT NOT NULL,               -- top_max, top_mean, bottom_min, bottom_mean
  rank INTEGER NOT NULL,            -- 0 = most extreme
  image INTEGER NOT NULL REFERENCES images(id),
  value REAL NOT NULL,
  cell INTEGER NOT NULL,            -- argmax/argmin cell for top_max/bottom_min, 0 for the means
  PRIMARY KEY(layer, unit, list, rank)
) WITHOUT ROWID;
CREATE TABLE unit_stats(
  layer INTEGER NOT NULL REFERENCES layers(id),
  unit INTEGER NOT NULL,
  quantity TEXT NOT NULL,           -- max: per-image spatial max (pre-ReLU); mean: per-image spatial mean (output)
  count INTEGER NOT NULL,
  nonfinite INTEGER NOT NULL,
  mean REAL NOT NULL, std REAL NOT NULL,
  rms REAL NOT NULL,                -- "standard deviation from zero"
  min REAL NOT NULL, max REAL NOT NULL,
  hist_lo REAL NOT NULL,            -- histogram in RMS units: bin i = [hist_lo + i*hist_width, +hist_width)
  hist_width REAL NOT NULL,
  hist TEXT NOT NULL,               -- JSON array of counts
  PRIMARY KEY(layer, unit, quantity)
) WITHOUT ROWID;
CREATE TABLE matrices(
  layer INTEGER NOT NULL REFERENCES layers(id),
  quantity TEXT NOT NULL,
  file TEXT NOT NULL,               -- relative to the atlas directory
  units INTEGER NOT NULL,
  columns INTEGER NOT NULL,         -- column j = image first_image + j
  first_image INTEGER NOT NULL,
  PRIMARY KEY(layer, quantity)
);
CREATE TABLE accumulators(           -- exact running state, for resuming and merging
  layer INTEGER PRIMARY KEY REFERENCES layers(id),
  state BLOB NOT NULL
);
)sql";

std::string now_utc() {
  const auto t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

void set_meta(SQLite::Database& db, const std::string& key, const std::string& value) {
  SQLite::Statement q(db, "INSERT OR REPLACE INTO meta(key, value) VALUES(?, ?)");
  q.bind(1, key);
  q.bind(2, value);
  q.exec();
}

// Writes example rows many to a statement: one row per statement costs more in
// SQLite's per-statement overhead than in storing the row (819k rows for RN50's
// layer4 at k = 100).
class ExampleInserter {
 public:
  explicit ExampleInserter(SQLite::Database& db) : db_(db) {}

  void add(int layer, int64_t unit, ExampleList list, int rank, const Example& e) {
    rows_.push_back({layer, unit, list, rank, e});
    if (rows_.size() == kRowsPerStatement) flush();
  }

  void flush() {
    if (rows_.empty()) return;
    if (rows_.size() == kRowsPerStatement) {
      if (!full_) full_ = prepare(kRowsPerStatement);
      write(*full_);
    } else {
      auto partial = prepare(rows_.size());
      write(*partial);
    }
    rows_.clear();
  }

 private:
  static constexpr size_t kRowsPerStatement = 256;  // 7 parameters a row, well under SQLite's 32,766
  struct Row {
    int layer;
    int64_t unit;
    ExampleList list;
    int rank;
    Example example;
  };

  std::unique_ptr<SQLite::Statement> prepare(size_t rows) {
    std::string sql = "INSERT INTO examples(layer, unit, list, rank, image, value, cell) VALUES";
    for (size_t i = 0; i < rows; ++i) sql += i == 0 ? "(?,?,?,?,?,?,?)" : ",(?,?,?,?,?,?,?)";
    return std::make_unique<SQLite::Statement>(db_, sql);
  }

  void write(SQLite::Statement& q) {
    int p = 1;
    for (const Row& r : rows_) {
      q.bind(p++, r.layer);
      q.bind(p++, r.unit);
      q.bindNoCopy(p++, example_list_name(r.list).data());  // a string literal: NUL-terminated
      q.bind(p++, r.rank);
      q.bind(p++, r.example.image);
      q.bind(p++, static_cast<double>(r.example.value));
      q.bind(p++, r.example.cell);
    }
    q.exec();
    q.reset();
  }

  SQLite::Database& db_;
  std::vector<Row> rows_;
  std::unique_ptr<SQLite::Statement> full_;
};

std::vector<std::string> json_strings(const std::string& text) {
  return json::parse(text).get<std::vector<std::string>>();
}

}  // namespace

Shard parse_shard(const std::string& spec) {
  Shard s;
  const auto slash = spec.find('/');
  const auto index =
      slash == std::string::npos ? std::nullopt : to_number<int>(std::string_view(spec).substr(0, slash));
  const auto count =
      slash == std::string::npos ? std::nullopt : to_number<int>(std::string_view(spec).substr(slash + 1));
  if (!index || !count) throw ArgumentError("shard", spec, "expected i/n, e.g. 0/4");
  s.index = *index;
  s.count = *count;
  if (s.count < 1 || s.index < 0 || s.index >= s.count) throw ArgumentError("shard", spec, "needs 0 <= i < n");
  return s;
}

Shard shard_range(Shard shard, int64_t inputs_total, int batch_size) {
  const int64_t batches = (inputs_total + batch_size - 1) / batch_size;
  shard.first = std::min(inputs_total, batches * shard.index / shard.count * batch_size);
  shard.end = std::min(inputs_total, batches * (shard.index + 1) / shard.count * batch_size);
  return shard;
}

UnitRef parse_unit(const std::string& spec) {
  const auto colon = spec.rfind(':');
  const auto unit = colon == std::string::npos || colon == 0
                        ? std::nullopt
                        : to_number<int64_t>(std::string_view(spec).substr(colon + 1));
  if (!unit || *unit < 0) throw ArgumentError("unit", spec, "expected LAYER:INDEX, e.g. visual.layer4:12");
  UnitRef ref;
  ref.unit = *unit;
  ref.layer = spec.substr(0, colon);
  return ref;
}

Atlas::Atlas(fs::path dir, std::unique_ptr<SQLite::Database> db) : dir_(std::move(dir)), db_(std::move(db)) {}

bool Atlas::exists(const fs::path& dir) { return fs::is_regular_file(dir / kDatabaseName); }

Atlas Atlas::create(const fs::path& dir, const Settings& settings, const Shard& shard,
                    const std::vector<LayerInfo>& layers, const std::string& command_line) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw Error(fmt::format("{}: cannot create the atlas directory ({})", dir.string(), ec.message()));
  if (!settings.matrix_layers.empty()) {
    fs::create_directories(dir / "matrix", ec);
    if (ec) throw Error(fmt::format("{}: cannot create ({})", (dir / "matrix").string(), ec.message()));
  }
  const fs::path path = dir / kDatabaseName;
  return sqlite_guarded(path, nullptr, [&] {
    auto db = std::make_unique<SQLite::Database>(path.string(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    SQLite::Transaction t(*db);
    db->exec(kSchema);
    const std::map<std::string, std::string> meta = {
        {"format_version", std::to_string(kFormatVersion)},
        {"status", "indexing"},
        {"model", settings.model},
        {"model_sha256", settings.model_sha256},
        {"architecture", settings.architecture},
        {"precision", settings.precision},
        {"n_px", std::to_string(settings.n_px)},
        {"k", std::to_string(settings.k)},
        {"batch_size", std::to_string(settings.batch_size)},
        {"layers", json(settings.layers).dump()},
        {"matrix_layers", json(settings.matrix_layers).dump()},
        {"matrix_quantities", json(quantity_names(settings.matrix_quantities)).dump()},
        {"inputs_total", std::to_string(settings.inputs_total)},
        {"inputs_sha256", settings.inputs_sha256},
        {"shard", fmt::format("{}/{}", shard.index, shard.count)},
        {"first_input", std::to_string(shard.first)},
        {"end_input", std::to_string(shard.end)},
        {"next_input", std::to_string(shard.first)},
        {"command", command_line},
        {"created", now_utc()},
        {"clipscope_version", "0.1.0"},
    };
    for (const auto& [key, value] : meta) set_meta(*db, key, value);
    SQLite::Statement q(*db,
                        "INSERT INTO layers(id, name, requested, read_at, relu, layout, units, cells, grid_height, "
                        "grid_width) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    for (const auto& l : layers) {
      q.bind(1, l.id);
      q.bind(2, l.name);
      q.bind(3, l.requested);
      q.bind(4, l.read_at);
      q.bind(5, l.relu ? 1 : 0);
      q.bind(6, std::string(layout_name(l.layout)));
      q.bind(7, static_cast<int64_t>(l.units));
      q.bind(8, static_cast<int64_t>(l.cells));
      q.bind(9, static_cast<int64_t>(l.grid_height));
      q.bind(10, static_cast<int64_t>(l.grid_width));
      q.exec();
      q.reset();
    }
    t.commit();
    Atlas atlas(dir, std::move(db));
    atlas.load_layers();
    return atlas;
  });
}

Atlas Atlas::open(const fs::path& dir, bool writable) {
  const fs::path path = dir / kDatabaseName;
  if (!fs::is_directory(dir)) throw ArgumentError("atlas", dir.string(), "no such directory");
  if (!fs::is_regular_file(path))
    throw ArgumentError("atlas", dir.string(), fmt::format("not an atlas (no {})", kDatabaseName));
  return sqlite_guarded(path, nullptr, [&] {
    auto db =
        std::make_unique<SQLite::Database>(path.string(), writable ? SQLite::OPEN_READWRITE : SQLite::OPEN_READONLY);
    db->setBusyTimeout(5000);  // a reader may meet a running index's checkpoint
    Atlas atlas(dir, std::move(db));
    const auto version = atlas.meta("format_version");
    if (!version) throw Error(fmt::format("{}: not a clipscope atlas database", path.string()));
    if (to_number<int>(*version) != kFormatVersion)
      throw Error(
          fmt::format("{}: atlas format {} (this clipscope reads format {})", path.string(), *version, kFormatVersion));
    atlas.load_layers();
    return atlas;
  });
}

void Atlas::load_layers() {
  layers_.clear();
  SQLite::Statement q(*db_,
                      "SELECT id, name, requested, read_at, relu, layout, units, cells, grid_height, grid_width FROM "
                      "layers ORDER BY id");
  while (q.executeStep()) {
    LayerInfo l;
    l.id = q.getColumn(0).getInt();
    l.name = q.getColumn(1).getString();
    l.requested = q.getColumn(2).getString();
    l.read_at = q.getColumn(3).getString();
    l.relu = q.getColumn(4).getInt() != 0;
    l.layout = parse_layout(q.getColumn(5).getString(), (dir_ / kDatabaseName).string() + ": layer " + l.name);
    l.units = q.getColumn(6).getInt64();
    l.cells = q.getColumn(7).getInt64();
    l.grid_height = q.getColumn(8).getInt64();
    l.grid_width = q.getColumn(9).getInt64();
    layers_.push_back(l);
  }
}

std::string quantity_name(Quantity quantity) { return quantity == Quantity::Max ? "max" : "mean"; }

Quantity parse_quantity(const std::string& name, const std::string& parameter) {
  if (name == "max") return Quantity::Max;
  if (name == "mean") return Quantity::Mean;
  throw ArgumentError(parameter, name, "expected max or mean");
}

std::vector<std::string> quantity_names(const std::vector<Quantity>& quantities) {
  std::vector<std::string> names;
  for (Quantity q : quantities) names.push_back(quantity_name(q));
  return names;
}

fs::path Atlas::matrix_path(const std::string& layer, Quantity quantity) const {
  return dir_ / "matrix" / fmt::format("{}.{}.npy", layer, quantity_name(quantity));
}

std::optional<std::string> Atlas::meta(const std::string& key) const {
  return sqlite_guarded(dir_ / kDatabaseName, db_.get(), [&]() -> std::optional<std::string> {
    SQLite::Statement q(*db_, "SELECT value FROM meta WHERE key = ?");
    q.bind(1, key);
    if (!q.executeStep()) return std::nullopt;
    return q.getColumn(0).getString();
  });
}

std::string Atlas::status() const { return meta("status").value_or(""); }

Settings Atlas::settings() const {
  auto get = [this](const char* key) {
    auto v = meta(key);
    if (!v) throw Error(fmt::format("{}: atlas metadata lacks '{}'", (dir_ / kDatabaseName).string(), key));
    return *v;
  };
  Settings s;
  s.model = get("model");
  s.model_sha256 = get("model_sha256");
  s.architecture = meta("architecture").value_or("");
  s.precision = get("precision");
  s.n_px = parse_number<int>(get("n_px"), "atlas metadata n_px");
  s.k = parse_number<int>(get("k"), "atlas metadata k");
  s.batch_size = parse_number<int>(get("batch_size"), "atlas metadata batch_size");
  s.layers = json_strings(get("layers"));
  s.matrix_layers = json_strings(get("matrix_layers"));
  for (const auto& name : json_strings(get("matrix_quantities")))
    s.matrix_quantities.push_back(parse_quantity(name, "atlas metadata matrix_quantities"));
  s.inputs_total = parse_number<int64_t>(get("inputs_total"), "atlas metadata inputs_total");
  s.inputs_sha256 = get("inputs_sha256");
  return s;
}

Shard Atlas::shard() const {
  Shard s = parse_shard(meta("shard").value_or("0/1"));
  s.first = parse_number<int64_t>(meta("first_input").value_or("0"), "atlas metadata first_input");
  s.end = parse_number<int64_t>(meta("end_input").value_or("0"), "atlas metadata end_input");
  return s;
}

int64_t Atlas::next_input() const {
  return parse_number<int64_t>(meta("next_input").value_or("0"), "atlas metadata next_input");
}

std::string Atlas::settings_difference(const Settings& other) const {
  const Settings ours = settings();
  auto list = [](const std::vector<std::string>& v) { return fmt::format("[{}]", fmt::join(v, ", ")); };
  const std::vector<std::tuple<const char*, std::string, std::string>> fields = {
      {"model checkpoint (sha256)", ours.model_sha256, other.model_sha256},
      {"precision", ours.precision, other.precision},
      {"k", std::to_string(ours.k), std::to_string(other.k)},
      {"batch size", std::to_string(ours.batch_size), std::to_string(other.batch_size)},
      {"layers", list(ours.layers), list(other.layers)},
      {"matrix layers", list(ours.matrix_layers), list(other.matrix_layers)},
      {"matrix quantities", list(quantity_names(ours.matrix_quantities)),
       list(quantity_names(other.matrix_quantities))},
      {"number of inputs", std::to_string(ours.inputs_total), std::to_string(other.inputs_total)},
      {"input paths (sha256)", ours.inputs_sha256, other.inputs_sha256},
  };
  for (const auto& [name, a, b] : fields)
    if (a != b) return fmt::format("{}: {} vs {}", name, a, b);
  // Older atlases did not record it; theirs cannot be checked.
  if (!ours.architecture.empty() && ours.architecture != other.architecture)
    return fmt::format("model architecture (activation, preprocessing): {} vs {}", ours.architecture,
                       other.architecture);
  return {};
}

const LayerInfo& Atlas::layer(const std::string& name) const {
  for (const auto& l : layers_)
    if (l.name == name || l.requested == name) return l;
  std::vector<std::string> names;
  for (const auto& l : layers_) names.push_back(l.name);
  throw Error(fmt::format("layer {}: not in atlas {} (it has {})", name, dir_.string(), fmt::join(names, ", ")));
}

void Atlas::check_unit(const LayerInfo& layer, int64_t unit) const {
  if (unit < 0 || unit >= layer.units)
    throw Error(
        fmt::format("unit {}:{}: out of range ({} has units 0-{})", layer.name, unit, layer.name, layer.units - 1));
}

std::map<int, LayerAccumulator> Atlas::load_accumulators() const {
  return sqlite_guarded(dir_ / kDatabaseName, db_.get(), [&] {
    std::map<int, LayerAccumulator> result;
    const int k = parse_number<int>(meta("k").value_or("100"), "atlas metadata k");
    for (const auto& l : layers_) result.emplace(l.id, LayerAccumulator(l.units, k));
    SQLite::Statement q(*db_, "SELECT layer, state FROM accumulators");
    while (q.executeStep()) {
      const auto blob = q.getColumn(1);
      result[q.getColumn(0).getInt()] =
          LayerAccumulator::deserialize(std::string_view(static_cast<const char*>(blob.getBlob()), blob.getBytes()));
    }
    return result;
  });
}

void Atlas::checkpoint(const std::vector<ImageRecord>& images, const std::map<int, LayerAccumulator>& accumulators,
                       int64_t next_input) {
  sqlite_transaction(dir_ / kDatabaseName, *db_, [&] {
    SQLite::Statement add_image(*db_, "INSERT OR REPLACE INTO images(id, path, status, error) VALUES(?, ?, ?, ?)");
    for (const auto& image : images) {
      add_image.bind(1, static_cast<int64_t>(image.id));
      add_image.bind(2, image.path);
      add_image.bind(3, image.error.empty() ? "ok" : "skipped");
      if (image.error.empty())
        add_image.bind(4);
      else
        add_image.bind(4, image.error);
      add_image.exec();
      add_image.reset();
    }
    SQLite::Statement save(*db_, "INSERT OR REPLACE INTO accumulators(layer, state) VALUES(?, ?)");
    for (const auto& [layer, acc] : accumulators) {
      const std::string blob = acc.serialize();
      save.bind(1, layer);
      save.bind(2, blob.data(), static_cast<int>(blob.size()));
      save.exec();
      save.reset();
    }
    set_meta(*db_, "next_input", std::to_string(next_input));
  });
}

void Atlas::finalize(const std::map<int, LayerAccumulator>& accumulators) {
  sqlite_transaction(dir_ / kDatabaseName, *db_, [&] {
    db_->exec("DELETE FROM examples; DELETE FROM unit_stats; DELETE FROM matrices;");
    ExampleInserter add_example(*db_);
    SQLite::Statement add_stats(*db_,
                                "INSERT INTO unit_stats(layer, unit, quantity, count, nonfinite, mean, std, rms, min, "
                                "max, hist_lo, hist_width, hist) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    for (const auto& [layer, acc] : accumulators) {
      for (int64_t unit = 0; unit < acc.top_max.units(); ++unit) {
        for (ExampleList list : kExampleLists) {
          const auto examples = lists_of(acc, list).sorted(unit);
          for (size_t rank = 0; rank < examples.size(); ++rank)
            add_example.add(layer, unit, list, static_cast<int>(rank), examples[rank]);
        }
        for (const auto& [quantity, stats] :
             {std::pair{Quantity::Max, &acc.max_stats}, std::pair{Quantity::Mean, &acc.mean_stats}}) {
          const Summary s = stats->summary(unit);
          const StdHistogram h = stats->std_histogram(unit, kHistogramBinWidth);
          add_stats.bind(1, layer);
          add_stats.bind(2, static_cast<int64_t>(unit));
          add_stats.bind(3, quantity_name(quantity));
          add_stats.bind(4, static_cast<int64_t>(s.count));
          add_stats.bind(5, static_cast<int64_t>(s.nonfinite));
          add_stats.bind(6, s.mean);
          add_stats.bind(7, s.std);
          add_stats.bind(8, s.rms);
          add_stats.bind(9, s.min);
          add_stats.bind(10, s.max);
          add_stats.bind(11, h.lo);
          add_stats.bind(12, h.width);
          add_stats.bind(13, json(h.counts).dump());
          add_stats.exec();
          add_stats.reset();
        }
      }
    }
    add_example.flush();
    const Settings s = settings();
    const Shard sh = shard();
    SQLite::Statement add_matrix(*db_,
                                 "INSERT INTO matrices(layer, quantity, file, units, columns, first_image) VALUES(?, "
                                 "?, ?, ?, ?, ?)");
    for (const auto& name : s.matrix_layers) {
      const LayerInfo& l = layer(name);
      for (const Quantity quantity : s.matrix_quantities) {
        add_matrix.bind(1, l.id);
        add_matrix.bind(2, quantity_name(quantity));
        add_matrix.bind(3, fs::relative(matrix_path(l.name, quantity), dir_).generic_string());
        add_matrix.bind(4, static_cast<int64_t>(l.units));
        add_matrix.bind(5, static_cast<int64_t>(sh.end - sh.first));
        add_matrix.bind(6, static_cast<int64_t>(sh.first));
        add_matrix.exec();
        add_matrix.reset();
      }
    }
    set_meta(*db_, "status", "complete");
    set_meta(*db_, "completed", now_utc());
  });
}

int64_t Atlas::image_count(bool readable_only) const {
  return sqlite_guarded(dir_ / kDatabaseName, db_.get(), [&] {
    return db_
        ->execAndGet(readable_only ? "SELECT count(*) FROM images WHERE status = 'ok'" : "SELECT count(*) FROM images")
        .getInt64();
  });
}

std::vector<ImageRecord> Atlas::skipped_images() const {
  return sqlite_guarded(dir_ / kDatabaseName, db_.get(), [&] {
    std::vector<ImageRecord> out;
    SQLite::Statement q(*db_, "SELECT id, path, error FROM images WHERE status = 'skipped' ORDER BY id");
    while (q.executeStep())
      out.push_back({q.getColumn(0).getInt64(), q.getColumn(1).getString(), q.getColumn(2).getString()});
    return out;
  });
}

std::string Atlas::image_path(int64_t id) const {
  return sqlite_guarded(dir_ / kDatabaseName, db_.get(), [&] {
    SQLite::Statement q(*db_, "SELECT path FROM images WHERE id = ?");
    q.bind(1, static_cast<int64_t>(id));
    if (!q.executeStep()) throw Error(fmt::format("image {}: not in atlas {}", id, dir_.string()));
    return q.getColumn(0).getString();
  });
}

std::vector<std::pair<int64_t, std::string>> Atlas::readable_images() const {
  return sqlite_guarded(dir_ / kDatabaseName, db_.get(), [&] {
    SQLite::Statement q(*db_, "SELECT id, path FROM images WHERE status = 'ok' ORDER BY id");
    std::vector<std::pair<int64_t, std::string>> out;
    while (q.executeStep()) out.emplace_back(q.getColumn(0).getInt64(), q.getColumn(1).getString());
    return out;
  });
}

std::vector<ExampleRow> Atlas::examples(const LayerInfo& layer, int64_t unit, ExampleList list, int k) const {
  check_unit(layer, unit);
  return sqlite_guarded(dir_ / kDatabaseName, db_.get(), [&] {
    SQLite::Statement q(
        *db_,
        "SELECT e.rank, e.image, e.value, e.cell, i.path FROM examples e JOIN images i ON i.id = e.image "
        "WHERE e.layer = ? AND e.unit = ? AND e.list = ? ORDER BY e.rank LIMIT ?");
    q.bind(1, layer.id);
    q.bind(2, static_cast<int64_t>(unit));
    q.bind(3, std::string(example_list_name(list)));
    q.bind(4, static_cast<int64_t>(k > 0 ? k : -1));
    std::vector<ExampleRow> rows;
    while (q.executeStep())
      rows.push_back({q.getColumn(0).getInt(), q.getColumn(1).getInt64(),
                      static_cast<float>(q.getColumn(2).getDouble()), q.getColumn(3).getInt(),
                      q.getColumn(4).getString()});
    return rows;
  });
}

namespace {
SQLite::Statement stats_query(SQLite::Database& db, const LayerInfo& layer, int64_t unit, Quantity quantity) {
  SQLite::Statement q(db,
                      "SELECT count, nonfinite, mean, std, rms, min, max, hist_lo, hist_width, hist FROM unit_stats "
                      "WHERE layer = ? AND unit = ? AND quantity = ?");
  q.bind(1, layer.id);
  q.bind(2, static_cast<int64_t>(unit));
  q.bind(3, quantity_name(quantity));
  if (!q.executeStep())
    throw Error(fmt::format("unit {}:{}: no '{}' statistics in the atlas (is it complete?)", layer.name, unit,
                            quantity_name(quantity)));
  return q;
}
}  // namespace

Summary Atlas::summary(const LayerInfo& layer, int64_t unit, Quantity quantity) const {
  check_unit(layer, unit);
  return sqlite_guarded(dir_ / kDatabaseName, db_.get(), [&] {
    auto q = stats_query(*db_, layer, unit, quantity);
    Summary s;
    s.count = q.getColumn(0).getInt64();
    s.nonfinite = q.getColumn(1).getInt64();
    s.mean = q.getColumn(2).getDouble();
    s.std = q.getColumn(3).getDouble();
    s.rms = q.getColumn(4).getDouble();
    s.min = q.getColumn(5).getDouble();
    s.max = q.getColumn(6).getDouble();
    return s;
  });
}

StdHistogram Atlas::histogram(const LayerInfo& layer, int64_t unit, Quantity quantity) const {
  check_unit(layer, unit);
  return sqlite_guarded(dir_ / kDatabaseName, db_.get(), [&] {
    auto q = stats_query(*db_, layer, unit, quantity);
    StdHistogram h;
    h.lo = q.getColumn(7).getDouble();
    h.width = q.getColumn(8).getDouble();
    h.counts = json::parse(q.getColumn(9).getString()).get<std::vector<int64_t>>();
    return h;
  });
}

std::optional<fs::path> Atlas::matrix(const LayerInfo& layer, Quantity quantity) const {
  return sqlite_guarded(dir_ / kDatabaseName, db_.get(), [&]() -> std::optional<fs::path> {
    SQLite::Statement q(*db_, "SELECT file FROM matrices WHERE layer = ? AND quantity = ?");
    q.bind(1, layer.id);
    q.bind(2, quantity_name(quantity));
    if (!q.executeStep()) return std::nullopt;
    return dir_ / q.getColumn(0).getString();
  });
}

}  // namespace clipscope::atlas
