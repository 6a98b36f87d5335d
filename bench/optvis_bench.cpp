// Feature-visualization steps per second: the real render loop (optvis::render)
// on random RN50 weights at 224 px, lucid's defaults (Fourier parameterization,
// colour decorrelation, sigmoid, standard transforms, Adam 0.05):
//
//   Render/<precision>/<batch>   render() of kStepsPerIteration steps per iteration,
//                                objective sum_b channel(visual.layer4, u_b, batch=b):
//                                image b shows unit u_b, as `clipscope visualize`
//                                batches units (u_b: the b-th live unit, see
//                                live_units); redirect_relu_steps = 0 so every
//                                timed step is the same work
//
// Counters: steps/s (rate over render steps), images/s (steps/s x batch), ms/step,
// objective (the last step's, with transforms), cpu_stall_% (time some task waited
// for a CPU during the row: a compile beside the run shows here).
//
// Before the benchmarks, main runs an untimed check of bf16 gradients (skip it with
// --no_bf16_check) and reports it in the context lines:
//   bf16_check_objective   the first live unit of visual.layer4, batch 1, 64 steps, seed 0,
//                          rendered in fp32 and in bf16 (default redirect_relu_steps);
//                          both final images evaluated on the fp32 path
//                          (optvis::evaluate, no transforms)
//   bf16_check_grad_*      cosine similarity and relative error of the bf16 input
//                          gradient of that objective against fp32, at the render's
//                          first image and at the fp32 render's final image
//
// Extra flags (before the benchmark flags): --threads=N sets LibTorch's intra-op
// threads; --no_bf16_check skips the check.
#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <torch/torch.h>

#include <ATen/Parallel.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>

#include "core/model/clip.h"
#include "core/model/loader.h"
#include "core/model/precision.h"
#include "optvis/objectives.h"
#include "optvis/param.h"
#include "optvis/render.h"
#include "optvis/transforms.h"
#include "threads_flag.h"

namespace {

using namespace clipscope;
using torch::Tensor;

constexpr int kStepsPerIteration = 4;
constexpr const char* kPoint = "visual.layer4";

// Random RN50 weights (seed 0), eval mode, frozen; built once, point list filled
// (one forward of each tower) so that no timed step pays for it.
CLIP& rn50() {
  static std::unique_ptr<CLIP> model;
  if (!model) {
    torch::manual_seed(0);
    model = std::make_unique<CLIP>(CLIPConfig::preset("RN50"));
    (*model)->eval();
    for (auto& p : (*model)->parameters()) p.requires_grad_(false);  // the image is optimized, not the weights
    (*model)->points();
  }
  return *model;
}

CLIP& rn50_at(Precision precision) {
  CLIP& model = rn50();
  if (model->precision() != precision) model->set_precision(precision);
  return model;
}

optvis::ParamOptions lucid_param(int64_t batch, uint64_t seed) {
  optvis::ParamOptions p;  // fft, decorrelate, sigmoid, sd 0.01, 224 x 224
  p.batch = batch;
  p.seed = seed;
  return p;
}

// The render's first image (batch 1, seed 0): near-uniform grey.
Tensor first_image() {
  torch::NoGradGuard no_grad;
  return optvis::make_image_param(lucid_param(1, 0))->image().detach().clone();
}

// Units of visual.layer4 whose channel mean is positive on the first image (fp32 path).
// Random weights leave about half of them at zero on a grey image, and a unit at
// zero has a zero gradient: without redirected ReLU its render never moves.
const std::vector<int64_t>& live_units() {
  static std::vector<int64_t> units;
  if (units.empty()) {
    torch::NoGradGuard no_grad;
    CLIP& model = rn50_at(Precision::FP32);
    ActivationCache cache({kPoint});
    model->run_image(optvis::clip_normalize(first_image()), cache);
    const Tensor means = cache[kPoint].to(torch::kFloat).mean({2, 3})[0];  // (C,)
    for (int64_t c = 0; c < means.size(0); ++c)
      if (means[c].item<double>() > 0) units.push_back(c);
  }
  return units;
}

// Image b shows the b-th live unit.
optvis::Objective units_objective(int64_t batch) {
  const auto& units = live_units();
  optvis::Objective o = optvis::channel(kPoint, units.at(0), 0);
  for (int64_t b = 1; b < batch; ++b) o = o + optvis::channel(kPoint, units.at(b), b);
  return o;
}

// Microseconds some task waited for a CPU since boot (Linux PSI); -1 when unavailable.
// The share of a row's wall time spent stalled tells whether a compile competed with it.
double cpu_stall_us() {
  std::ifstream in("/proc/pressure/cpu");
  std::string line;
  if (!std::getline(in, line)) return -1;
  const auto pos = line.find("total=");
  return pos == std::string::npos ? -1 : std::atof(line.c_str() + pos + 6);
}

void BM_Render(benchmark::State& state, Precision precision) {
  const int64_t batch = state.range(0);
  const optvis::Objective objective = units_objective(batch);  // before rn50_at: finding the units sets fp32
  CLIP& model = rn50_at(precision);
  auto param = optvis::make_image_param(lucid_param(batch, 0));
  optvis::RenderOptions options;  // standard transforms, lr 0.05
  options.redirect_relu_steps = 0;
  options.steps = kStepsPerIteration;
  uint64_t seed = 0;
  double objective_value = 0;
  options.on_step = [&](int, double v) { objective_value = v; };

  {  // warm-up: allocator, oneDNN primitives, transform sizes
    auto warm = options;
    warm.steps = 1;
    optvis::render(model, objective, *param, warm);
  }
  const double stall0 = cpu_stall_us();
  const auto t0 = std::chrono::steady_clock::now();
  for (auto _ : state) {
    options.seed = ++seed;  // fresh transform draws; the image keeps optimizing across iterations
    auto snapshots = optvis::render(model, objective, *param, options);
    benchmark::DoNotOptimize(snapshots.back().images.data_ptr());
  }
  const double wall_us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
  const double stall1 = cpu_stall_us();
  if (stall0 >= 0 && stall1 >= 0 && wall_us > 0) state.counters["cpu_stall_%"] = 100 * (stall1 - stall0) / wall_us;

  state.counters["steps/s"] = benchmark::Counter(kStepsPerIteration, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["images/s"] = benchmark::Counter(static_cast<double>(kStepsPerIteration * batch),
                                                  benchmark::Counter::kIsIterationInvariantRate);
  state.counters["ms/step"] = wall_us / 1000 / static_cast<double>(state.iterations() * kStepsPerIteration);
  state.counters["objective"] = objective_value;  // last step's, with transforms (sanity: finite, rising)
  state.counters["threads"] = at::get_num_threads();
}

// ----- bf16 gradient check ---------------------------------------------------

// d objective / d images on the model's current path (no transforms), fp32.
Tensor input_gradient(CLIP& model, const optvis::Objective& objective, const Tensor& images) {
  torch::AutoGradMode grad(true);
  const Tensor x = images.detach().clone().requires_grad_(true);
  ActivationCache cache(objective.points);
  model->run_image(optvis::clip_normalize(x), cache);
  const Tensor value = objective.value(optvis::ObjectiveInput{cache, x});
  return torch::autograd::grad({value}, {x})[0].to(torch::kFloat).flatten();
}

std::string compare_gradients(const Tensor& reference, const Tensor& other) {
  const double cosine =
      torch::nn::functional::cosine_similarity(reference.unsqueeze(0), other.unsqueeze(0),
                                               torch::nn::functional::CosineSimilarityFuncOptions().dim(1))
          .item<double>();
  const double rel = ((other - reference).norm() / reference.norm()).item<double>();
  const double norm_ratio = (other.norm() / reference.norm()).item<double>();
  return fmt::format("cosine {:.4f}, relative error {:.3f}, norm ratio {:.3f}", cosine, rel, norm_ratio);
}

void bf16_check() {
  const auto start = std::chrono::steady_clock::now();
  const optvis::Objective objective = units_objective(1);
  optvis::RenderOptions options;  // lucid defaults, redirect_relu_steps 16, seed 0
  options.steps = 64;

  const Tensor start_image = first_image();

  auto render_at = [&](Precision precision) {
    auto param = optvis::make_image_param(lucid_param(1, 0));
    double last = 0;
    options.on_step = [&](int, double v) { last = v; };
    Tensor images = optvis::render(rn50_at(precision), objective, *param, options).back().images;
    return std::pair{images, last};
  };
  const auto [fp32_images, fp32_last] = render_at(Precision::FP32);
  const auto [bf16_images, bf16_last] = render_at(Precision::BF16);

  CLIP& fp32 = rn50_at(Precision::FP32);
  const double start_value = optvis::evaluate(fp32, objective, start_image);
  const double fp32_value = optvis::evaluate(fp32, objective, fp32_images);
  const double bf16_value = optvis::evaluate(fp32, objective, bf16_images);
  const double image_diff = (fp32_images - bf16_images).abs().mean().item<double>();
  const Tensor g_fp32_first = input_gradient(fp32, objective, start_image);
  const Tensor g_fp32_final = input_gradient(fp32, objective, fp32_images);
  CLIP& bf16 = rn50_at(Precision::BF16);
  const Tensor g_bf16_first = input_gradient(bf16, objective, start_image);
  const Tensor g_bf16_final = input_gradient(bf16, objective, fp32_images);
  rn50_at(Precision::Exact);
  const Tensor g_exact_first = input_gradient(rn50(), objective, start_image);

  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const std::string objective_line = fmt::format(
      "{} on the fp32 path: start image {:.4g}; after 64 steps rendered in fp32 {:.4g}, in bf16 {:.4g} "
      "(bf16/fp32 {:.3f}); last step with transforms fp32 {:.4g}, bf16 {:.4g}; mean |pixel difference| {:.4f}",
      objective.description, start_value, fp32_value, bf16_value, bf16_value / fp32_value, fp32_last, bf16_last,
      image_diff);
  benchmark::AddCustomContext("bf16_check_objective", objective_line);
  benchmark::AddCustomContext("bf16_check_grad_first_image",
                              "bf16 vs fp32: " + compare_gradients(g_fp32_first, g_bf16_first) +
                                  "; fp32 vs exact: " + compare_gradients(g_exact_first, g_fp32_first));
  benchmark::AddCustomContext("bf16_check_grad_final_image",
                              "bf16 vs fp32: " + compare_gradients(g_fp32_final, g_bf16_final));
  benchmark::AddCustomContext("bf16_check_seconds", fmt::format("{:.1f}", seconds));
  fmt::print(stderr, "bf16 check ({:.1f} s):\n  {}\n  first image: bf16 vs fp32 {}\n  final image: bf16 vs fp32 {}\n",
             seconds, objective_line, compare_gradients(g_fp32_first, g_bf16_first),
             compare_gradients(g_fp32_final, g_bf16_final));
}

// Batch-1 rows run for MinTime; batch-8 rows (seconds per iteration) a fixed count.
void register_benchmarks() {
  for (Precision p : {Precision::Exact, Precision::FP32, Precision::BF16}) {
    const std::string name = "Render/" + std::string(precision_name(p));
    benchmark::RegisterBenchmark(name.c_str(), BM_Render, p)
        ->Arg(1)
        ->MinTime(5.0)
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
    benchmark::RegisterBenchmark(name.c_str(), BM_Render, p)
        ->Arg(8)
        ->Iterations(4)
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
  }
}

bool take_flag(int& argc, char** argv, const char* flag) {
  bool found = false;
  int kept = 0;
  for (int i = 0; i < argc; ++i) {
    if (i > 0 && std::strcmp(argv[i], flag) == 0)
      found = true;
    else
      argv[kept++] = argv[i];
  }
  argc = kept;
  return found;
}

}  // namespace

int main(int argc, char** argv) {
  clipscope::bench::apply_threads_flag(argc, argv);
  const bool skip_check = take_flag(argc, argv, "--no_bf16_check");
  register_benchmarks();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("torch_threads", std::to_string(at::get_num_threads()));
  benchmark::AddCustomContext("native_bf16", clipscope::cpu_has_native_bf16() ? "yes" : "no");
  benchmark::AddCustomContext(
      "render",
      fmt::format("random RN50 (seed 0), 224 px, {}, {}, Adam 0.05, redirect_relu_steps 0, {} steps per iteration, "
                  "objective sum_b channel({}, u_b, batch=b), u_b the b-th live unit",
                  lucid_param(1, 0).describe(), optvis::describe(optvis::standard_transforms()), kStepsPerIteration,
                  kPoint));
  {
    const auto& units = live_units();
    std::string first;
    for (size_t i = 0; i < 8 && i < units.size(); ++i) first += fmt::format("{}{}", i ? "," : "", units[i]);
    benchmark::AddCustomContext("units", fmt::format("{} of {} units of {} have a positive mean on the first image; "
                                                     "image b shows live unit b: {}, ...",
                                                     units.size(), rn50()->point(kPoint).channels, kPoint, first));
  }
  if (!skip_check) bf16_check();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
