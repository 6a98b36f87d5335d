#pragma once
// The benchmarks' one extra flag, --threads=N (LibTorch intra-op threads; 0 or
// absent = every core), taken out of argv before Google Benchmark sees the flags.
#include <cstdlib>
#include <cstring>

#include "core/model/loader.h"

namespace clipscope::bench {

// Removes every --threads=N from argv (updating argc), applies the last one with
// set_threads and returns it.
inline int apply_threads_flag(int& argc, char** argv) {
  int threads = 0, kept = 0;
  for (int i = 0; i < argc; ++i) {
    if (i > 0 && std::strncmp(argv[i], "--threads=", 10) == 0)
      threads = std::atoi(argv[i] + 10);
    else
      argv[kept++] = argv[i];
  }
  argc = kept;
  clipscope::set_threads(threads);
  return threads;
}

}  // namespace clipscope::bench
