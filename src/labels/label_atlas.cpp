#include "labels/label_atlas.h"

#include <SQLiteCpp/Statement.h>
#include <fmt/format.h>
#include <torch/torch.h>

#include <chrono>
#include <limits>
#include <map>
#include <optional>

#include "atlas/atlas.h"
#include "core/hub/download.h"
#include "core/model/image_batches.h"
#include "core/model/tensor_io.h"
#include "core/util/crash.h"
#include "core/util/error.h"
#include "core/util/progress.h"
#include "core/util/sqlite.h"
#include "core/util/strings.h"
#include "zeroshot/zeroshot.h"

namespace fs = std::filesystem;
using torch::Tensor;

namespace clipscope::labels {

namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS label_runs(
  id INTEGER PRIMARY KEY,
  layer TEXT NOT NULL,            -- canonical point name
  method TEXT NOT NULL,           -- soft-wpmi, wpmi, cos or cos3
  quantity TEXT NOT NULL,         -- the matrix read: mean or max
  model_sha256 TEXT NOT NULL,     -- the labelling CLIP's checkpoint
  concepts INTEGER NOT NULL,
  concepts_sha256 TEXT NOT NULL,  -- of the concepts, one per line
  prompt TEXT NOT NULL,
  images INTEGER NOT NULL,
  created TEXT NOT NULL,          -- UTC, ISO 8601
  UNIQUE(layer, method)
);
CREATE TABLE IF NOT EXISTS unit_labels(
  run INTEGER NOT NULL REFERENCES label_runs(id),
  unit INTEGER NOT NULL,
  rank INTEGER NOT NULL,          -- from 1, best first
  concept TEXT NOT NULL,
  score REAL NOT NULL,
  PRIMARY KEY(run, unit, rank)
) WITHOUT ROWID;
)sql";

// The images' normalized embeddings by the labelling CLIP, (images, embed_dim); rows of
// images that cannot be read are NaN. Chunks of `chunk` images are kept below `cache`.
Tensor image_embeddings(CLIP& model, const std::vector<std::pair<int64_t, std::string>>& images, const fs::path& cache,
                        const LabelOptions& o, LabelReport& report) {
  fs::create_directories(cache);
  const auto total = static_cast<int64_t>(images.size());
  const int64_t chunks = (total + o.chunk_images - 1) / o.chunk_images;
  Progress bar("label: image embeddings", total, "img", o.progress);
  std::vector<Tensor> parts;
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t start = c * o.chunk_images, end = std::min(total, start + o.chunk_images);
    const fs::path file = cache / fmt::format("images-{:09d}-{}.npy", start, end - start);
    Tensor part;
    if (fs::exists(file)) {
      part = read_npy_tensor(file).to(torch::kFloat);
      if (part.dim() != 2 || part.size(0) != end - start)
        throw Error(fmt::format("{}: not {} embeddings (remove it to recompute)", file.string(), end - start));
      ++report.chunks_reused;
    } else {
      std::vector<fs::path> paths;
      for (int64_t i = start; i < end; ++i) paths.emplace_back(images[static_cast<size_t>(i)].second);
      const auto encoded = encode_images(model, paths, o.batch, false);
      part = torch::full({end - start, model->config().embed_dim}, std::numeric_limits<float>::quiet_NaN());
      for (size_t r = 0; r < encoded.indices.size(); ++r)
        part[static_cast<int64_t>(encoded.indices[r])] = encoded.embeddings[static_cast<int64_t>(r)];
      const fs::path partial = fs::path(file.string() + ".part");
      write_npy_tensor(partial, part);
      fs::rename(partial, file);  // a chunk is there whole or not at all
      ++report.chunks_computed;
      crash_point(report.chunks_computed, o.crash_after);
    }
    parts.push_back(part);
    bar.set(end);
  }
  bar.finish();
  const Tensor all = torch::cat(parts);
  return all / all.norm(2, 1, true);
}

// `consume`: the similarities are not needed again (the last layer), so the softmax may
// overwrite them instead of copying the whole matrix.
Tensor scores(Method method, const Tensor& similarity, const Tensor& activations, const LabelOptions& o, bool consume) {
  switch (method) {
    case Method::SoftWpmi: {
      SoftWpmiOptions so = o.soft_wpmi;
      so.consume_similarity = consume;
      so.top_k = std::min<int>(so.top_k, static_cast<int>(activations.size(0)));
      return soft_wpmi(similarity, activations, so);
    }
    case Method::Wpmi: {
      WpmiOptions wo = o.wpmi;
      wo.consume_similarity = consume;
      wo.top_k = std::min<int>(wo.top_k, static_cast<int>(activations.size(0)));
      return wpmi(similarity, activations, wo);
    }
    case Method::Cosine:
      return cosine(similarity, activations);
    case Method::CosineCubed:
      return cosine(similarity, activations, true);
  }
  return {};
}

}  // namespace

Method parse_method(const std::string& name) {
  if (name == "soft-wpmi") return Method::SoftWpmi;
  if (name == "wpmi") return Method::Wpmi;
  if (name == "cos") return Method::Cosine;
  if (name == "cos3") return Method::CosineCubed;
  throw ArgumentError("method", name, "expected soft-wpmi, wpmi, cos or cos3");
}

std::string method_name(Method method) {
  switch (method) {
    case Method::SoftWpmi:
      return "soft-wpmi";
    case Method::Wpmi:
      return "wpmi";
    case Method::Cosine:
      return "cos";
    case Method::CosineCubed:
      return "cos3";
  }
  return "";
}

LabelReport label_atlas(CLIP& model, const Tokenizer& tokenizer, const atlas::ModelIdentity& identity,
                        const fs::path& atlas_dir, const std::vector<std::string>& concepts, const LabelOptions& o) {
  const auto start = std::chrono::steady_clock::now();
  if (concepts.empty()) throw ArgumentError("concepts", "", "the list has no concept");
  if (o.top < 1) throw ArgumentError("top", std::to_string(o.top), "must be positive");
  if (o.batch < 1) throw ArgumentError("batch", std::to_string(o.batch), "must be positive");
  if (o.chunk_images < 1) throw ArgumentError("chunk_images", std::to_string(o.chunk_images), "must be positive");
  const auto atlas = atlas::Atlas::open(atlas_dir);
  if (!atlas.complete())
    throw ArgumentError("atlas", atlas_dir.string(), "is still being indexed (label a complete atlas)");
  const atlas::Quantity quantity = atlas::parse_quantity(o.quantity);
  std::vector<const atlas::LayerInfo*> layers;
  if (o.layers.empty()) {
    for (const auto& l : atlas.layers())
      if (atlas.matrix(l, quantity)) layers.push_back(&l);
    if (layers.empty())
      throw ArgumentError("atlas", atlas_dir.string(),
                          fmt::format("keeps no {} matrix (index it with --matrix {})", o.quantity, o.quantity));
  } else {
    for (const auto& name : o.layers) {
      const auto& l = atlas.layer(name);
      if (!atlas.matrix(l, quantity))
        throw ArgumentError("layers", name, fmt::format("the atlas keeps no {} matrix of it", o.quantity));
      layers.push_back(&l);
    }
  }
  LabelReport report;
  for (const auto* l : layers) report.layers.push_back(l->name);
  report.concepts = static_cast<int64_t>(concepts.size());

  const auto images = atlas.readable_images();
  if (images.empty()) throw ArgumentError("atlas", atlas_dir.string(), "has no readable image");
  const Tensor embeddings =
      image_embeddings(model, images, atlas_dir / "labels" / identity.sha256.substr(0, 16), o, report);
  Tensor text;
  {
    torch::NoGradGuard no_grad;
    text = zero_shot_weights(model, tokenizer, concepts, {o.prompt}, /*truncate=*/true).to(torch::kCPU, torch::kFloat);
  }
  const Tensor readable = embeddings.isfinite().all(1);
  const Tensor rows = readable.nonzero().squeeze(1);
  report.images = rows.size(0);
  if (report.images == 0) throw Error(fmt::format("{}: none of its images could be read", atlas_dir.string()));
  const Tensor similarity = embeddings.index_select(0, rows).matmul(text.t());  // (images, concepts)
  std::vector<int64_t> ids;
  for (const auto& [id, path] : images) ids.push_back(id);
  const Tensor columns = torch::tensor(ids).index_select(0, rows);

  std::string all_concepts;
  for (const auto& c : concepts) all_concepts += c + "\n";
  const std::string concepts_sha = sha256_text(all_concepts);
  const fs::path db_path = atlas_dir / atlas::kDatabaseName;
  for (const auto* l : layers) {
    // (units, images) matrix columns of the readable images -> (images, units)
    const Tensor matrix = read_npy_tensor(*atlas.matrix(*l, quantity)).to(torch::kFloat);
    Tensor acts = matrix.index_select(1, columns).t().contiguous();
    acts = torch::nan_to_num(acts, 0.0);
    const Tensor s = scores(o.method, similarity, acts, o, /*consume=*/l == layers.back());
    const auto [best, which] = s.topk(std::min<int64_t>(o.top, s.size(1)), 1);
    sqlite_guarded(db_path, nullptr, [&] {
      SQLite::Database db(db_path.string(), SQLite::OPEN_READWRITE);
      db.setBusyTimeout(5000);
      sqlite_transaction(db_path, db, [&] {
        db.exec(kSchema);
        delete_runs(db, "label_runs", "unit_labels", "layer = ? AND method = ?", l->name, method_name(o.method));
        SQLite::Statement run(db,
                              "INSERT INTO label_runs(layer, method, quantity, model_sha256, concepts, "
                              "concepts_sha256, prompt, images, created) VALUES(?, ?, ?, ?, ?, ?, ?, ?, "
                              "strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))");
        run.bind(1, l->name);
        run.bind(2, method_name(o.method));
        run.bind(3, o.quantity);
        run.bind(4, identity.sha256);
        run.bind(5, report.concepts);
        run.bind(6, concepts_sha);
        run.bind(7, o.prompt);
        run.bind(8, report.images);
        run.exec();
        const int64_t id = db.getLastInsertRowid();
        SQLite::Statement label(db, "INSERT INTO unit_labels(run, unit, rank, concept, score) VALUES(?, ?, ?, ?, ?)");
        const auto b = best.accessor<float, 2>();
        const auto w = which.accessor<int64_t, 2>();
        for (int64_t u = 0; u < best.size(0); ++u)
          for (int64_t r = 0; r < best.size(1); ++r) {
            label.bind(1, id);
            label.bind(2, u);
            label.bind(3, r + 1);
            label.bind(4, concepts[static_cast<size_t>(w[u][r])]);
            label.bind(5, static_cast<double>(b[u][r]));
            label.exec();
            label.reset();
          }
      });
    });
  }
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

namespace {

// Stored labels of a layer by a method, per unit (only `unit` when given).
std::map<int64_t, std::vector<UnitLabel>> query_labels(SQLite::Database& db, const std::string& layer, Method method,
                                                       std::optional<int64_t> unit) {
  std::map<int64_t, std::vector<UnitLabel>> out;
  if (!db.tableExists("label_runs")) return out;
  SQLite::Statement q(db, fmt::format("SELECT l.unit, l.concept, l.score FROM unit_labels l JOIN label_runs r ON "
                                      "l.run = r.id WHERE r.layer = ? AND r.method = ?{} ORDER BY l.unit, l.rank",
                                      unit ? " AND l.unit = ?" : ""));
  q.bind(1, layer);
  q.bind(2, method_name(method));
  if (unit) q.bind(3, *unit);
  while (q.executeStep())
    out[q.getColumn(0).getInt64()].push_back({q.getColumn(1).getString(), q.getColumn(2).getDouble()});
  return out;
}

template <typename F>
auto with_atlas_db(const fs::path& atlas_dir, F&& f) {
  const fs::path path = atlas_dir / atlas::kDatabaseName;
  return sqlite_guarded(path, nullptr, [&] {
    SQLite::Database db(path.string(), SQLite::OPEN_READONLY);
    return f(db);
  });
}

}  // namespace

std::vector<UnitLabel> stored_labels(const fs::path& atlas_dir, const std::string& layer, int64_t unit, Method method) {
  auto all = with_atlas_db(atlas_dir, [&](SQLite::Database& db) { return query_labels(db, layer, method, unit); });
  return all.empty() ? std::vector<UnitLabel>{} : std::move(all.begin()->second);
}

std::map<int64_t, std::vector<UnitLabel>> stored_layer_labels(const fs::path& atlas_dir, const std::string& layer,
                                                              Method method) {
  return with_atlas_db(atlas_dir, [&](SQLite::Database& db) { return stored_layer_labels(db, layer, method); });
}

std::map<int64_t, std::vector<UnitLabel>> stored_layer_labels(SQLite::Database& db, const std::string& layer,
                                                              Method method) {
  return query_labels(db, layer, method, std::nullopt);
}

std::optional<Method> stored_method(SQLite::Database& db, const std::string& layer) {
  if (!db.tableExists("label_runs")) return std::nullopt;
  for (const Method m : {Method::SoftWpmi, Method::Wpmi, Method::Cosine, Method::CosineCubed}) {
    SQLite::Statement q(db, "SELECT 1 FROM label_runs WHERE layer = ? AND method = ?");
    q.bind(1, layer);
    q.bind(2, method_name(m));
    if (q.executeStep()) return m;
  }
  return std::nullopt;
}

std::vector<LabelMatch> find_labelled_units(SQLite::Database& db, const std::string& query, int limit) {
  std::vector<LabelMatch> out;
  const std::string text = lower_ascii(trim(query));
  if (text.empty() || !db.tableExists("label_runs")) return out;
  std::string pattern;
  for (char c : text) {
    if (c == '%' || c == '_' || c == '\\') pattern += '\\';
    pattern += c;
  }
  // Exact labels first, then labels starting with the query; better ranks and scores first.
  SQLite::Statement q(
      db,
      "SELECT r.layer, r.method, l.unit, l.concept, l.rank, l.score FROM unit_labels l JOIN label_runs r "
      "ON l.run = r.id WHERE lower(l.concept) LIKE ? ESCAPE '\\' ORDER BY lower(l.concept) != ?, "
      "l.rank, l.score DESC LIMIT ?");
  q.bind(1, pattern + "%");
  q.bind(2, text);
  q.bind(3, limit);
  while (q.executeStep())
    out.push_back({q.getColumn(0).getString(), parse_method(q.getColumn(1).getString()), q.getColumn(2).getInt64(),
                   q.getColumn(3).getString(), q.getColumn(4).getInt(), q.getColumn(5).getDouble()});
  return out;
}

}  // namespace clipscope::labels
