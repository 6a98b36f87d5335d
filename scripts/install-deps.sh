#!/usr/bin/env bash
# Installs everything clipscope needs to build and test on Debian 12 (bookworm).
# Idempotent: packages already present are left alone. Needs root or sudo.
set -euo pipefail

packages=(
  build-essential cmake pkg-config ccache git ca-certificates
  clang-format                      # scripts/format.sh (CI checks the formatting)
  libtorch-dev                      # LibTorch 1.13 (CPU)
  libopenblas0-openmp               # optimized BLAS sharing LibTorch's OpenMP threads (reference BLAS: up to 50x slower)
  libcpuinfo-dev                    # CPU features (native bf16) for --precision auto
  libgoogle-perftools-dev           # tcmalloc: glibc malloc page-faults every large activation afresh
  libcli11-dev nlohmann-json3-dev libfmt-dev
  zlib1g-dev libpng-dev libjpeg62-turbo-dev
  libfreetype-dev libharfbuzz-dev    # text and emoji rendering (FreeType; HarfBuzz shapes emoji sequences)
  fonts-dejavu-core fonts-liberation fonts-noto-core  # the faces the synthetic world writes words in
  fonts-noto-color-emoji unicode-data  # the world's objects (colour emoji) and their CLDR names (emoji-test.txt)
  wamerican                          # everyday words the world writes beside its concept names
  wordnet-base                       # WordNet 3.0 (data.noun): ImageNet classes' hypernyms for clipscope probe
  libcurl4-openssl-dev libssl-dev
  libicu-dev libxml2-dev
  libsqlite3-dev libsqlitecpp-dev    # the atlas database (SQLite, SQLiteC++)
  libcairo2-dev                      # plots and contact sheets
  libopenmpi-dev openmpi-bin         # mpirun -np N clipscope index
  libcpp-httplib-dev                 # clipscope serve's HTTP server
  chromium                           # the page's end-to-end test (headless, driven by playwright-core)
  libgtest-dev libgmock-dev libbenchmark-dev
)
# Node.js runs the page's end-to-end test; any node >= 18 will do (Debian's, or one already installed).
command -v node >/dev/null || packages+=(nodejs npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
else
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  echo "install-deps: installing ${missing[*]}"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
  echo "install-deps: done"
fi

# playwright-core for the page's end-to-end test, at the version package-lock.json pins.
e2e="$(dirname "$0")/../tests/serve/e2e"
if [ ! -d "$e2e/node_modules/playwright-core" ]; then
  echo "install-deps: npm ci in tests/serve/e2e"
  npm ci --prefix "$e2e" --no-audit --no-fund --loglevel=error
fi
