#!/usr/bin/env bash
# Packs what bench/gpu/device-check.sh needs on the lent GPU machine into <repo>/.gpu-bundle/:
# the build tree and ../shared do not travel there, only the working tree and up to 64 MiB of
# carried paths. Run here after `cmake --build --preset release`:
#   bench/gpu/pack.sh [--build DIR]        (default DIR: build/release)
# Layout: bin/ (trainer, memory daemon), tests/ (GoogleTest binaries with CUDA tests), lib/
# (shared libraries the GPU machine lacks), wikipedia.csv, shared/ (the datasets the CUDA tests
# read), manifest.txt.
# Binaries are copied with --strip-debug: symbols stay for backtraces, DWARF (~95 % of the
# size) goes.
set -euo pipefail

# GoogleTest binaries (relative to the build dir) that hold CUDA tests, i.e. tests whose names
# contain Cuda, CUDA or cuda and that GTEST_SKIP without a GPU. Add new ones here.
TESTS=(
  tests/unit/model/model_tgnn_model_test    # TGNNModelCuda
  tests/unit/memory/memory_store_test       # LocalMemoryStoreCuda, MemoryStoreConformance/cuda
  tests/unit/train/train_device_test        # CudaTraining (GPU vs CPU, checkpoints, determinism)
)
# Datasets the CUDA tests read from their compiled-in DISTTGL_SHARED_DIR (bundle: shared/).
SHARED_FILES=(
  datasets/collegemsg/CollegeMsg.txt
)
PROGRAMS=(
  trainer/disttgl-trainer
  memory-daemon/disttgl-memory-daemon
)
MAX_MIB=48  # leaves room under the 64 MiB that may travel with the working tree

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=$root/build/release
while [ $# -gt 0 ]; do
  case $1 in
    --build)
      [ $# -ge 2 ] || { echo "pack.sh: --build needs a directory" >&2; exit 2; }
      build=$2; shift 2 ;;
    -h|--help) sed -n '2,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "pack.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[ -d "$build" ] || { echo "pack.sh: build directory '$build' not found" >&2; exit 2; }
build=$(cd "$build" && pwd)
data=$root/../shared/datasets/wikipedia/wikipedia.csv
out=$root/.gpu-bundle

for f in "${PROGRAMS[@]}" "${TESTS[@]}"; do
  [ -x "$build/$f" ] || {
    echo "pack.sh: $build/$f missing; build it first (cmake --build --preset release)" >&2
    exit 1
  }
done
[ -f "$data" ] || { echo "pack.sh: dataset $data not found" >&2; exit 1; }
# A bundle of stale binaries would check old code on the GPU: the build must be up to date.
if command -v ninja >/dev/null && [ -f "$build/build.ninja" ]; then
  stale=$(ninja -C "$build" -n 2>/dev/null | grep -c '^\[' || true)
  [ "$stale" = 0 ] || {
    echo "pack.sh: $build is not up to date ($stale build steps pending); run cmake --build first" >&2
    exit 1
  }
fi

rm -rf "$out"
mkdir -p "$out/bin" "$out/tests" "$out/lib"
for f in "${PROGRAMS[@]}"; do strip --strip-debug -o "$out/bin/$(basename "$f")" "$build/$f"; done
for f in "${TESTS[@]}"; do strip --strip-debug -o "$out/tests/$(basename "$f")" "$build/$f"; done

# Libraries the GPU machine provides itself are left out: torch's own (torch/lib and the nvidia
# wheels, i.e. anything under site-packages, reached there through LD_LIBRARY_PATH), and the C
# and C++ runtimes of its OS. The rest (spdlog, fmt, yaml-cpp, zlib, ...) come from this
# machine's OS and may be missing there.
provided_by_os='^(ld-linux.*|libc|libz|libm|libmvec|libdl|librt|libpthread|libutil|libresolv|libstdc\+\+|libgcc_s)\.so'
for f in "${PROGRAMS[@]}" "${TESTS[@]}"; do
  missing=$(ldd "$build/$f" | grep 'not found' || true)
  [ -z "$missing" ] || { printf 'pack.sh: %s has unresolved libraries:\n%s\n' "$build/$f" "$missing" >&2; exit 1; }
done
for f in "${PROGRAMS[@]}" "${TESTS[@]}"; do
  # ldd lines: "libfoo.so.1 => /path/libfoo.so.1 (0x...)"; vdso and the loader have no "=>".
  ldd "$build/$f" | awk '$2 == "=>" && $3 ~ /^\// { print $1, $3 }'
done | sort -u | while read -r soname path; do
  real=$(readlink -f "$path")
  case $real in */site-packages/*|*/torch/lib/*|*/nvidia/*) continue ;; esac
  if [[ $soname =~ $provided_by_os ]]; then continue; fi
  [ -e "$out/lib/$soname" ] || cp -L "$path" "$out/lib/$soname"
done
cp "$data" "$out/wikipedia.csv"
for f in "${SHARED_FILES[@]}"; do
  src=$root/../shared/$f
  [ -f "$src" ] || { echo "pack.sh: $src not found" >&2; exit 1; }
  mkdir -p "$out/shared/$(dirname "$f")"
  cp "$src" "$out/shared/$f"
done

# The test binaries have paths compiled in (cmake/DisttglHelpers.cmake): device-check.sh links
# them to the bundle where they are missing on the GPU machine. The torch version must match
# the GPU machine's (same C++ ABI).
cache_value() { sed -n "s/^$1:[A-Z]*=//p" "$build/CMakeCache.txt"; }
libtorch=$(ldd "$build/${PROGRAMS[0]}" | awk '$1 == "libtorch_cpu.so" { print $3 }')
torch_version=$(sed -n "s/^__version__ = '\(.*\)'/\1/p" "$(dirname "$(readlink -f "$libtorch")")/../version.py" 2>/dev/null || true)
commit=$(git -C "$root" rev-parse HEAD 2>/dev/null || echo unknown)
[ -z "$(git -C "$root" status --porcelain --untracked-files=no 2>/dev/null)" ] || commit="$commit (tracked files modified)"
{
  echo "packed_at=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "commit=$commit"
  echo "build_dir=$build"
  echo "build_type=$(cache_value CMAKE_BUILD_TYPE)"
  echo "torch_version=${torch_version:-unknown}"
  echo "baked_source_dir=$(cache_value CMAKE_HOME_DIRECTORY)"
  echo "baked_trainer_bin=$build/${PROGRAMS[0]}"
  echo "baked_shared_dir=$(cache_value DISTTGL_SHARED_DIR)"
  echo "tests=$(cd "$out/tests" && echo *)"
  echo "libs=$(cd "$out/lib" && echo *)"
} >"$out/manifest.txt"

bytes=$(du -sb "$out" | cut -f1)
mib=$(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1048576 }')
echo "pack.sh: $out: $mib MiB"
(cd "$out" && find . -type f -printf '  %10s  %P\n' | sort -k2)
if [ "$bytes" -gt $((MAX_MIB * 1048576)) ]; then
  echo "pack.sh: bundle is $mib MiB, over the $MAX_MIB MiB limit (64 MiB may travel with the tree)" >&2
  exit 1
fi
