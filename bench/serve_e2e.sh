#!/usr/bin/env bash
# Page-load times in headless Chromium on the synthetic 100,000 x 2,560 atlas that
# build/bench/serve_bench builds (run that first), for docs/performance.md.
# Needs Debian's chromium and `npm ci --prefix tests/serve/e2e`.
set -euo pipefail
cd "$(dirname "$0")/.."
atlas=${ATLAS:-${TMPDIR:-/tmp}/clipscope_serve_bench_100000}
[ -f "$atlas/atlas.db" ] || { echo "no atlas at $atlas: run build/bench/serve_bench first"; exit 1; }
build/clipscope -q serve --atlas "$atlas" --labels "$atlas/labels.csv" --port 0 >/tmp/serve_e2e.out &
server=$!
trap 'kill $server' EXIT
until grep -q "^serving " /tmp/serve_e2e.out 2>/dev/null; do sleep 0.2; done
url=$(grep -o 'http://[^ ]*' /tmp/serve_e2e.out)
CLIPSCOPE_URL=$url LAYER=visual.layer4.5 UNITS=17,1042,2311,600,88 RUNS=${RUNS:-5} node tests/serve/e2e/pageload.mjs
