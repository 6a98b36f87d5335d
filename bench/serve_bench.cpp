// clipscope serve's API latency on an atlas the size the article studied: a
// synthetic atlas of 100,000 images x 2,560 units (RN50x4's layer4.5, 9x9 grid,
// k = 100, a max matrix, labels for conditional-probability plots, a word set
// with every unit's top 50 words), built once through the atlas library and kept
// in $TMPDIR. The server runs in this process; requests go over loopback with
// httplib's client, one at a time, for random units. Reports p50/p95/p99 in ms.
//
//   build/bench/serve_bench [--images N] [--requests N] [--keep]
#include <ATen/Parallel.h>
#include <fmt/format.h>
#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include <SQLiteCpp/Transaction.h>

#include "atlas/accumulators.h"
#include "atlas/atlas.h"
#include "atlas/matrix.h"
#include "core/image/image.h"
#include "serve/atlas_view.h"
#include "serve/server.h"
#include "words/database.h"

namespace fs = std::filesystem;
using namespace clipscope;

namespace {

constexpr int64_t kUnits = 2560, kGrid = 9, kK = 100, kWords = 10000, kTopWords = 50;

// A handful of real image files that the 100,000 rows point to in turn, so example
// crops have something to decode.
std::vector<fs::path> sample_images(const fs::path& dir) {
  std::vector<fs::path> out;
  std::mt19937 rng(7);
  for (int i = 0; i < 64; ++i) {
    Image im;
    im.width = im.height = 288;
    im.rgb.resize(static_cast<size_t>(288 * 288 * 3));
    for (auto& b : im.rgb) b = static_cast<uint8_t>(rng() & 0xff);
    out.push_back(dir / fmt::format("img{:02}.jpg", i));
    write_jpeg(out.back(), im);
  }
  return out;
}

void build_atlas(const fs::path& dir, int64_t images) {
  fs::remove_all(dir);
  fs::create_directories(dir / "images");
  const auto files = sample_images(dir / "images");
  atlas::Settings settings;
  settings.model = "synthetic-RN50x4";
  settings.model_sha256 = std::string(64, '0');
  settings.precision = "fp32";
  settings.n_px = 288;
  settings.k = kK;
  settings.layers = {"visual.layer4.5"};
  settings.matrix_layers = {"visual.layer4.5"};
  settings.matrix_quantities = {atlas::Quantity::Max};
  settings.inputs_total = images;
  atlas::LayerInfo layer;
  layer.id = 0;
  layer.name = "visual.layer4.5";
  layer.requested = "image_block_4/5/Add_6";
  layer.read_at = "visual.layer4.5.add";
  layer.relu = true;
  layer.layout = Layout::NCHW;
  layer.units = kUnits;
  layer.cells = kGrid * kGrid;
  layer.grid_height = layer.grid_width = kGrid;
  atlas::Atlas a = atlas::Atlas::create(dir, settings, atlas::Shard{0, 1, 0, images}, {layer}, "serve_bench");

  // Every image's per-unit values: a unit-dependent scale, lognormal-ish tails.
  std::map<int, atlas::LayerAccumulator> accumulators = {{0, atlas::LayerAccumulator(kUnits, kK)}};
  fs::create_directories(a.matrix_path(layer.name, atlas::Quantity::Max).parent_path());
  atlas::MatrixWriter matrix(a.matrix_path(layer.name, atlas::Quantity::Max), kUnits, images);
  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_int_distribution<int32_t> cell(0, kGrid * kGrid - 1);
  atlas::LayerBatch b;
  b.images = 1;
  b.units = kUnits;
  for (auto* v : {&b.max, &b.min, &b.mean, &b.pre_mean}) v->resize(kUnits);
  b.argmax.resize(kUnits);
  b.argmin.resize(kUnits);
  std::vector<atlas::ImageRecord> records;
  const auto start = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < images; ++i) {
    for (int64_t u = 0; u < kUnits; ++u) {
      const float scale = 0.5f + static_cast<float>(u % 17) / 8.0f;
      const float m = scale * std::exp(0.5f * normal(rng));
      b.max[u] = m;
      b.min[u] = -scale * std::exp(0.5f * normal(rng));
      b.mean[u] = 0.3f * m;
      b.pre_mean[u] = 0.1f * m;
      b.argmax[u] = cell(rng);
      b.argmin[u] = cell(rng);
    }
    accumulators[0].add(b, {i});
    matrix.set_column(i, b.max.data(), 1);
    records.push_back({i, fs::absolute(files[static_cast<size_t>(i) % files.size()]).string(), ""});
    if ((i + 1) % 10000 == 0) {
      matrix.flush(i + 1);
      a.checkpoint(records, accumulators, i + 1);
      records.clear();
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      fmt::print(stderr, "\rsynthetic atlas: {}/{} images, {:.0f} img/s", i + 1, images,
                 static_cast<double>(i + 1) / s);
    }
  }
  matrix.flush(images);
  a.checkpoint(records, accumulators, images);
  a.finalize(accumulators);
  fmt::print(stderr, "\n");

  // Labels for conditional-probability plots: 10 categories.
  std::ofstream labels(dir / "labels.csv");
  labels << "image,label\n";
  for (int64_t i = 0; i < images; ++i) labels << i << ",category" << (i * 7919 % 10) << "\n";

  // A word set: 10,000 words, each unit's top 50 (the tables `clipscope words` fills).
  auto db = words::WordDatabase::open(dir, true);
  SQLite::Database& d = db.database();
  SQLite::Transaction t(d);
  SQLite::Statement set(
      d,
      "INSERT INTO word_sets(id, layer, units, style, baseline, baseline_acts, model_sha256, words_total, "
      "words_sha256, k, status) VALUES(1, ?, ?, '{}', 'eeeeee', ?, ?, ?, '', ?, 'complete')");
  std::vector<float> zeros(kUnits, 0.0f);
  set.bind(1, layer.name);
  set.bind(2, kUnits);
  set.bind(3, zeros.data(), static_cast<int>(zeros.size() * sizeof(float)));
  set.bind(4, settings.model_sha256);
  set.bind(5, kWords);
  set.bind(6, static_cast<int>(kTopWords));
  set.exec();
  SQLite::Statement word(d, "INSERT INTO words(set_id, id, word, status) VALUES(1, ?, ?, 'ok')");
  for (int64_t w = 0; w < kWords; ++w) {
    word.bind(1, w);
    word.bind(2, fmt::format("word{}", w));
    word.exec();
    word.reset();
  }
  SQLite::Statement top(d, "INSERT INTO unit_top_words(set_id, unit, rank, word, value) VALUES(1, ?, ?, ?, ?)");
  std::uniform_int_distribution<int64_t> any_word(0, kWords - 1);
  for (int64_t u = 0; u < kUnits; ++u)
    for (int r = 0; r < kTopWords; ++r) {
      top.bind(1, u);
      top.bind(2, r);
      top.bind(3, any_word(rng));
      top.bind(4, 10.0 - r * 0.1);
      top.exec();
      top.reset();
    }
  t.commit();
}

struct Latencies {
  std::vector<double> ms;
  double percentile(double p) {
    std::sort(ms.begin(), ms.end());
    return ms[std::min(ms.size() - 1, static_cast<size_t>(p * static_cast<double>(ms.size())))];
  }
};

Latencies measure(httplib::Client& client, int requests, const std::function<std::string(int)>& path) {
  Latencies l;
  for (int i = 0; i < requests; ++i) {
    const std::string p = path(i);
    const auto t0 = std::chrono::steady_clock::now();
    const auto r = client.Get(p.c_str());
    const auto t1 = std::chrono::steady_clock::now();
    if (!r || r->status != 200) throw std::runtime_error(fmt::format("{}: {}", p, r ? r->body : "no response"));
    l.ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
  }
  return l;
}

}  // namespace

int main(int argc, char** argv) {
  int64_t images = 100000;
  int requests = 500;
  bool keep = true;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--images" && i + 1 < argc)
      images = std::stoll(argv[++i]);
    else if (a == "--requests" && i + 1 < argc)
      requests = std::stoi(argv[++i]);
    else if (a == "--rebuild")
      keep = false;
  }
  at::set_num_threads(static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  const fs::path dir = fs::temp_directory_path() / fmt::format("clipscope_serve_bench_{}", images);
  if (!keep || !atlas::Atlas::exists(dir) || !atlas::Atlas::open(dir).complete()) build_atlas(dir, images);

  serve::ViewOptions options;
  options.atlas = dir;
  options.labels = dir / "labels.csv";
  const auto t0 = std::chrono::steady_clock::now();
  serve::AtlasView view(options);
  const double open_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  serve::ServerOptions server_options;
  server_options.port = 0;
  serve::Server server(view, nullptr, server_options);
  const int port = server.bind();
  std::thread listener([&] { server.listen(); });
  httplib::Client client("127.0.0.1", port);
  client.set_keep_alive(true);
  client.set_tcp_nodelay(true);

  std::mt19937 rng(11);
  std::uniform_int_distribution<int> unit(0, kUnits - 1);
  fmt::print("atlas: {} images x {} units ({}), opened in {:.0f} ms\n", images, kUnits, dir.string(), open_ms);
  fmt::print("{:<44} {:>9} {:>9} {:>9}\n", "request", "p50 ms", "p95 ms", "p99 ms");
  auto report = [&](const std::string& name, Latencies l) {
    fmt::print("{:<44} {:>9.2f} {:>9.2f} {:>9.2f}\n", name, l.percentile(0.5), l.percentile(0.95), l.percentile(0.99));
  };
  report("GET /api/units/L/U?k=20 (unit page)",
         measure(client, requests, [&](int) { return fmt::format("/api/units/visual.layer4.5/{}?k=20", unit(rng)); }));
  report("GET /api/atlas", measure(client, 50, [](int) { return std::string("/api/atlas"); }));
  report("GET /api/layers/L/units?limit=120", measure(client, 50, [&](int i) {
           return fmt::format("/api/layers/visual.layer4.5/units?offset={}&limit=120", i * 40);
         }));
  report("GET /img/example (crop, first request)", measure(client, 100, [&](int i) {
           return fmt::format("/img/example/visual.layer4.5/{}/top_max/{}?size=160", unit(rng), i % 20);
         }));
  report("GET /img/example (crop, cached)",
         measure(client, 100, [&](int) { return std::string("/img/example/visual.layer4.5/7/top_max/0?size=160"); }));
  const auto t1 = std::chrono::steady_clock::now();
  measure(client, 1, [](int) { return std::string("/api/units/visual.layer4.5/0/neighbors?by=correlation"); });
  fmt::print("{:<44} {:>9.0f} (once per layer)\n", "neighbors by correlation: first request",
             std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t1).count());
  report("GET /api/units/L/U/neighbors?by=correlation", measure(client, 100, [&](int) {
           return fmt::format("/api/units/visual.layer4.5/{}/neighbors?by=correlation&k=12", unit(rng));
         }));
  report("GET /api/search?q=word12 (word database)",
         measure(client, 100, [&](int i) { return fmt::format("/api/search?q=word{}&k=12", i * 97 % kWords); }));
  server.stop();
  listener.join();
}
