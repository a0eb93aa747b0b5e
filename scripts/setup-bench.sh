#!/usr/bin/env bash
# Installs the Python packages the peer benchmarks under bench/ need into the project's
# virtualenv (.venv, made by scripts/setup.sh), idempotently:
#   torch_geometric (pure Python; PyG's TGN components) pinned, plus its plain dependencies.
# Packages already in the virtualenv (torch above all) are held at their installed versions
# through a constraints file, so this never changes torch. torch-scatter, pyg-lib and the other
# compiled PyG extensions are NOT installed: PyPI has no wheels of them for torch 2.11 (only
# sdists, which would compile against torch), and PyG's TGN runs without them.
# A second run only checks a stamp and the installed dist-info, and takes well under a second.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

PYG_VERSION=2.8.1
TORCH_VERSION=2.11.0

log() { printf '[setup-bench] %s\n' "$*"; }

py=.venv/bin/python
[ -x "$py" ] || { echo "setup-bench: $root/.venv missing; run scripts/setup.sh first" >&2; exit 1; }

# The stamp names the pin and the virtualenv it was made for (.venv may be a link into a cache
# that setup.sh replaces); the dist-info check catches a virtualenv rebuilt under the same path.
venv_real=$(readlink -f .venv)
stamp_dir=.deps/stamps
stamp="$stamp_dir/bench-pyg${PYG_VERSION}-$(printf '%s' "$venv_real" | sha256sum | cut -c1-12)"
site=$(find "$venv_real/lib" -maxdepth 2 -type d -name site-packages | head -n1)
if [ -f "$stamp" ] && [ -n "$site" ] \
  && [ -d "$site/torch_geometric-${PYG_VERSION}.dist-info" ]; then
  log "torch_geometric ${PYG_VERSION} present"
  exit 0
fi

log "installing torch_geometric==${PYG_VERSION} into $venv_real"
constraints=$(mktemp)
trap 'rm -f "$constraints"' EXIT
# Hold every installed package (torch, numpy, scikit-learn, the CUDA wheels) where it is.
"$py" -m pip list --format=freeze --disable-pip-version-check 2>/dev/null \
  | grep -v '^-e ' >"$constraints"
"$py" -m pip install -q --disable-pip-version-check -c "$constraints" \
  "torch_geometric==${PYG_VERSION}"

got=$("$py" -c 'import torch, torch_geometric as g; print(torch.__version__.split("+")[0], g.__version__)')
if [ "$got" != "${TORCH_VERSION} ${PYG_VERSION}" ]; then
  echo "setup-bench: expected torch ${TORCH_VERSION} and torch_geometric ${PYG_VERSION}, got: $got" >&2
  exit 1
fi
mkdir -p "$stamp_dir"
touch "$stamp"
log "done: torch ${TORCH_VERSION}, torch_geometric ${PYG_VERSION}"
