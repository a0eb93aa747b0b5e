#!/usr/bin/env bash
# The README's test command: installs what is missing (scripts/setup.sh), builds the release
# preset (CUDA code paths compiled) and runs every test with ctest. Exits non-zero on any
# failure. Tests read the datasets from ../shared beside the checkout (DISTTGL_SHARED_DIR
# overrides). Extra arguments go to ctest, e.g. `scripts/test.sh -R Sampler`.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
scripts/setup.sh
jobs=${DISTTGL_JOBS:-$(nproc)}
extra=()
[ -n "${DISTTGL_SHARED_DIR:-}" ] && extra+=("-DDISTTGL_SHARED_DIR=$DISTTGL_SHARED_DIR")
cmake --preset release "${extra[@]}" >/dev/null
cmake --build --preset release -j "$jobs"
ctest --preset release -j "$jobs" "$@"
