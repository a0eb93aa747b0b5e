#!/usr/bin/env bash
# Time-to-accuracy of DistTGL's layouts on this machine (issue 10's benchmark): for each
# dataset, `disttgl-trainer launch` trains TGN with layouts 1x1x1, 2x1x1, 1x2x1 and 1x1x2
# (i x j x k) from the same base recipe (batch 600 per trainer, lr 1e-4, E epochs), scaled as
# DistTGL scales it (lr x W, ceil(E / (j*k)) epochs), each run through memory daemons and
# Gloo on loopback. plot.py then draws validation AP against wall-clock seconds and writes
# the table for docs/performance.md.
# Usage: bench/layouts/time_to_accuracy.sh [OUT_DIR] (env: DATASETS, EPOCHS, LAYOUTS)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-/tmp/disttgl-bench-layouts}
trainer="$root/build/release/trainer/disttgl-trainer"
[ -x "$trainer" ] || { echo "build first: cmake --preset release && cmake --build --preset release" >&2; exit 2; }
shared="$root/../shared/datasets"
datasets=${DATASETS:-"collegemsg/CollegeMsg.txt wikipedia/wikipedia.csv"}
epochs=${EPOCHS:-4}
layouts=${LAYOUTS:-"i=1,j=1,k=1 i=2,j=1,k=1 i=1,j=2,k=1 i=1,j=1,k=2"}
mkdir -p "$out"
config="$out/recipe.yaml"
# DistTGL's per-GPU recipe (disttgl.md §4: 600 positives per trainer, lr 1e-4 x W), TGN.
printf 'model: tgn\ntrain:\n  batch_size: 600\n  epochs: %s\n  lr: 1.0e-4\n  patience: 0\n' \
  "$epochs" > "$config"
cores=$(nproc)
for d in $datasets; do
  name=$(dirname "$d")
  rm -f "$out/$name/wall_ms.txt"
  for layout in $layouts; do
    IFS=, read -r fi fj fk <<< "$layout"
    w=$(( ${fi#i=} * ${fj#j=} * ${fk#k=} ))
    threads=$(( cores / w > 0 ? cores / w : 1 ))  # no oversubscription of the cores
    run="$out/$name/${layout//[=,]/}"
    rm -rf "$run"
    mkdir -p "$(dirname "$run")"
    echo "== $name $layout (W=$w, $threads threads each)"
    start=$(date +%s%N)
    "$trainer" launch --layout "$layout" --output "$run" --data "$shared/$d" \
      --config "$config" --threads "$threads" --device cpu > "$run.log" 2>&1 \
      || { echo "failed: see $run.log" >&2; tail -n 20 "$run.log" >&2; exit 1; }
    end=$(date +%s%N)
    echo "$layout $(( (end - start) / 1000000 ))" >> "$out/$name/wall_ms.txt"
    grep -E "test AP" "$run.log" | tail -n 1
  done
done
"$root/.venv/bin/python" "$root/bench/layouts/plot.py" "$out" "$out/time-to-accuracy.png"
