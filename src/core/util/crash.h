#pragma once
// The one test hook for killing a long job mid-way, to check that it resumes.
// Each resumable job counts what it has committed (index: batches, words: chunks,
// visualize: renders) and calls crash_point(done, options.crash_after) after each;
// the CLI's hidden --crash-after flag sets it and exits with code 3 on the throw,
// as a killed process would stop (no cleanup, nothing more written).
#include <cstdint>
#include <exception>

namespace clipscope {

struct CrashForTesting : std::exception {
  const char* what() const noexcept override { return "stopped for a test (crash_after)"; }
};

// Throws CrashForTesting when `done` reaches `crash_after` (> 0; 0 never crashes).
inline void crash_point(int64_t done, int64_t crash_after) {
  if (crash_after > 0 && done == crash_after) throw CrashForTesting();
}

}  // namespace clipscope
