#!/usr/bin/env bash
# End to end: an atlas of the demo model over a generated world (with words and
# a few feature visualizations), served by `clipscope serve`, browsed by headless
# Chromium (browse.mjs). Screenshots land in OUT/screenshots.
# Usage: run.sh CLIPSCOPE_BINARY OUT. Exit 77 (skipped) without Chromium or playwright-core.
set -euo pipefail
clipscope=$1
out=$2
here=$(cd "$(dirname "$0")" && pwd)

skip() { echo "SKIP: $1"; exit 77; }
[ -x /usr/bin/chromium ] || skip "/usr/bin/chromium not installed (scripts/install-deps.sh installs it)"
command -v node >/dev/null || skip "node not installed (scripts/install-deps.sh installs it)"
[ -d "$here/node_modules/playwright-core" ] || skip "playwright-core not installed (npm ci --prefix tests/serve/e2e)"

rm -rf "$out"
mkdir -p "$out/screenshots"
"$clipscope" -q world --edition 1 --n 400 --seed 11 --out "$out/world" >/dev/null
"$clipscope" -q index --layers visual.layer4 --images "$out/world/images" --out "$out/atlas" --k 16 --matrix max >/dev/null
printf '%s\n' red green blue yellow purple orange pink black cat dog car star tree house happy sad > "$out/words.txt"
"$clipscope" -q words --words "$out/words.txt" --into "$out/atlas" --canvas 64 --sizes 10,13 --stroke 0 >/dev/null
"$clipscope" -q visualize --unit visual.layer4:0,1,2,3,4,5,6,7 --steps 32 --out "$out/atlas/optvis/first" >/dev/null
"$clipscope" -q maximal-text --atlas "$out/atlas" --unit visual.layer4:5 --generations 5 >/dev/null
"$clipscope" -q label --atlas "$out/atlas" --concepts "$out/words.txt" --quantity max --top 3 >/dev/null
"$clipscope" -q families --atlas "$out/atlas" >/dev/null

# Featured units lead the overview (the tour writes this file with its multimodal units).
cat > "$out/atlas/featured.json" <<'JSON'
{"title": "Multimodal units", "description": "featured by the e2e test", "units": [
  {"layer": "visual.layer4", "unit": 5, "note": "red: picture 3.0 std, written name 4.0 std"},
  {"layer": "visual.layer4", "unit": 3, "note": "star: picture 2.5 std, written name 2.2 std"}]}
JSON

"$clipscope" -q serve --atlas "$out/atlas" --model demo --labels "$out/world/labels.jsonl" --label-key color \
  --render-steps 16 --text-generations 5 --port 0 >"$out/serve.out" 2>"$out/serve.err" &
server=$!
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true' EXIT
for _ in $(seq 1 300); do
  grep -q "^serving " "$out/serve.out" 2>/dev/null && break
  kill -0 $server 2>/dev/null || { cat "$out/serve.err"; exit 1; }
  sleep 0.2
done
url=$(grep -o 'http://[^ ]*' "$out/serve.out" | head -1)
[ -n "$url" ] || { echo "serve did not start"; cat "$out/serve.err"; exit 1; }
echo "server: $url"
CLIPSCOPE_URL=$url SCREENSHOT_DIR="$out/screenshots" SEARCH_WORD=red node "$here/browse.mjs"
echo "screenshots: $out/screenshots"
