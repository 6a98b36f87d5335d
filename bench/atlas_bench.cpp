// Atlas costs that do not involve the model: reading one unit's values over a
// million images (what buckets, condprob and the web page's histograms do), the
// per-batch bookkeeping the indexer adds to each forward pass, and merging shards'
// accumulators. Indexing throughput against `clipscope embed` and the MPI speedup
// are measured end to end by bench/atlas_e2e.sh.
#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>

#include <filesystem>
#include <random>
#include <thread>

#include "atlas/accumulators.h"
#include "atlas/atlas.h"
#include "atlas/matrix.h"
#include "atlas/queries.h"

namespace {

namespace fs = std::filesystem;
using namespace clipscope::atlas;

constexpr int64_t kImages = 1'000'000;
constexpr int64_t kUnits = 64;  // rows are independent: a query's cost does not depend on the unit count

const fs::path& million_image_matrix() {
  static const fs::path path = [] {
    const fs::path p = fs::temp_directory_path() / "clipscope_bench_matrix.npy";
    MatrixWriter writer(p, kUnits, kImages);
    std::mt19937 rng(1);
    std::normal_distribution<float> normal(0.5f, 1.0f);
    std::vector<float> column(kUnits);
    for (int64_t c = 0; c < kImages; ++c) {
      for (auto& v : column) v = normal(rng);
      writer.set_column(c, column.data(), 1);
    }
    writer.flush(kImages);
    return p;
  }();
  return path;
}

// One unit over 1,000,000 images: read its row (2 MB of float16) and bucket it for a
// conditional-probability plot, 16 images drawn per bucket.
void BM_UnitQuery_1M(benchmark::State& state) {
  const auto& path = million_image_matrix();
  int64_t unit = 0;
  for (auto _ : state) {
    UnitValues values;
    values.values = read_matrix_row(path, unit++ % kUnits);
    values.rms = 1.1;
    const auto buckets = bucket_images(values, 10, 16, 0);
    benchmark::DoNotOptimize(buckets);
  }
  state.counters["images"] = static_cast<double>(kImages);
}
BENCHMARK(BM_UnitQuery_1M)->Unit(benchmark::kMillisecond);

// The indexer's work per batch besides the forward pass: reduce the captured
// (batch, units, cells) values and update every unit's lists and statistics.
// RN50x4's image_block_4/5/Add_6: 2,560 units on a 9x9 grid; batch 16.
void BM_AccumulateBatch_RN50x4(benchmark::State& state) {
  const int64_t batch = 16, units = 2560, cells = 81;
  std::vector<float> values(static_cast<size_t>(batch * units * cells));
  std::mt19937 rng(2);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (auto& v : values) v = normal(rng);
  LayerAccumulator acc(units, 100);
  std::vector<int64_t> ids(static_cast<size_t>(batch));
  int64_t next = 0;
  for (auto _ : state) {
    for (auto& id : ids) id = next++;
    acc.add(summarize(values.data(), batch, units, cells, true), ids);
  }
  state.counters["img/s"] =
      benchmark::Counter(static_cast<double>(batch), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_AccumulateBatch_RN50x4)->Unit(benchmark::kMillisecond);

// An accumulator (k = 100) that has seen `images` images of normal random values,
// with ids from first_id.
LayerAccumulator random_accumulator(int64_t units, int64_t images, int64_t first_id, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  LayerAccumulator acc(units, 100);
  LayerBatch b;
  b.images = 1;
  b.units = units;
  for (auto* v : {&b.max, &b.min, &b.mean, &b.pre_mean}) v->resize(static_cast<size_t>(units));
  b.argmax.assign(static_cast<size_t>(units), 0);
  b.argmin.assign(static_cast<size_t>(units), 0);
  for (int64_t i = 0; i < images; ++i) {
    for (auto* v : {&b.max, &b.min, &b.mean, &b.pre_mean})
      for (auto& x : *v) x = normal(rng);
    acc.add(b, {first_id + i});
  }
  return acc;
}

// Merging two shards' accumulators for 2,560 units (k = 100) and serializing the result.
void BM_MergeAccumulators_RN50x4(benchmark::State& state) {
  const int64_t units = 2560;
  std::mt19937 rng(3);
  std::vector<LayerAccumulator> shards;
  for (int s = 0; s < 2; ++s) shards.push_back(random_accumulator(units, 2000, s * 100000, rng));
  for (auto _ : state) {
    LayerAccumulator merged = LayerAccumulator::deserialize(shards[0].serialize());
    merged.merge(shards[1]);
    benchmark::DoNotOptimize(merged.serialize());
  }
}
BENCHMARK(BM_MergeAccumulators_RN50x4)->Unit(benchmark::kMillisecond);

// Writing a finished atlas's tables: RN50's visual.layer4 (2,048 units, k = 100,
// four lists: 819,200 example rows, plus 4,096 statistics rows). A fixed cost per
// atlas, paid once at the end of `clipscope index`.
void BM_FinalizeAtlas_RN50(benchmark::State& state) {
  const int64_t units = 2048, images = 200;
  std::mt19937 rng(4);
  const std::map<int, LayerAccumulator> accumulators = {{1, random_accumulator(units, images, 0, rng)}};
  Settings settings;
  settings.model = "RN50";
  settings.layers = {"visual.layer4"};
  settings.inputs_total = images;
  LayerInfo layer;
  layer.id = 1;
  layer.name = layer.requested = layer.read_at = "visual.layer4";
  layer.layout = clipscope::Layout::NCHW;
  layer.units = units;
  const fs::path dir = fs::temp_directory_path() / "clipscope_bench_finalize";
  for (auto _ : state) {
    state.PauseTiming();
    fs::remove_all(dir);
    Atlas atlas = Atlas::create(dir, settings, Shard{0, 1, 0, images}, {layer}, "bench");
    state.ResumeTiming();
    atlas.finalize(accumulators);
  }
  fs::remove_all(dir);
  state.counters["rows/s"] =
      benchmark::Counter(static_cast<double>(units * 4 * 100), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_FinalizeAtlas_RN50)->Unit(benchmark::kMillisecond);

}  // namespace

// As clipscope does by default (--threads 0): one LibTorch thread per core; the
// accumulators split units across them.
int main(int argc, char** argv) {
  at::set_num_threads(static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  benchmark::AddCustomContext("threads", std::to_string(at::get_num_threads()));
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
}
