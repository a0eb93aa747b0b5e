#!/usr/bin/env bash
# Fuzzes the memory daemon's frame decoders and MemoryState apply path with libFuzzer:
#   scripts/fuzz.sh [SECONDS]      (default 60)
# Builds memory-daemon/fuzz/frame_fuzzer.cpp with only the torch-free sources it needs
# (protocol.cpp, memory_state.cpp, -lz) into build/fuzz/, writes a seed corpus of valid
# payloads, then runs for SECONDS (-max_total_time). Exits non-zero on a crash, a sanitizer
# report or a broken invariant; the reproducer is left in build/fuzz/. CXX_FUZZ picks the
# compiler (default: clang++, then clang++-14; Debian: apt-get install clang libclang-rt-14-dev).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
seconds=${1:-60}
out="$root/build/fuzz"
cxx=${CXX_FUZZ:-}
if [ -z "$cxx" ]; then
  for c in clang++ clang++-14; do
    if command -v "$c" >/dev/null; then cxx=$c; break; fi
  done
fi
[ -n "$cxx" ] || { echo "fuzz.sh: no clang++ found (apt-get install clang libclang-rt-14-dev)" >&2; exit 2; }
mkdir -p "$out/corpus" "$out/seeds"
src="$root/memory-daemon"
bin="$out/frame_fuzzer"
# Rebuild only when a source changed.
if [ ! -x "$bin" ] || [ -n "$(find "$src/fuzz/frame_fuzzer.cpp" "$src/src/protocol.cpp" \
      "$src/src/memory_state.cpp" "$src/include" -newer "$bin" 2>/dev/null | head -1)" ]; then
  echo "fuzz.sh: building $bin with $cxx"
  "$cxx" -std=c++20 -g -O1 -fno-omit-frame-pointer \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -I"$src/include" \
    "$src/fuzz/frame_fuzzer.cpp" "$src/src/protocol.cpp" "$src/src/memory_state.cpp" \
    -lz -o "$bin.tmp"
  mv "$bin.tmp" "$bin"
fi
"$bin" --write-seeds "$out/seeds"
echo "fuzz.sh: fuzzing for ${seconds}s (corpus $out/corpus, seeds $out/seeds)"
cd "$out"
exec "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
  "$out/corpus" "$out/seeds"
