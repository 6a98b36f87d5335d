#!/usr/bin/env bash
# Labelling's scoring stage (soft-WPMI) in clipscope against CLIP-Dissect's own Python
# (similarity.py, imported from a checkout) on the same matrices, same machine, same run:
# time, peak memory and the ratio, and how many units get the same top label.
#   bench/labels_e2e.sh CLIP_DISSECT_CHECKOUT [IMAGES UNITS CONCEPTS]
#   e.g. bench/labels_e2e.sh ~/src/CLIP-dissect 100000 2560 20000   (RN50x4's last layer, 20k words)
# Environment: BUILD_DIR (default build), THREADS (2, both sides).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
checkout=${1:?usage: bench/labels_e2e.sh CLIP_DISSECT_CHECKOUT [IMAGES UNITS CONCEPTS]}
images=${2:-100000}
units=${3:-2560}
concepts=${4:-20000}
build=${BUILD_DIR:-$root/build}
export THREADS=${THREADS:-2}
cmake --build "$build" --target labels_similarity_bench -j"${JOBS:-2}" >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$build/bench/labels_similarity_bench" "$images" "$units" "$concepts" 0 "$work" >/dev/null
/usr/bin/python3 "$root/bench/python_labels_reference.py" --clip-dissect "$checkout" "$images" "$units" "$concepts" 0 \
  "$work" >/dev/null 2>"$work/python.err" || { cat "$work/python.err" >&2; exit 1; }
/usr/bin/python3 - "$work" "$images" "$units" "$concepts" <<'PY'
import json, sys
import numpy as np
w, n, u, d = sys.argv[1], *map(int, sys.argv[2:])
cs, py = json.load(open(f"{w}/clipscope.json")), json.load(open(f"{w}/python.json"))
same = (np.load(f"{w}/clipscope_top1.npy") == np.load(f"{w}/python_top1.npy")).mean()
print(f"soft-WPMI, {n:,} images x {u:,} units x {d:,} concepts ({cs['threads']} threads; "
      f"same top label for {100 * same:.1f} % of units)")
print(f"  CLIP-Dissect similarity.py (torch {py['torch']}): {py['seconds']:.1f} s, "
      f"peak {py['peak_mb'] / 1024:.1f} GiB ({py['inputs_mb'] / 1024:.1f} GiB of inputs)")
print(f"  clipscope labels::soft_wpmi: {cs['seconds']:.1f} s, peak {cs['peak_mb'] / 1024:.1f} GiB "
      f"({cs['inputs_mb'] / 1024:.1f} GiB of inputs): {py['seconds'] / cs['seconds']:.1f}x the speed, "
      f"{(py['peak_mb'] - py['inputs_mb']) / max(cs['peak_mb'] - cs['inputs_mb'], 1):.1f}x less memory beyond the inputs")
PY
