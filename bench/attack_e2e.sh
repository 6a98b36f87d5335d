#!/usr/bin/env bash
# End to end: `clipscope attack` against the same loop in Python (bench/python_attack_reference.py:
# PIL decode, crop and ImageDraw text, OpenAI's clip/model.py), on the same images, model
# shape, attacks and threads, in the same run: image x attack pairs per second and the ratio.
# Random weights (speed does not depend on their values); 1,000 classes, one prompt.
#   bench/attack_e2e.sh CLIP_REPO [IMAGE_DIR]     e.g. bench/attack_e2e.sh ~/src/CLIP ../shared/data/images/imagenet-sample
# Environment: BUILD_DIR (default build-bench), MODEL (RN50), ATTACKS (4), THREADS (all cores), BATCH (32),
# PRECISIONS ("auto exact": clipscope's default and OpenAI's fp32 computation). Python runs as people run
# it and, when libtcmalloc_minimal is installed, with it preloaded (the allocator clipscope links).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
clip_repo=${1:?usage: bench/attack_e2e.sh CLIP_REPO [IMAGE_DIR]}
images=${2:-$root/../shared/data/images/imagenet-sample}
build=${BUILD_DIR:-$root/build-bench}
model=${MODEL:-RN50}
attacks=${ATTACKS:-4}
threads=${THREADS:-$(nproc)}
batch=${BATCH:-32}
[ -d "$images" ] || { echo "attack_e2e: $images: no such folder" >&2; exit 1; }
vocab=$root/../shared/clip/bpe_simple_vocab_16e6.txt.gz
[ -f "$vocab" ] || vocab=$clip_repo/clip/bpe_simple_vocab_16e6.txt.gz

if [ -z "${BUILD_DIR:-}" ]; then
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$build" --target clipscope random_checkpoint -j"${JOBS:-2}" >/dev/null
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$build/bench/random_checkpoint" "$model" "$work/model.pt" >/dev/null
# 1,000 class names (the embeddings are cached by the first, untimed run).
seq 1 1000 | sed 's/^/class /' >"$work/classes.txt"
texts=(iPod pizza rifle library radio trash meow '$$$')
args=()
for t in "${texts[@]:0:$attacks}"; do args+=(--attack "$t=class 1"); done
common=(attack --model "$work/model.pt" --vocab "$vocab" --classes "$work/classes.txt" --image "$images"
        --batch-size "$batch" --threads "$threads" --cache-dir "$work/cache" --json)
n=$(find "$images" -type f \( -iname '*.jpg' -o -iname '*.jpeg' -o -iname '*.png' \) | wc -l)
echo "model $model (random weights), $n images x $attacks attacks, batch $batch, $threads threads"
echo "image x attack pairs per second (clipscope: the whole command, model load included; Python: the loop only)"
python_rate() {
  env "$@" /usr/bin/python3 "$root/bench/python_attack_reference.py" --clip-repo "$clip_repo" --images "$images" \
    --model "$model" --attacks "$attack_count" --batch "$batch" --threads "$threads" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["image_attacks_per_second"])'
}
attack_count=$attacks
theirs=$(python_rate)
printf '%-44s %8.2f\n' "Python fp32 (PIL + clip/model.py)" "$theirs"
tcmalloc=$(ls /usr/lib/*/libtcmalloc_minimal.so.4 2>/dev/null | head -1 || true)
if [ -n "$tcmalloc" ]; then
  printf '%-44s %8.2f\n' "Python fp32, tcmalloc preloaded" "$(python_rate LD_PRELOAD="$tcmalloc")"
fi
for p in ${PRECISIONS:-auto exact}; do
  # The class embeddings (1,000 prompts through the text tower, per precision), cached by an untimed run.
  "$build/clipscope" --quiet "${common[@]}" --precision "$p" --max-images 2 "${args[@]}" >/dev/null
  start=$(date +%s.%N)
  "$build/clipscope" --quiet "${common[@]}" --precision "$p" "${args[@]}" >/dev/null
  end=$(date +%s.%N)
  ours=$(python3 -c "print($n * $attacks / ($end - $start))")
  printf '%-44s %8.2f   (%.1fx Python fp32)\n' "clipscope attack --precision $p" "$ours" \
    "$(python3 -c "print($ours / $theirs)")"
done
