#!/usr/bin/env bash
# End to end, same machine, same run: `clipscope index` against `clipscope
# activations` at the same layer on the same images (the model work is identical;
# the difference is the atlas's bookkeeping and its database), peak memory for 1x
# and 2x the images (it must not grow with them), merge time, and `mpirun -np 2`
# against one process. Random weights (speed does not depend on their values).
#   bench/atlas_e2e.sh [IMAGE_DIR]    (default: the 100 ImageNet photos in ../shared)
# Environment: BUILD_DIR (default build-bench), MODEL (RN50), LAYER (visual.layer4),
# PASSES (5: the folder is listed this many times), PRECISION (auto).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build-bench}
images=${1:-$root/../shared/data/images/imagenet-sample}
model=${MODEL:-RN50}
layer=${LAYER:-visual.layer4}
passes=${PASSES:-5}
precision=${PRECISION:-auto}
[ -d "$images" ] || { echo "atlas_e2e: $images: no such folder" >&2; exit 1; }

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" --target clipscope random_checkpoint -j"${JOBS:-2}" >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$build/bench/random_checkpoint" "$model" "$work/model.pt" >/dev/null
make_list() {  # make_list N FILE: the folder listed N times
  : >"$2"
  for _ in $(seq "$1"); do find "$images" -type f \( -iname '*.jpg' -o -iname '*.jpeg' -o -iname '*.png' \) | sort >>"$2"; done
}
make_list "$passes" "$work/1x.txt"
make_list $((2 * passes)) "$work/2x.txt"
n=$(wc -l <"$work/1x.txt")
cs=("$build/clipscope" --quiet)
common=(--model "$work/model.pt" --precision "$precision")

# run NAME CMD...: wall seconds and peak RSS (MiB) of one command.
calc() { awk "BEGIN { print $* }"; }
run() {
  local name=$1
  shift
  local t0 t1
  t0=$(date +%s.%N)
  /usr/bin/time -f "%M" -o "$work/rss" "$@" >/dev/null
  t1=$(date +%s.%N)
  local s rss
  s=$(calc "$t1 - $t0")
  rss=$(($(cat "$work/rss") / 1024))
  printf '%-34s %7.2f s  %7.1f img/s  peak %5d MiB\n' "$name" "$s" "$(calc "$n / $s")" "$rss"
  echo "$s" >"$work/last"
}

echo "# $model $layer, $n images ($passes passes over $images), precision $precision, $(nproc) cores"
# Whole runs include fixed costs both commands share (loading the model) and the
# atlas's own (hashing the checkpoint, writing the tables); the marginal rate, from
# 1x and 2x the images, is what indexing millions of images runs at. Each timing is
# the best of REPEAT runs (a shared VM's timings vary by a second).
best() {  # best NAME CMD...: the fastest of $repeat runs, in $work/last
  local name=$1 b=""
  shift
  for _ in $(seq "$repeat"); do
    rm -rf "$work/best-out"
    run "$name" "$@" >>"$work/runs.txt"
    b=$(awk -v a="$(cat "$work/last")" -v b="$b" 'BEGIN { print (b == "" || a < b) ? a : b }')
  done
  echo "$b" >"$work/last"
  printf '%-34s %7.2f s  %7.1f img/s  (best of %d)\n' "$name" "$b" "$(calc "$n / $b")" "$repeat"
}
repeat=${REPEAT:-3}
act_args=(activations "${common[@]}" --layer "$layer" --reduce max --out "$work/best-out.npy" --image)
idx_args=(index "${common[@]}" --layers "$layer" --out "$work/best-out" --images)
best "activations --reduce max" "${cs[@]}" "${act_args[@]}" "$work/1x.txt"
act=$(cat "$work/last")
best "index (k=100)" "${cs[@]}" "${idx_args[@]}" "$work/1x.txt"
idx=$(cat "$work/last")
best "index (k=100, --matrix max,mean)" "${cs[@]}" "${idx_args[@]}" "$work/1x.txt" --matrix max,mean
n=$((2 * n))
best "activations, 2x the images" "${cs[@]}" "${act_args[@]}" "$work/2x.txt"
act2=$(cat "$work/last")
best "index, 2x the images" "${cs[@]}" "${idx_args[@]}" "$work/2x.txt"
idx2=$(cat "$work/last")
n=$((n / 2))
rm -rf "$work/best-out"
run "index, 1x the images" "${cs[@]}" "${idx_args[@]}" "$work/1x.txt" >/dev/null
rss1=$(($(cat "$work/rss") / 1024))
rm -rf "$work/best-out"
run "index, 2x the images" "${cs[@]}" "${idx_args[@]}" "$work/2x.txt" >/dev/null
printf 'peak memory while indexing: %d MiB for %d images, %d MiB for %d\n' "$rss1" "$n" $(($(cat "$work/rss") / 1024)) $((2 * n))
printf 'index / activations throughput, whole runs of %d images: %.3f\n' "$n" "$(calc "$act / $idx")"
printf 'index / activations throughput, marginal (the extra %d images): %.3f\n' "$n" "$(calc "($act2 - $act) / ($idx2 - $idx)")"

for i in 0 1; do
  "${cs[@]}" index "${common[@]}" --layers "$layer" --images "$work/1x.txt" --out "$work/shard$i" --shard "$i/2" --matrix max,mean
done
t0=$(date +%s.%N)
"${cs[@]}" merge "$work/shard0" "$work/shard1" --out "$work/merged"
printf 'merge of 2 shards (%d images, matrices max,mean): %.2f s\n' "$n" "$(calc "$(date +%s.%N) - $t0")"

if command -v mpirun >/dev/null; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  run "index, 1 process" "${cs[@]}" index "${common[@]}" --layers "$layer" --images "$work/1x.txt" --out "$work/one"
  one=$(cat "$work/last")
  run "index, mpirun -np 2" mpirun -np 2 "${cs[@]}" index "${common[@]}" --layers "$layer" --images "$work/1x.txt" --out "$work/mpi"
  printf 'mpirun -np 2 speedup vs 1 process: %.2f\n' "$(calc "$one / $(cat "$work/last")")"
fi
