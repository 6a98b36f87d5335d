// Words per second of the word encoder (rasterize, forward, reduce per unit), the
// inner loop of `clipscope words`, `diff` and `region-map`:
//
//   EncodeWords/RN50/<precision>   random RN50 weights, visual.layer4, the default style
//                                  (224-px canvas, DejaVuSans 20, stroke 2, centred)
//   EncodeWords/demo/<precision>   the shipped demo model, visual.layer4, the style its
//                                  tests use (64 px, sizes 10 and 13, stroke 0); skipped
//                                  when the model is not installed
//
// The words are the first ones of ../shared/data/words/google-10000-english.txt that fit
// the canvas (a built-in list when ../shared is absent), encoded 32 per iteration.
// Extra flag (before the benchmark flags): --threads=N sets LibTorch's intra-op threads.
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <memory>

#include "core/hub/zoo.h"
#include "core/model/loader.h"
#include "core/model/precision.h"
#include "threads_flag.h"
#include "words/encoder.h"

namespace {

namespace fs = std::filesystem;
using namespace clipscope;

constexpr int64_t kWordsPerIteration = 32;

// Words in frequency order, those the style can draw.
std::vector<std::string> words_for(const words::WordStyle& style) {
  std::vector<std::string> candidates;
  std::ifstream in(fs::path(CLIPSCOPE_SOURCE_DIR) / "../shared/data/words/google-10000-english.txt");
  for (std::string line; std::getline(in, line) && candidates.size() < 2000;)
    if (!line.empty()) candidates.push_back(line);
  if (candidates.empty())
    candidates = {"the", "of",  "and", "to",   "in",   "for",  "is", "on",    "that", "by",   "this", "with", "you",
                  "it",  "not", "or",  "be",   "are",  "from", "at", "as",    "your", "all",  "have", "new",  "more",
                  "an",  "was", "we",  "will", "home", "can",  "us", "about", "if",   "page", "my",   "has"};
  TextRasterizer raster;
  std::vector<std::string> out;
  for (const auto& w : candidates)
    if (words::word_problem(raster, w, style).empty()) out.push_back(w);
  return out;
}

void run(benchmark::State& state, CLIP& model, Precision precision, const words::WordStyle& style) {
  torch::NoGradGuard no_grad;
  model->set_precision(precision);
  words::WordEncoder encoder(model, "visual.layer4", style);
  const auto list = words_for(style);
  size_t next = 0;
  for (auto _ : state) {
    std::vector<std::string> batch;
    for (int64_t i = 0; i < kWordsPerIteration; ++i) batch.push_back(list[next++ % list.size()]);
    benchmark::DoNotOptimize(encoder.encode(batch));
  }
  state.counters["words/s"] =
      benchmark::Counter(static_cast<double>(kWordsPerIteration), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["images/word"] = static_cast<double>(style.images_per_word());
}

void BM_EncodeWords_RN50(benchmark::State& state, Precision precision) {
  static std::unique_ptr<CLIP> model;
  if (!model) {
    torch::manual_seed(0);
    model = std::make_unique<CLIP>(CLIPConfig::preset("RN50"));
    (*model)->eval();
  }
  run(state, *model, precision, words::WordStyle{});
}

void BM_EncodeWords_Demo(benchmark::State& state, Precision precision) {
  if (!fs::exists(demo_model_path())) {
    state.SkipWithError("demo model not installed (clipscope train-demo)");
    return;
  }
  static std::unique_ptr<CLIP> model;
  if (!model) model = std::make_unique<CLIP>(load_clip(std::string(kDemoModelName)));
  words::WordStyle style;
  style.canvas = 64;
  style.sizes = {10, 13};
  style.stroke = 0;
  run(state, *model, precision, style);
}

BENCHMARK_CAPTURE(BM_EncodeWords_RN50, bf16, Precision::BF16)->Unit(benchmark::kMillisecond)->MinTime(3.0);
BENCHMARK_CAPTURE(BM_EncodeWords_RN50, fp32, Precision::FP32)->Unit(benchmark::kMillisecond)->MinTime(3.0);
BENCHMARK_CAPTURE(BM_EncodeWords_Demo, bf16, Precision::BF16)->Unit(benchmark::kMillisecond)->MinTime(2.0);
BENCHMARK_CAPTURE(BM_EncodeWords_Demo, fp32, Precision::FP32)->Unit(benchmark::kMillisecond)->MinTime(2.0);

}  // namespace

int main(int argc, char** argv) {
  clipscope::bench::apply_threads_flag(argc, argv);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("words", "first words of google-10000-english.txt that fit the canvas, 32 per iteration");
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
