#!/usr/bin/env bash
# The circuits tools against Captum-style PyTorch over OpenAI's clip/model.py
# (bench/python_circuits_reference.py, Debian's python3-torch) on the same machine in the
# same run, on random RN50 weights (bench/random_checkpoint):
#   - expanded weights for every pair of units of two consecutive bottlenecks
#     (visual.layer4.1 -> visual.layer4.2: 2,048 x 2,048 kernels of 7 x 7), clipscope's
#     batched backward over the receptive field against Captum's extract_expanded_weights
#     loop (one backward per unit through the whole map);
#   - the backward contributions of one unit of visual.layer4.2 (the one most active on the
#     first images: random weights leave many off) from every unit of visual.layer4.1 over
#     N images of the demo world (gradient x activation).
# Wall-clock times include loading the model and reading the images for clipscope (a whole
# command), not for Python (its timers start after loading). The results are compared
# (largest difference) so the ratio is between the same numbers.
#   bench/circuits_e2e.sh CLIP_REPO [IMAGES]       e.g. bench/circuits_e2e.sh ~/src/CLIP 1000
# Environment: BUILD_DIR (default build), THREADS (2).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
clip_repo=${1:?usage: bench/circuits_e2e.sh CLIP_REPO [IMAGES]}
n_images=${2:-1000}
build=${BUILD_DIR:-$root/build}
threads=${THREADS:-2}
cmake --build "$build" --target clipscope random_checkpoint -j"${JOBS:-2}" >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$build/bench/random_checkpoint" RN50 "$work/rn50.pt" >/dev/null
"$build/clipscope" --quiet world --edition 1 --n "$n_images" --seed 7 --out "$work/world" >/dev/null
find "$work/world/images" -name '*.png' | sort >"$work/images.txt"
cs=("$build/clipscope" --threads "$threads" --quiet)

timed() {  # timed NAME COMMAND...: wall seconds and peak RSS into $work/NAME.time
  /usr/bin/time -f '%e %M' -o "$work/$1.time" "${@:2}" >"$work/$1.out"
}
timed ew "${cs[@]}" expanded-weights --model "$work/rn50.pt" --from visual.layer4.1 --to visual.layer4.2:all \
  -o "$work/ew" --json
mkdir -p "$work/py"
/usr/bin/time -f '%e %M' -o "$work/py.time" /usr/bin/python3 "$root/bench/python_circuits_reference.py" \
  --clip-repo "$clip_repo" --checkpoint "$work/rn50.pt" --images "$work/images.txt" --batch 32 \
  --threads "$threads" --json "$work/py.json" --out "$work/py" >/dev/null
unit=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["unit"])' "$work/py.json")
timed contrib "${cs[@]}" contributions --model "$work/rn50.pt" --from visual.layer4.1 --to "visual.layer4.2:$unit" \
  --images "$work/images.txt" --batch 32 -o "$work/contrib"

/usr/bin/python3 - "$work" <<'PY'
import csv, json, sys
import numpy as np
w = sys.argv[1]
py = json.load(open(f"{w}/py.json"))
t = {k: [float(x) for x in open(f"{w}/{k}.time").read().split()] for k in ("ew", "contrib", "py")}
ours, ref = np.load(f"{w}/ew/weights.npy"), np.load(f"{w}/py/expanded_weights.npy")
scale = np.abs(ref).max()
print(f"expanded weights visual.layer4.1 -> visual.layer4.2, {ref.shape[0]} x {ref.shape[1]} kernels "
      f"{ref.shape[2]}x{ref.shape[3]} (largest |difference| {np.abs(ours - ref).max() / scale:.1e} of the largest "
      f"weight)")
print(f"  Captum-style loop (torch {py['torch']}): {py['expanded_seconds']:.1f} s")
ew = json.load(open(f"{w}/ew.out"))
print(f"  clipscope --batch 64: {t['ew'][0]:.1f} s, peak {t['ew'][1] / 1024:.0f} MiB "
      f"({py['expanded_seconds'] / t['ew'][0]:.1f}x); of which computing {ew['seconds']:.1f} s "
      f"({py['expanded_seconds'] / ew['seconds']:.1f}x)")
ref = np.load(f"{w}/py/contributions.npy")
ours = np.zeros_like(ref)
for row in csv.DictReader(open(f"{w}/contrib/contributions.csv")):
    ours[int(row["unit"])] = float(row["contribution"])
print(f"contributions of visual.layer4.1 to visual.layer4.2:{py['unit']} over {py['images']} images "
      f"(largest |difference| {np.abs(ours - ref).max() / np.abs(ref).max():.1e} of the largest)")
print(f"  Captum-style gradient x activation: {py['contributions_seconds']:.1f} s")
print(f"  clipscope contributions: {t['contrib'][0]:.1f} s, peak {t['contrib'][1] / 1024:.0f} MiB "
      f"({py['contributions_seconds'] / t['contrib'][0]:.1f}x)")
print(f"  Python process peak {t['py'][1] / 1024:.0f} MiB (both parts)")
PY
