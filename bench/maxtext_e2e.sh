#!/usr/bin/env bash
# Maximal text's hill climbing: `clipscope maximal-text` against the same loop in OpenAI's
# Python CLIP (bench/python_maxtext_reference.py: clip/model.py, Debian's python3-torch)
# on the same machine in the same run: sequences scored per second and the ratio. Random
# RN50 weights (the text tower of every released ResNet CLIP: width 512, 12 layers) and
# OpenAI's 49,408-token vocabulary; both keep a pool of 28, score 128 children per
# generation in batches of 64, and rank 16 first-order candidates per position.
#   bench/maxtext_e2e.sh CLIP_REPO [GENERATIONS]       e.g. bench/maxtext_e2e.sh ~/src/CLIP 5
# Environment: BUILD_DIR (default build), THREADS (2), PRECISION (fp32 and bf16 are both run).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
clip_repo=${1:?usage: bench/maxtext_e2e.sh CLIP_REPO [GENERATIONS]}
generations=${2:-5}
build=${BUILD_DIR:-$root/build}
threads=${THREADS:-2}
vocab=$root/../shared/clip/bpe_simple_vocab_16e6.txt.gz
[ -f "$vocab" ] || { echo "maxtext_e2e: $vocab: not found (OpenAI's vocabulary in ../shared)" >&2; exit 1; }
cmake --build "$build" --target clipscope random_checkpoint -j"${JOBS:-2}" >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$build/bench/random_checkpoint" RN50 "$work/rn50.pt" >/dev/null
for precision in fp32 bf16; do
  "$build/clipscope" --threads "$threads" --quiet maximal-text --model "$work/rn50.pt" --vocab "$vocab" \
    --precision "$precision" --target 'text("a photo of a dog")' --generations "$generations" --json \
    >"$work/clipscope-$precision.json"
done
/usr/bin/python3 "$root/bench/python_maxtext_reference.py" --clip-repo "$clip_repo" --generations "$generations" \
  --threads "$threads" --json "$work/python.json" >/dev/null
/usr/bin/python3 - "$work" <<'PY'
import json, sys
w = sys.argv[1]
py = json.load(open(f"{w}/python.json"))
print(f"OpenAI clip/model.py (fp32, torch {py['torch']}): {py['evaluated']} sequences in {py['seconds']:.1f} s = "
      f"{py['texts_per_second']:.0f}/s")
for p in ("fp32", "bf16"):
    j = json.load(open(f"{w}/clipscope-{p}.json"))
    rate = j["evaluated"] / j["seconds"]
    print(f"clipscope maximal-text ({p}): {j['evaluated']} sequences in {j['seconds']:.1f} s = {rate:.0f}/s "
          f"({rate / py['texts_per_second']:.1f}x)")
PY
