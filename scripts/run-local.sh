#!/usr/bin/env bash
# The README's main command: runs disttgl on real data locally, no cluster needed.
# Today: prepares the Wikipedia dataset from ../shared/datasets (import, validate, split,
# index) into runs/wikipedia/data and prints its summary. Usage: scripts/run-local.sh [DATASET_FILE]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
input=${1:-${DISTTGL_SHARED_DIR:-$root/../shared}/datasets/wikipedia/wikipedia.csv}
scripts/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release --target disttgl-trainer
name=$(basename "${input%%.*}")
mkdir -p runs/"$name"
build/release/trainer/disttgl-trainer prepare --input "$input" --output runs/"$name"/data
echo "dataset.json:"
cat runs/"$name"/data/dataset.json
