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
run "activations --reduce max" "${cs[@]}" activations "${common[@]}" --layer "$layer" --reduce max --image "$work/1x.txt" --out "$work/act.npy"
act=$(cat "$work/last")
run "index (k=100)" "${cs[@]}" index "${common[@]}" --layers "$layer" --images "$work/1x.txt" --out "$work/atlas"
idx=$(cat "$work/last")
printf 'index / activations throughput: %.3f\n' "$(calc "$act / $idx")"
run "index (k=100, --matrix max,mean)" "${cs[@]}" index "${common[@]}" --layers "$layer" --images "$work/1x.txt" --out "$work/atlas-m" --matrix max,mean
n=$((2 * n))
run "index, 2x the images" "${cs[@]}" index "${common[@]}" --layers "$layer" --images "$work/2x.txt" --out "$work/atlas-2x"
n=$((n / 2))

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
