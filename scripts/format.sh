#!/usr/bin/env bash
# Formats the C++ sources with clang-format and .clang-format (120 columns).
# Usage: scripts/format.sh           rewrite the files in place
#        scripts/format.sh --check   list the files that would change; exit 1 if any
set -euo pipefail
cd "$(dirname "$0")/.."
format=${CLANG_FORMAT:-clang-format}
# Tracked and new (not ignored) files that exist in the work tree.
mapfile -t files < <(git ls-files --cached --others --exclude-standard 'src/*.cpp' 'src/*.h' 'tests/*.cpp' 'tests/*.h' \
                       'bench/*.cpp' 'bench/*.h' | sort -u | while read -r f; do [ -f "$f" ] && echo "$f"; done)
if [ "${1:-}" = "--check" ]; then
  bad=()
  for f in "${files[@]}"; do
    "$format" --style=file "$f" | cmp -s - "$f" || bad+=("$f")
  done
  if [ ${#bad[@]} -gt 0 ]; then
    printf 'format: %s is not formatted (run scripts/format.sh)\n' "${bad[@]}" >&2
    exit 1
  fi
  echo "format: ${#files[@]} files formatted"
else
  "$format" --style=file -i "${files[@]}"
fi
