#!/usr/bin/env bash
# End to end: `clipscope probe` against scikit-learn's L1 multinomial logistic regression
# (solver="saga", bench/python_probe_reference.py) on the same synthetic feature matrix, the
# same regularization path (lambda_max down, warm-started, stopped at 3 units per class) and
# the same machine, in the same run: seconds, peak memory and the ratio.
#   bench/probe_e2e.sh [ROWS UNITS CLASSES]       default 10000 512 100
# Environment: BUILD_DIR (default build), PATH_POINTS (20), SKIP_PYTHON=1 (clipscope alone,
# e.g. at the issue's full size 50000 2560 1000, where saga takes hours).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
rows=${1:-10000}
units=${2:-512}
classes=${3:-100}
points=${PATH_POINTS:-20}
build=${BUILD_DIR:-$root/build}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
/usr/bin/python3 "$root/bench/python_probe_reference.py" --data "$work" --rows "$rows" --units "$units" \
  --classes "$classes" --path 0 >/dev/null
echo "data: $rows rows x $units units, $classes classes; path of $points points from lambda_max, stop at 3 units/class"
/usr/bin/time -f "%e s %M KiB" -o "$work/clipscope.time" "$build/clipscope" probe --features "$work/features.npy" \
  --labels "$work/labels.csv" --validation 0 --path "$points" --json --quiet >"$work/clipscope.json"
/usr/bin/python3 - "$work/clipscope.json" "$work/clipscope.time" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
secs, _, kib, _ = open(sys.argv[2]).read().split()
last = j["path"][-1]
print(f"clipscope: {float(secs):.1f} s, peak {int(kib) / 1024:.0f} MiB, {len(j['path'])} points, "
      f"last: {last['nonzeros_per_class']:.2f} units/class, objective {last['loss']:.5f}, "
      f"{sum(p['iterations'] for p in j['path'])} iterations")
PY
if [ -z "${SKIP_PYTHON:-}" ]; then
  /usr/bin/python3 "$root/bench/python_probe_reference.py" --data "$work" --path "$points" >"$work/python.jsonl"
  /usr/bin/python3 - "$work/python.jsonl" "$work/clipscope.time" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
summary, last = lines[-1], lines[-2]
secs = float(open(sys.argv[2]).read().split()[0])
print(f"scikit-learn saga: {summary['total_seconds']:.1f} s, peak {summary['peak_rss_mib']:.0f} MiB, "
      f"{summary['points']} points, last: {last['nonzeros_per_class']:.2f} units/class, objective {last['loss']:.5f}")
print(f"ratio (scikit-learn / clipscope): {summary['total_seconds'] / secs:.1f}x")
PY
fi
