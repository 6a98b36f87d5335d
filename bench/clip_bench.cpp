// Google Benchmark program for the image tower at the real shapes of OpenAI's
// RN50, RN50x4 and ViT-B/32, with random weights (CLIPConfig::preset):
//
//   Forward/<model>/<precision>/<batch>  encode_image under torch::NoGradGuard, eval
//                             mode, on the exact path and the fp32 and bf16 fast
//                             paths (core/model/precision.h); the fast rows report
//                             speedup_vs_exact against the exact row of this run
//   Text/<model>/<precision>/<batch>     encode_text of prompt-length token rows
//   FwdBwd/<model>/<batch>    one feature-visualization step (exact path): forward
//                             to a point (early stop), objective = mean of one
//                             channel, gradient w.r.t. the input image only
//
// Counters: images/s (rate), FLOP/s (rate, from open_clip's per-image reference
// figures, see kModels), and the FLOPs this program counts itself (convolutions
// and matrix products, 2 per multiply-accumulate) as a cross-check.
//
// Extra flag (before the benchmark flags): --threads=N sets LibTorch's intra-op
// threads (default: every core; Debian's LibTorch otherwise starts with one).
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include <ATen/Parallel.h>
#include <link.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/model/clip.h"
#include "core/model/loader.h"
#include "core/model/points.h"
#include "threads_flag.h"

namespace {

using clipscope::CLIP;
using torch::Tensor;

struct ModelSpec {
  const char* name;
  // Image-tower GFLOPs per image (2 FLOPs per multiply-accumulate), the
  // image_gflops column of open_clip's docs/model_profile.csv (fvcore counts),
  // used as given for the FLOP/s counter.
  double reference_gflops;
  // The point the FwdBwd step differentiates: the last stage / residual block.
  const char* point;
};

constexpr ModelSpec kModels[] = {
    {"RN50", 12.22, "visual.layer4"},
    {"RN50x4", 42.56, "visual.layer4"},
    {"ViT-B/32", 8.82, "visual.transformer.resblocks.11"},
};

const ModelSpec& spec_of(std::string_view name) {
  for (const auto& m : kModels)
    if (name == m.name) return m;
  throw std::runtime_error("unknown model " + std::string(name));
}

// Multiply-accumulates per image of the image tower, counted from the model's
// own modules and point shapes: convolutions, linear layers, attention products.
// Norms, activations, pooling and additions are not counted. Stops after
// `last_point` (inclusive) when given, as an early-stopping forward does.
double count_macs(CLIP& model, const std::string& last_point = {}) {
  std::map<std::string, std::shared_ptr<torch::nn::Module>> modules;
  for (const auto& item : model->named_modules("", /*include_self=*/false)) modules[item.key()] = item.value();
  double macs = 0;
  for (const auto& p : model->points()) {
    if (p.name.rfind("visual", 0) != 0) break;  // image tower points come first
    auto it = modules.find(p.name);
    if (it != modules.end()) {
      auto* module = it->second.get();
      if (auto* conv = dynamic_cast<torch::nn::Conv2dImpl*>(module)) {
        double out = 1;
        for (auto s : p.shape) out *= static_cast<double>(s);  // (C_out, H, W)
        macs += out * static_cast<double>(conv->weight.numel() / conv->weight.size(0));
      } else if (auto* block = dynamic_cast<clipscope::ResidualAttentionBlockImpl*>(module)) {
        const double tokens = static_cast<double>(p.shape[0]), width = static_cast<double>(p.shape[1]);
        const double hidden = static_cast<double>(block->mlp->c_fc->weight.size(0));
        macs += tokens * (4 * width * width + 2 * width * hidden)  // in_proj (q,k,v), out_proj, c_fc, c_proj
                + 2 * tokens * tokens * width;                     // q·k and attn·v
      } else if (auto* pool = dynamic_cast<clipscope::AttentionPool2dImpl*>(module)) {
        const double tokens = static_cast<double>(pool->positional_embedding.size(0));
        const double width = static_cast<double>(pool->positional_embedding.size(1));
        const double out = static_cast<double>(pool->c_proj->weight.size(0));
        macs += 2 * tokens * width * width  // k, v over all tokens
                + width * width             // q over the mean token
                + width * out               // c_proj
                + 2 * tokens * width;       // q·k and attn·v for one query
      }
    } else if (p.name == "visual.proj") {
      auto* vit = dynamic_cast<clipscope::VisionTransformer*>(model->visual.get());
      if (vit) macs += static_cast<double>(vit->proj.size(0) * vit->proj.size(1));
    }
    if (p.name == last_point) break;
  }
  return macs;
}

// One random-weight model per architecture, built on first use and kept for the
// whole run (construction and the points() listing forward are not timed).
CLIP& model_for(const std::string& name) {
  static std::map<std::string, CLIP> cache;
  auto it = cache.find(name);
  if (it == cache.end()) {
    torch::manual_seed(0);
    CLIP model(clipscope::CLIPConfig::preset(name));
    model->eval();
    // Feature visualization optimizes the image, not the weights.
    for (auto& p : model->parameters()) p.requires_grad_(false);
    model->points();  // fills the point list (one forward of each tower)
    it = cache.emplace(name, std::move(model)).first;
  }
  return it->second;
}

// Microseconds some task waited for a CPU since boot (Linux PSI,
// /proc/pressure/cpu "some ... total="); -1 when unavailable. On this project's
// shared 2-core machines the share of a run spent stalled tells whether another
// job (a compile) competed with the measurement.
double cpu_stall_us() {
  std::ifstream in("/proc/pressure/cpu");
  std::string line;
  if (!std::getline(in, line)) return -1;
  const auto pos = line.find("total=");
  return pos == std::string::npos ? -1 : std::atof(line.c_str() + pos + 6);
}

// Times the benchmark loop's surroundings to report the CPU-stall share.
class StallMeter {
 public:
  StallMeter() : stall0_(cpu_stall_us()), t0_(std::chrono::steady_clock::now()) {}
  void report(benchmark::State& state) const {
    const double stall1 = cpu_stall_us();
    const double wall_us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0_).count();
    if (stall0_ >= 0 && stall1 >= 0 && wall_us > 0) state.counters["cpu_stall_%"] = 100 * (stall1 - stall0_) / wall_us;
  }

 private:
  double stall0_;
  std::chrono::steady_clock::time_point t0_;
};

// The BLAS LibTorch's matrix products run on, as loaded (Debian's libtorch uses
// whatever the libblas.so.3 alternative points to: the reference BLAS unless an
// optimized one such as OpenBLAS is installed or found first via LD_LIBRARY_PATH).
// The loaded shared libraries whose file names start with one of `prefixes`.
std::string loaded_libraries(std::vector<std::string> prefixes) {
  struct Search {
    std::vector<std::string> prefixes;
    std::string found;
  } search{std::move(prefixes), {}};
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* data) {
        auto& s = *static_cast<Search*>(data);
        const std::string path = info->dlpi_name ? info->dlpi_name : "";
        const std::string file = std::filesystem::path(path).filename().string();
        for (const auto& prefix : s.prefixes) {
          if (file.rfind(prefix, 0) != 0) continue;
          std::error_code ec;
          const auto real = std::filesystem::canonical(path, ec);
          s.found += (s.found.empty() ? "" : "; ") + (ec ? path : real.string());
          break;
        }
        return 0;
      },
      &search);
  return search.found.empty() ? "none found" : search.found;
}

std::string loaded_blas() { return loaded_libraries({"libblas.so", "libopenblas", "libmkl_rt"}); }

Tensor random_images(CLIP& model, int64_t batch) {
  const int64_t r = model->config().image_resolution;
  return torch::randn({batch, 3, r, r});
}

// flops_per_image drives the FLOP/s rate; counted_gflops is reported as is.
void set_counters(benchmark::State& state, int64_t batch, double flops_per_image, double counted_gflops) {
  const double images = static_cast<double>(state.iterations() * batch);
  state.counters["images/s"] = benchmark::Counter(images, benchmark::Counter::kIsRate);
  state.counters["FLOP/s"] = benchmark::Counter(images * flops_per_image, benchmark::Counter::kIsRate);
  state.counters["counted_GFLOP/img"] = counted_gflops;
  state.counters["threads"] = at::get_num_threads();
}

// Times fn over the benchmark loop and reports items/s relative to the exact path's
// rate for the same key, measured earlier in this run (rows register exact first).
template <typename Fn>
void timed_loop(benchmark::State& state, clipscope::Precision precision, const std::string& key, int64_t items,
                Fn&& fn) {
  static std::map<std::string, double> exact_rate;
  fn();  // warm-up (allocator, kernel setup, oneDNN primitive creation)
  StallMeter stall;
  const auto start = std::chrono::steady_clock::now();
  for (auto _ : state) fn();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  stall.report(state);
  const double rate = static_cast<double>(state.iterations() * items) / seconds;
  if (precision == clipscope::Precision::Exact)
    exact_rate[key] = rate;
  else if (exact_rate.count(key))
    state.counters["speedup_vs_exact"] = rate / exact_rate[key];
}

CLIP& model_at(const char* name, clipscope::Precision precision) {
  CLIP& model = model_for(name);
  if (model->precision() != precision) model->set_precision(precision);
  return model;
}

// Image embedding, no autograd.
void BM_Forward(benchmark::State& state, const char* name, clipscope::Precision precision) {
  const int64_t batch = state.range(0);
  CLIP& model = model_at(name, precision);
  const Tensor images = random_images(model, batch);
  torch::NoGradGuard no_grad;
  timed_loop(state, precision, std::string(name) + "/" + std::to_string(batch), batch, [&] {
    Tensor embedding = model->encode_image(images);
    benchmark::DoNotOptimize(embedding.data_ptr());
  });
  set_counters(state, batch, spec_of(name).reference_gflops * 1e9, 2 * count_macs(model) / 1e9);
}

// Text embedding of prompt-like rows: start token, 10 word tokens, end token
// (the highest id), zero padding to the 77-token context, as clip.tokenize gives
// for "a photo of a {label}." prompts.
void BM_Text(benchmark::State& state, const char* name, clipscope::Precision precision) {
  const int64_t batch = state.range(0);
  CLIP& model = model_at(name, precision);
  const int64_t vocab = model->config().vocab_size, length = 12;
  Tensor tokens = torch::zeros({batch, model->config().context_length}, torch::kLong);
  tokens.slice(1, 0, length - 1).copy_(torch::randint(1, vocab - 1, {batch, length - 1}, torch::kLong));
  tokens.select(1, length - 1).fill_(vocab - 1);
  torch::NoGradGuard no_grad;
  timed_loop(state, precision, std::string("text/") + name + "/" + std::to_string(batch), batch, [&] {
    Tensor embedding = model->encode_text(tokens);
    benchmark::DoNotOptimize(embedding.data_ptr());
  });
  state.counters["texts/s"] =
      benchmark::Counter(static_cast<double>(state.iterations() * batch), benchmark::Counter::kIsRate);
  state.counters["threads"] = at::get_num_threads();
}

// The core step of feature visualization: d mean(channel c of a point) / d image.
void BM_FwdBwd(benchmark::State& state, const char* name) {
  const int64_t batch = state.range(0);
  const ModelSpec& spec = spec_of(name);
  CLIP& model = model_for(name);
  model->set_precision(clipscope::Precision::Exact);
  const Tensor images = random_images(model, batch).requires_grad_(true);
  clipscope::ActivationCache cache({spec.point});
  const int64_t channel = 7;
  auto step = [&] {
    model->run_image(images, cache);
    const Tensor& act = cache[spec.point];
    const Tensor objective = act.select(clipscope::channel_dim(cache.layout(spec.point)), channel).mean();
    return torch::autograd::grad({objective}, {images})[0];
  };
  benchmark::DoNotOptimize(step());  // warm-up
  if (!cache.stopped_early()) {
    state.SkipWithError("the forward did not stop at the requested point");
    return;
  }
  StallMeter stall;
  for (auto _ : state) {
    Tensor grad = step();
    benchmark::DoNotOptimize(grad.data_ptr());
  }
  stall.report(state);
  // No reference figure exists for this step: it runs the tower only up to the
  // point, and its backward computes input gradients only (weights are frozen),
  // which costs about as much as that forward again. FLOP/s therefore uses 2x
  // the counted forward-to-the-point FLOPs (an estimate; reported as counted).
  const double fwd_flops = 2 * count_macs(model, spec.point);
  set_counters(state, batch, 2 * fwd_flops, 2 * fwd_flops / 1e9);
}

// Iteration counts are fixed for the large batches so the whole run stays at a
// few minutes on a 2-core machine; small batches run for at least MinTime.
void register_benchmarks() {
  struct Plan {
    const char* model;
    double min_time_b1;
    int iters_b32;
  };
  using clipscope::Precision;
  for (const Plan& plan : {Plan{"RN50", 3.0, 3}, Plan{"RN50x4", 3.0, 2}, Plan{"ViT-B/32", 3.0, 3}}) {
    const std::string m = plan.model;
    // RN50 also at batch 8 and 16, where the default batch size is chosen.
    const std::vector<int64_t> batches = m == "RN50" ? std::vector<int64_t>{1, 8, 16, 32} : std::vector<int64_t>{1, 32};
    for (int64_t batch : batches) {
      for (Precision p : {Precision::Exact, Precision::FP32, Precision::BF16}) {
        const std::string name = "Forward/" + m + "/" + std::string(clipscope::precision_name(p));
        auto* b = benchmark::RegisterBenchmark(name.c_str(), BM_Forward, plan.model, p)
                      ->Arg(batch)
                      ->Unit(benchmark::kMillisecond)
                      ->UseRealTime();
        if (batch == 1)
          b->MinTime(plan.min_time_b1);
        else
          b->Iterations(batch == 32 ? plan.iters_b32 : 4);
      }
    }
    for (Precision p : {Precision::Exact, Precision::FP32, Precision::BF16}) {
      const std::string name = "Text/" + m + "/" + std::string(clipscope::precision_name(p));
      benchmark::RegisterBenchmark(name.c_str(), BM_Text, plan.model, p)
          ->Arg(80)
          ->MinTime(2.0)
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime();
    }
    benchmark::RegisterBenchmark(("FwdBwd/" + m).c_str(), BM_FwdBwd, plan.model)
        ->Arg(1)
        ->MinTime(plan.min_time_b1)
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
    benchmark::RegisterBenchmark(("FwdBwd/" + m).c_str(), BM_FwdBwd, plan.model)
        ->Arg(8)
        ->Iterations(plan.iters_b32)
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
  }
}

}  // namespace

int main(int argc, char** argv) {
  clipscope::bench::apply_threads_flag(argc, argv);

  benchmark::AddCustomContext("torch_version_header", TORCH_VERSION);
  benchmark::AddCustomContext("torch_threads", std::to_string(at::get_num_threads()));
  benchmark::AddCustomContext("hardware_concurrency", std::to_string(std::thread::hardware_concurrency()));
  const std::string blas = loaded_blas();
  benchmark::AddCustomContext("blas", blas);
  if (blas.find("/blas/libblas.so") != std::string::npos)
    benchmark::AddCustomContext("blas_note",
                                "reference BLAS (unoptimized, single-threaded): matrix products are slow; "
                                "install libopenblas0-openmp (docs/performance.md)");
  else if (blas.find("openblas-pthread") != std::string::npos && at::get_num_threads() > 1 &&
           std::getenv("OPENBLAS_NUM_THREADS") == nullptr)
    benchmark::AddCustomContext("blas_note",
                                "pthread OpenBLAS next to LibTorch's OpenMP threads oversubscribes the "
                                "cores; prefer libopenblas0-openmp or set OPENBLAS_NUM_THREADS=1");
  benchmark::AddCustomContext("allocator", loaded_libraries({"libtcmalloc", "libjemalloc"}) + " (else glibc malloc)");
  benchmark::AddCustomContext("native_bf16", clipscope::cpu_has_native_bf16() ? "yes" : "no");
  benchmark::AddCustomContext("weights",
                              "random (CLIPConfig::preset, seed 0), eval mode; --precision as in the row name");
  benchmark::AddCustomContext("flop_reference", "open_clip docs/model_profile.csv image_gflops per image");
  {
    std::string info = at::get_parallel_info();  // multi-line; keep the backend lines
    std::string backend;
    size_t start = 0;
    while (start < info.size()) {
      size_t end = info.find('\n', start);
      if (end == std::string::npos) end = info.size();
      std::string line = info.substr(start, end - start);
      if (line.find("ATen parallel backend") != std::string::npos || line.find("MKL") != std::string::npos ||
          line.find("OpenMP") != std::string::npos)
        backend += (backend.empty() ? "" : "; ") + line;
      start = end + 1;
    }
    benchmark::AddCustomContext("torch_parallel", backend);
  }

  register_benchmarks();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
