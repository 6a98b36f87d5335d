#!/usr/bin/env bash
# Builds clipscope and runs the whole test suite with ctest. Tests that need the
# reference data in ../shared (or $CLIPSCOPE_SHARED) skip with a message without it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh "$@"
ctest --test-dir build --output-on-failure -j"${JOBS:-$(nproc)}"
