// CLIP-Dissect's soft-WPMI in clipscope (labels::soft_wpmi) on matrices of a chosen size,
// for bench/labels_e2e.sh's same-run ratio against CLIP-Dissect's own similarity.py. The
// matrices come from LibTorch's generator seeded as the Python side seeds PyTorch's, so
// both score the same numbers (the script checks the units' top labels agree):
//   similarity  (images, concepts) = 0.2 + 0.05 randn   (CLIP cosines are about this)
//   activations (images, units)    = randn
//   labels_similarity_bench IMAGES UNITS CONCEPTS SEED OUT_DIR
// Writes OUT_DIR/clipscope.json (seconds, peak and input memory) and clipscope_top1.npy.
// Environment: THREADS (default 2).
#include <sys/resource.h>
#include <torch/torch.h>

#include <unistd.h>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "core/model/tensor_io.h"
#include "core/util/error.h"
#include "labels/similarity.h"

namespace {

double resident_mb() {  // now
  std::ifstream statm("/proc/self/statm");
  long pages = 0, resident = 0;
  statm >> pages >> resident;
  return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE)) / (1 << 20);
}

double peak_mb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 6) {
    std::fprintf(stderr, "usage: labels_similarity_bench IMAGES UNITS CONCEPTS SEED OUT_DIR\n");
    return 2;
  }
  try {
    const int64_t images = std::atoll(argv[1]), units = std::atoll(argv[2]), concepts = std::atoll(argv[3]);
    const std::string out = argv[5];
    const char* threads = std::getenv("THREADS");
    torch::set_num_threads(threads ? std::atoi(threads) : 2);
    torch::manual_seed(std::atoll(argv[4]));
    torch::Tensor similarity = torch::randn({images, concepts}).mul_(0.05).add_(0.2);
    const torch::Tensor activations = torch::randn({images, units});
    const double inputs = resident_mb();
    clipscope::labels::SoftWpmiOptions options;
    options.consume_similarity = true;  // as clipscope label does for its last layer
    const auto start = std::chrono::steady_clock::now();
    const torch::Tensor scores = clipscope::labels::soft_wpmi(similarity, activations, options);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    clipscope::write_npy_tensor(out + "/clipscope_top1.npy", scores.argmax(1).to(torch::kFloat));
    std::ofstream(out + "/clipscope.json")
        << "{\"seconds\": " << seconds << ", \"inputs_mb\": " << inputs << ", \"peak_mb\": " << peak_mb()
        << ", \"threads\": " << torch::get_num_threads() << "}\n";
    std::printf("soft-wpmi %lld images x %lld units x %lld concepts: %.1f s\n", static_cast<long long>(images),
                static_cast<long long>(units), static_cast<long long>(concepts), seconds);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "labels_similarity_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
