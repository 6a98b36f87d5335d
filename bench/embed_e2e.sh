#!/usr/bin/env bash
# End to end: `clipscope embed` over a folder of real JPEGs (default: the 100
# ImageNet photos in ../shared) against the pure model throughput at the same
# batch size, measured in the same run: images/s, the fraction of pure model
# throughput reached, and peak memory. Random RN50 weights (speed does not
# depend on their values).
#   bench/embed_e2e.sh [IMAGE_DIR] [PRECISIONS...]     e.g. bench/embed_e2e.sh ../shared/data/images/imagenet-sample bf16 fp32
# Environment: BUILD_DIR (default build-bench), MODEL (RN50), BATCH (16), REPEAT (3 runs, best kept),
# PASSES (5: the folder is listed this many times, so that one-time start-up, e.g.
# oneDNN primitive creation, does not dominate 100 images).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build-bench}
images=${1:-$root/../shared/data/images/imagenet-sample}
shift || true
precisions=("${@:-bf16 fp32 exact}")
read -r -a precisions <<<"${precisions[*]}"
model=${MODEL:-RN50}
batch=${BATCH:-16}
repeat=${REPEAT:-3}
passes=${PASSES:-5}
[ -d "$images" ] || { echo "embed_e2e: $images: no such folder" >&2; exit 1; }

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" --target clipscope clipscope_bench random_checkpoint -j"${JOBS:-2}" >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$build/bench/random_checkpoint" "$model" "$work/model.pt" >/dev/null
list="$work/images.txt"
for _ in $(seq "$passes"); do
  find "$(cd "$images" && pwd)" -type f \( -iname '*.jpg' -o -iname '*.jpeg' -o -iname '*.png' \) | sort
done >"$list"
n=$(wc -l <"$list")
echo "model $model (random weights), $n images ($passes passes over $images), batch $batch, $(nproc) cores"
printf '%-6s %12s %12s %10s %12s %14s\n' precision "e2e img/s" "model img/s" "fraction" "peak MiB" "model busy %"
for p in "${precisions[@]}"; do
  # Pure model: the same forward at the same batch size, no decoding.
  pure=$("$build/bench/clipscope_bench" --benchmark_filter="^Forward/$model/$p/$batch/" --benchmark_format=json 2>/dev/null |
         python3 -c 'import json,sys; b=json.load(sys.stdin)["benchmarks"]; print(b[0]["images/s"] if b else "nan")')
  best=0; line=""
  for _ in $(seq "$repeat"); do
    out=$("$build/clipscope" embed --model "$work/model.pt" --precision "$p" --batch-size "$batch" \
          --image "$list" --out "$work/e.npy" 2>&1 >/dev/null | grep "img/s end to end")
    rate=$(sed -E 's/.*: ([0-9.]+) img\/s end to end.*/\1/' <<<"$out")
    if python3 -c "import sys; sys.exit(0 if $rate > $best else 1)"; then best=$rate; line=$out; fi
  done
  busy=$(sed -E 's/.*model busy ([0-9]+) %.*/\1/' <<<"$line")
  peak=$(sed -E 's/.*peak memory ([0-9]+) MiB.*/\1/' <<<"$line")
  frac=$(python3 -c "print(f'{$best / $pure:.2f}')" 2>/dev/null || echo nan)
  printf '%-6s %12s %12.1f %10s %12s %14s\n' "$p" "$best" "$pure" "$frac" "$peak" "$busy"
done
