#!/usr/bin/env bash
# The README's main command: trains TGN on real data locally, no cluster needed.
# Prepares Wikipedia from ../shared/datasets (import, validate, split, index) into
# runs/<name>/data, trains TGN (configs/tgn.yaml) into runs/<name>/tgn and prints test AP/AUC/MRR.
# Usage: scripts/run-local.sh [DATASET_FILE] [extra train flags, e.g. --seed 1]
# DISTTGL_EPOCHS (default 3) sets the number of epochs.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
input=${1:-${DISTTGL_SHARED_DIR:-$root/../shared}/datasets/wikipedia/wikipedia.csv}
shift || true
scripts/setup.sh --core   # training only: no cluster tools or Docker
cmake --preset release >/dev/null
cmake --build --preset release --target disttgl-trainer
name=$(basename "$input"); name=${name%%.*}   # wikipedia.csv -> wikipedia
trainer=build/release/trainer/disttgl-trainer
mkdir -p runs/"$name"
$trainer prepare --input "$input" --output runs/"$name"/data
$trainer train --data runs/"$name"/data --config configs/tgn.yaml --output runs/"$name"/tgn \
  --overwrite --epochs "${DISTTGL_EPOCHS:-3}" --threads "$(nproc)" "$@"
echo "summary: runs/$name/tgn/summary.json"
