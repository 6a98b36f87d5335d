#!/usr/bin/env bash
# Builds clipscope_bench in Release and runs it, writing the results as JSON.
#   bench/run.sh [OUT.json] [extra flags for clipscope_bench...]
# e.g. bench/run.sh /tmp/b.json --benchmark_filter='Forward/RN50/' --threads=1
# Environment: BUILD_DIR (default build-bench), JOBS (default 2), TARGET (clipscope_bench or demo_bench).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build-bench}
out=${1:-$build/clipscope_bench.json}
if [ $# -gt 0 ]; then shift; fi
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" --target "${TARGET:-clipscope_bench}" -j"${JOBS:-2}"
"$build/bench/${TARGET:-clipscope_bench}" --benchmark_out="$out" --benchmark_out_format=json "$@"
echo "results: $out" >&2
