#include "words/database.h"

#include <SQLiteCpp/Statement.h>
#include <SQLiteCpp/Transaction.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <chrono>
#include <fstream>
#include <map>
#include <set>
#include <unordered_map>

#include "atlas/atlas.h"
#include "core/hub/download.h"
#include "core/model/precision.h"
#include "core/util/crash.h"
#include "core/util/error.h"
#include "core/util/progress.h"
#include "core/util/sqlite.h"
#include "core/util/strings.h"

namespace clipscope::words {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS word_sets(
  id INTEGER PRIMARY KEY,
  layer TEXT NOT NULL UNIQUE,       -- canonical point name
  units INTEGER NOT NULL,
  style TEXT NOT NULL,              -- JSON: canvas, sizes, positions, font, stroke, ink, background
  baseline TEXT NOT NULL,           -- the text whose activations are subtracted
  baseline_acts BLOB NOT NULL,      -- float32 x units
  model_sha256 TEXT NOT NULL,
  words_total INTEGER NOT NULL,     -- lines in the word list
  words_sha256 TEXT NOT NULL,       -- of the list file
  k INTEGER NOT NULL,
  status TEXT NOT NULL CHECK(status IN ('encoding', 'complete'))
);
CREATE TABLE IF NOT EXISTS words(
  set_id INTEGER NOT NULL REFERENCES word_sets(id),
  id INTEGER NOT NULL,              -- line number in the list, from 0
  word TEXT NOT NULL,
  status TEXT NOT NULL CHECK(status IN ('ok', 'skipped')),
  error TEXT,                       -- why a skipped word could not be encoded
  acts BLOB,                        -- float32 x units: the word's activations minus the baseline's
  PRIMARY KEY(set_id, id)
);
CREATE INDEX IF NOT EXISTS words_by_text ON words(set_id, word);
CREATE TABLE IF NOT EXISTS word_top_units(
  set_id INTEGER NOT NULL, word INTEGER NOT NULL, rank INTEGER NOT NULL, unit INTEGER NOT NULL, value REAL NOT NULL,
  PRIMARY KEY(set_id, word, rank)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS unit_top_words(
  set_id INTEGER NOT NULL, unit INTEGER NOT NULL, rank INTEGER NOT NULL, word INTEGER NOT NULL, value REAL NOT NULL,
  PRIMARY KEY(set_id, unit, rank)
) WITHOUT ROWID;
)sql";

std::string to_blob(const torch::Tensor& row) {
  const torch::Tensor t = row.to(torch::kCPU, torch::kFloat32).contiguous();
  return std::string(static_cast<const char*>(t.data_ptr()), static_cast<size_t>(t.numel()) * sizeof(float));
}

torch::Tensor from_blob(const SQLite::Column& c, int64_t units, const fs::path& path) {
  if (c.getBytes() != static_cast<int>(units * sizeof(float)))
    throw Error(fmt::format("{}: word activations of {} bytes, expected {} units", path.string(), c.getBytes(), units));
  return torch::from_blob(const_cast<void*>(c.getBlob()), {units}, torch::kFloat32).clone();
}

WordSet read_set(SQLite::Statement& q) {
  WordSet s;
  s.id = q.getColumn(0).getInt();
  s.layer = q.getColumn(1).getString();
  s.units = q.getColumn(2).getInt64();
  s.style = json::parse(q.getColumn(3).getString());
  s.baseline = q.getColumn(4).getString();
  s.model_sha256 = q.getColumn(5).getString();
  s.words_total = q.getColumn(6).getInt64();
  s.words_sha256 = q.getColumn(7).getString();
  s.k = q.getColumn(8).getInt();
  s.status = q.getColumn(9).getString();
  return s;
}
constexpr const char* kSetColumns =
    "id, layer, units, style, baseline, model_sha256, words_total, words_sha256, k, status";

}  // namespace

WordDatabase::WordDatabase(fs::path path, std::unique_ptr<SQLite::Database> db)
    : path_(std::move(path)), db_(std::move(db)) {}

WordDatabase WordDatabase::open(const fs::path& dir, bool writable) {
  const auto atlas = atlas::Atlas::open(dir, writable);  // checks it is an atlas
  const fs::path path = dir / atlas::kDatabaseName;
  return sqlite_guarded(path, nullptr, [&] {
    auto db =
        std::make_unique<SQLite::Database>(path.string(), writable ? SQLite::OPEN_READWRITE : SQLite::OPEN_READONLY);
    db->setBusyTimeout(5000);
    if (writable)
      db->exec(kSchema);
    else if (!db->tableExists("word_sets"))
      throw ArgumentError("atlas", dir.string(), "has no word database (the words command builds one)");
    return WordDatabase(path, std::move(db));
  });
}

std::vector<WordSet> WordDatabase::sets() const {
  return sqlite_guarded(path_, db_.get(), [&] {
    std::vector<WordSet> out;
    SQLite::Statement q(*db_, fmt::format("SELECT {} FROM word_sets ORDER BY id", kSetColumns));
    while (q.executeStep()) out.push_back(read_set(q));
    return out;
  });
}

std::optional<WordSet> WordDatabase::find_set(const std::string& layer) const {
  for (auto& s : sets())
    if (s.layer == layer) return s;
  return std::nullopt;
}

WordSet WordDatabase::set(const std::string& layer) const {
  const auto all = sets();
  std::vector<std::string> names;
  for (const auto& s : all) names.push_back(s.layer);
  if (all.empty()) throw Error(fmt::format("{}: no word sets (build one with clipscope words)", path_.string()));
  if (layer.empty()) {
    if (all.size() > 1)
      throw ArgumentError("layer", "",
                          fmt::format("{} has word sets for {}: choose one", path_.string(), fmt::join(names, ", ")));
    return all.front();
  }
  for (const auto& s : all)
    if (s.layer == layer) return s;
  throw Error(fmt::format("layer {}: no word set in {} (it has {})", layer, path_.string(), fmt::join(names, ", ")));
}

std::vector<WordEntry> WordDatabase::entries(const WordSet& set) const {
  return sqlite_guarded(path_, db_.get(), [&] {
    std::vector<WordEntry> out;
    SQLite::Statement q(*db_, "SELECT id, word, error FROM words WHERE set_id = ? ORDER BY id");
    q.bind(1, set.id);
    while (q.executeStep())
      out.push_back({q.getColumn(0).getInt64(), q.getColumn(1).getString(),
                     q.getColumn(2).isNull() ? "" : q.getColumn(2).getString()});
    return out;
  });
}

std::pair<std::vector<std::string>, torch::Tensor> WordDatabase::matrix(const WordSet& set) const {
  return sqlite_guarded(path_, db_.get(), [&] {
    std::vector<std::string> words;
    std::vector<torch::Tensor> rows;
    SQLite::Statement q(*db_, "SELECT word, acts FROM words WHERE set_id = ? AND status = 'ok' ORDER BY id");
    q.bind(1, set.id);
    while (q.executeStep()) {
      words.push_back(q.getColumn(0).getString());
      rows.push_back(from_blob(q.getColumn(1), set.units, path_));
    }
    torch::Tensor m = rows.empty() ? torch::empty({0, set.units}) : torch::stack(rows);
    return std::make_pair(std::move(words), m);
  });
}

torch::Tensor WordDatabase::baseline(const WordSet& set) const {
  return sqlite_guarded(path_, db_.get(), [&] {
    SQLite::Statement q(*db_, "SELECT baseline_acts FROM word_sets WHERE id = ?");
    q.bind(1, set.id);
    if (!q.executeStep()) throw Error(fmt::format("{}: word set {} vanished", path_.string(), set.layer));
    return from_blob(q.getColumn(0), set.units, path_);
  });
}

std::vector<RankedUnit> WordDatabase::word_units(const WordSet& set, const std::string& word, int k) const {
  return sqlite_guarded(path_, db_.get(), [&] {
    SQLite::Statement find(*db_,
                           "SELECT id, status, error FROM words WHERE set_id = ? AND word = ? ORDER BY id LIMIT 1");
    find.bind(1, set.id);
    find.bind(2, word);
    if (!find.executeStep())
      throw Error(fmt::format(
          "word '{}': not in the word set for {} (add it to the list and run clipscope words again)", word, set.layer));
    if (find.getColumn(1).getString() != "ok")
      throw Error(fmt::format("word '{}': was skipped ({})", word, find.getColumn(2).getString()));
    const int64_t id = find.getColumn(0).getInt64();
    std::vector<RankedUnit> out;
    SQLite::Statement q(*db_,
                        "SELECT unit, value FROM word_top_units WHERE set_id = ? AND word = ? ORDER BY rank LIMIT ?");
    q.bind(1, set.id);
    q.bind(2, id);
    q.bind(3, k);
    while (q.executeStep()) out.push_back({q.getColumn(0).getInt64(), static_cast<float>(q.getColumn(1).getDouble())});
    return out;
  });
}

std::vector<RankedWord> WordDatabase::unit_words(const WordSet& set, int64_t unit, int k) const {
  if (unit < 0 || unit >= set.units)
    throw Error(fmt::format("unit {}:{}: out of range ({} has units 0-{})", set.layer, unit, set.layer, set.units - 1));
  return sqlite_guarded(path_, db_.get(), [&] {
    std::vector<RankedWord> out;
    SQLite::Statement q(
        *db_,
        "SELECT w.word, t.value FROM unit_top_words t JOIN words w ON w.set_id = t.set_id AND w.id = t.word "
        "WHERE t.set_id = ? AND t.unit = ? ORDER BY t.rank LIMIT ?");
    q.bind(1, set.id);
    q.bind(2, unit);
    q.bind(3, k);
    while (q.executeStep()) out.push_back({q.getColumn(0).getString(), static_cast<float>(q.getColumn(1).getDouble())});
    return out;
  });
}

std::vector<WordEntry> read_word_list(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ArgumentError("words", path.string(), "cannot open");
  std::vector<WordEntry> out;
  std::unordered_map<std::string, int64_t> first_line;
  std::string line;
  for (int64_t id = 0; std::getline(in, line); ++id) {
    WordEntry e{id, std::string(trim(line)), ""};
    if (e.word.empty())
      e.error = "empty line";
    else if (e.word.size() > 200)
      e.error = fmt::format("{} bytes long (at most 200)", e.word.size());
    else if (auto [it, fresh] = first_line.emplace(e.word, id); !fresh)
      e.error = fmt::format("duplicate of line {}", it->second + 1);
    if (e.word.size() > 200) e.word = e.word.substr(0, 200);
    out.push_back(std::move(e));
  }
  if (in.bad()) throw ArgumentError("words", path.string(), "read error");
  if (out.empty()) throw ArgumentError("words", path.string(), "is empty");
  return out;
}

namespace {

// word -> top units and unit -> top words, from the stored activations.
void write_top_tables(SQLite::Database& db, const WordSet& set, const std::vector<int64_t>& ids,
                      const torch::Tensor& m) {
  db.exec(fmt::format("DELETE FROM word_top_units WHERE set_id = {0}; DELETE FROM unit_top_words WHERE set_id = {0};",
                      set.id));
  if (m.size(0) == 0) return;
  SQLite::Statement add_unit(db, "INSERT INTO word_top_units(set_id, word, rank, unit, value) VALUES(?, ?, ?, ?, ?)");
  const int64_t k_units = std::min<int64_t>(set.k, m.size(1));
  const auto [unit_values, unit_index] = m.topk(k_units, 1);
  const auto uv = unit_values.accessor<float, 2>();
  const auto ui = unit_index.accessor<int64_t, 2>();
  for (int64_t w = 0; w < m.size(0); ++w)
    for (int64_t r = 0; r < k_units; ++r) {
      add_unit.bind(1, set.id);
      add_unit.bind(2, ids[static_cast<size_t>(w)]);
      add_unit.bind(3, r);
      add_unit.bind(4, ui[w][r]);
      add_unit.bind(5, static_cast<double>(uv[w][r]));
      add_unit.exec();
      add_unit.reset();
    }
  SQLite::Statement add_word(db, "INSERT INTO unit_top_words(set_id, unit, rank, word, value) VALUES(?, ?, ?, ?, ?)");
  const int64_t k_words = std::min<int64_t>(set.k, m.size(0));
  const auto [word_values, word_index] = m.topk(k_words, 0);
  const auto wv = word_values.accessor<float, 2>();
  const auto wi = word_index.accessor<int64_t, 2>();
  for (int64_t u = 0; u < m.size(1); ++u)
    for (int64_t r = 0; r < k_words; ++r) {
      add_word.bind(1, set.id);
      add_word.bind(2, u);
      add_word.bind(3, r);
      add_word.bind(4, ids[static_cast<size_t>(wi[r][u])]);
      add_word.bind(5, static_cast<double>(wv[r][u]));
      add_word.exec();
      add_word.reset();
    }
}

// The first setting that differs between a stored set and this run, or "".
std::string set_difference(const WordSet& stored, const WordSet& wanted) {
  const std::vector<std::tuple<const char*, std::string, std::string>> fields = {
      {"model checkpoint (sha256)", stored.model_sha256, wanted.model_sha256},
      {"rendering", stored.style.dump(), wanted.style.dump()},
      {"baseline", stored.baseline, wanted.baseline},
      {"word list (sha256)", stored.words_sha256, wanted.words_sha256},
      {"k", std::to_string(stored.k), std::to_string(wanted.k)},
  };
  for (const auto& [name, a, b] : fields)
    if (a != b) return fmt::format("{}: {} vs {}", name, a, b);
  return "";
}

}  // namespace

BuildResult build_word_set(CLIP& model, const atlas::ModelIdentity& model_id, const fs::path& list, const fs::path& dir,
                           const BuildOptions& options) {
  if (options.k < 1) throw ArgumentError("k", std::to_string(options.k), "must be positive");
  auto entries = read_word_list(list);
  WordEncoder encoder(model, options.layer, options.style, options.batch_size);
  TextRasterizer raster;
  for (auto& e : entries)
    if (e.error.empty()) e.error = word_problem(raster, e.word, options.style);
  const std::string baseline_problem = word_problem(raster, options.baseline, options.style);
  if (!baseline_problem.empty())
    throw ArgumentError("baseline", fmt::format("'{}'", options.baseline), baseline_problem);

  // The atlas: the one at `dir` (same model), or a new one without images.
  if (!atlas::Atlas::exists(dir)) {
    atlas::Settings s;
    s.model = model_id.spec;
    s.model_sha256 = model_id.sha256;
    s.precision = std::string(precision_name(model->precision()));
    s.n_px = static_cast<int>(model->config().image_resolution);
    auto created = atlas::Atlas::create(dir, s, atlas::Shard{}, {}, "");
    created.finalize({});
  } else {
    const auto existing = atlas::Atlas::open(dir);
    const auto sha = existing.meta("model_sha256").value_or("");
    if (sha != model_id.sha256)
      throw ArgumentError(
          "into", dir.string(),
          fmt::format("the atlas comes from another checkpoint (sha256 {} vs {}); word activations must "
                      "come from the atlas's model",
                      sha.substr(0, 12), model_id.sha256.substr(0, 12)));
  }
  auto db = WordDatabase::open(dir, true);
  SQLite::Database& sql = db.database();

  WordSet wanted;
  wanted.layer = encoder.layer();
  wanted.units = encoder.units();
  wanted.style = encoder.style().to_json();
  wanted.baseline = options.baseline;
  wanted.model_sha256 = model_id.sha256;
  wanted.words_total = static_cast<int64_t>(entries.size());
  wanted.words_sha256 = sha256_file(list);
  wanted.k = options.k;

  BuildResult result;
  std::set<int64_t> done;
  WordSet set;
  if (auto stored = db.find_set(wanted.layer)) {
    const std::string difference = set_difference(*stored, wanted);
    if (!difference.empty())
      throw ArgumentError("into", dir.string(),
                          fmt::format("has a word set for {} built with other settings ({}); use another atlas",
                                      wanted.layer, difference));
    set = *stored;
    if (set.status == "complete") {
      result.already_complete = true;
    }
    sqlite_guarded(db.path(), &sql, [&] {
      SQLite::Statement q(sql, "SELECT id FROM words WHERE set_id = ?");
      q.bind(1, set.id);
      while (q.executeStep()) done.insert(q.getColumn(0).getInt64());
    });
    result.resumed_from = static_cast<int64_t>(done.size());
  } else {
    const std::string blob = to_blob(encoder.encode({options.baseline})[0]);
    sqlite_guarded(db.path(), &sql, [&] {
      SQLite::Statement q(
          sql,
          "INSERT INTO word_sets(layer, units, style, baseline, baseline_acts, model_sha256, words_total, "
          "words_sha256, k, status) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, 'encoding')");
      q.bind(1, wanted.layer);
      q.bind(2, wanted.units);
      q.bind(3, wanted.style.dump());
      q.bind(4, wanted.baseline);
      q.bind(5, blob.data(), static_cast<int>(blob.size()));
      q.bind(6, wanted.model_sha256);
      q.bind(7, wanted.words_total);
      q.bind(8, wanted.words_sha256);
      q.bind(9, wanted.k);
      q.exec();
    });
    set = *db.find_set(wanted.layer);
  }

  if (!result.already_complete) {
    const torch::Tensor baseline = db.baseline(set);
    std::vector<const WordEntry*> todo;
    for (const auto& e : entries)
      if (!done.count(e.id)) todo.push_back(&e);
    Progress bar(fmt::format("words {}", set.layer), static_cast<int64_t>(todo.size()), "words", options.progress);
    const auto start = std::chrono::steady_clock::now();
    int64_t encoded_now = 0;
    int chunks = 0;
    for (size_t first = 0; first < todo.size(); first += static_cast<size_t>(options.chunk_words)) {
      const size_t last = std::min(todo.size(), first + static_cast<size_t>(options.chunk_words));
      std::vector<std::string> words;
      for (size_t i = first; i < last; ++i)
        if (todo[i]->error.empty()) words.push_back(todo[i]->word);
      const torch::Tensor acts = words.empty() ? torch::empty({0, set.units}) : encoder.encode(words, [&](int64_t n) {
        bar.set(static_cast<int64_t>(first) + n);
      }) - baseline;
      sqlite_guarded(db.path(), &sql, [&] {
        SQLite::Transaction t(sql);
        SQLite::Statement add(sql, "INSERT INTO words(set_id, id, word, status, error, acts) VALUES(?, ?, ?, ?, ?, ?)");
        int64_t row = 0;
        for (size_t i = first; i < last; ++i) {
          const WordEntry& e = *todo[i];
          add.bind(1, set.id);
          add.bind(2, e.id);
          add.bind(3, e.word);
          if (e.error.empty()) {
            const std::string blob = to_blob(acts[row++]);
            add.bind(4, "ok");
            add.bind(5);
            add.bind(6, blob.data(), static_cast<int>(blob.size()));
          } else {
            add.bind(4, "skipped");
            add.bind(5, e.error);
            add.bind(6);
          }
          add.exec();
          add.reset();
        }
        t.commit();
      });
      encoded_now += static_cast<int64_t>(words.size());
      bar.set(static_cast<int64_t>(last));
      crash_point(++chunks, options.crash_after);
    }
    bar.finish();
    result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    result.words_per_second = result.seconds > 0 ? static_cast<double>(encoded_now) / result.seconds : 0;

    // Every word is in: the ranking tables, then the set is complete.
    auto [words, m] = db.matrix(set);
    std::vector<int64_t> ids;
    for (const auto& e : db.entries(set))
      if (e.error.empty()) ids.push_back(e.id);
    sqlite_guarded(db.path(), &sql, [&] {
      SQLite::Transaction t(sql);
      write_top_tables(sql, set, ids, m);
      SQLite::Statement q(sql, "UPDATE word_sets SET status = 'complete' WHERE id = ?");
      q.bind(1, set.id);
      q.exec();
      t.commit();
    });
  }
  for (const auto& e : db.entries(set)) {
    if (e.error.empty())
      ++result.encoded;
    else
      result.skipped_entries.push_back(e);
  }
  result.skipped = static_cast<int64_t>(result.skipped_entries.size());
  return result;
}

}  // namespace clipscope::words
