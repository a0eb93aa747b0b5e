#!/usr/bin/env bash
# Installs everything disttgl needs on a fresh Debian 12 machine, idempotently:
#   1. Debian packages (toolchain, Boost, cpprestsdk, prometheus-cpp, GoogleTest, ...);
#   2. LibTorch from the PyPI `torch` wheel, pinned, in a virtualenv;
#   3. the CUDA 13.0 toolkit pieces LibTorch's CMake config asks for (nvcc, crt, cccl, nvvm,
#      runtime, cublas) plus cuDNN and NCCL, from NVIDIA's PyPI wheels, assembled into an
#      ordinary toolkit layout so CMake's FindCUDAToolkit and nvcc find each other;
#   5. kube-apiserver, etcd, kube-scheduler, kube-controller-manager, kubectl, kwok and helm for
#      the operator's and the end-to-end tests (scripts/setup-k8s.sh, built from Go modules; about
#      20 minutes cold);
#   6. Docker (Debian's docker.io) and debootstrap for the images (scripts/setup-docker.sh).
# The virtualenv and toolkit live in a cache shared by every checkout on the machine
# ($DISTTGL_CACHE, default ~/.cache/disttgl), keyed by the pins; the checkout gets links:
#   .venv -> the virtualenv, .deps/torch -> the torch package (CMake prefix .deps/torch/share/cmake),
#   .deps/cuda -> the toolkit root.
# A second run only checks stamps and takes seconds. `scripts/setup.sh --core` stops after step 4:
# what training needs (scripts/run-local.sh), without the cluster tools and Docker.
set -euo pipefail
core_only=0
case "${1:-}" in
  --core) core_only=1 ;;
  "") ;;
  *) echo "usage: scripts/setup.sh [--core]" >&2; exit 2 ;;
esac
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

# Pins. torch 2.11.0 on PyPI is built for CUDA 13.0 (it requires cuda-toolkit==13.0.2), the
# pair the project's GPU machines carry.
TORCH_VERSION=2.11.0
CUDA_TOOLKIT_VERSION=13.0.2
# numpy/scikit-learn: the accuracy cross-checks; matplotlib: bench plots (bench/layouts).
PY_EXTRA=("numpy==2.3.5" "scikit-learn==1.7.2" "matplotlib==3.10.3")

APT_PACKAGES=(build-essential cmake ninja-build ccache pkg-config git python3-venv
  libboost-dev libcpprest-dev prometheus-cpp-dev libgtest-dev libgmock-dev
  nlohmann-json3-dev libyaml-cpp-dev libspdlog-dev libfmt-dev libcli11-dev zlib1g-dev
  prometheus clang-format clang-tidy clang libclang-rt-14-dev
  libgloo-dev iproute2)

log() { printf '[setup] %s\n' "$*"; }

# --- 1. Debian packages -------------------------------------------------------------------
if dpkg -s "${APT_PACKAGES[@]}" >/dev/null 2>&1; then
  log "Debian packages present"
else
  log "installing Debian packages"
  sudo_cmd=()
  [ "$(id -u)" -ne 0 ] && sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends \
    "${APT_PACKAGES[@]}" >/dev/null
fi

# --- 2. LibTorch and the CUDA wheels --------------------------------------------------------
cache=${DISTTGL_CACHE:-$HOME/.cache/disttgl}
env_dir="$cache/torch${TORCH_VERSION}-cuda${CUDA_TOOLKIT_VERSION}"
if [ ! -f "$env_dir/.complete" ]; then
  log "installing torch==${TORCH_VERSION} and CUDA ${CUDA_TOOLKIT_VERSION} wheels into $env_dir"
  rm -rf "$env_dir"
  mkdir -p "$cache"
  python3 -m venv "$env_dir/venv"
  "$env_dir/venv/bin/pip" install -q --disable-pip-version-check \
    "torch==${TORCH_VERSION}" \
    "cuda-toolkit[nvcc,crt,cccl,nvvm,cudart,cublas]==${CUDA_TOOLKIT_VERSION}" \
    "${PY_EXTRA[@]}"

  # --- 3. Assemble a CUDA toolkit root ---------------------------------------------------------
  site=$("$env_dir/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  cu="$site/nvidia/cu13"
  cuda_root="$env_dir/cuda"
  mkdir -p "$cuda_root/lib64" "$cuda_root/include"
  # nvcc finds its toolkit relative to its resolved path, so bin/ holds hard links (a copy
  # across filesystems), never a symlink into the wheel.
  cp -al "$cu/bin" "$cuda_root/bin" 2>/dev/null || cp -a "$cu/bin" "$cuda_root/bin"
  ln -s "$cu/nvvm" "$cuda_root/nvvm"
  for d in "$cu/include" "$site/nvidia/cudnn/include" "$site/nvidia/nccl/include"; do
    for f in "$d"/*; do ln -sf "$f" "$cuda_root/include/"; done
  done
  # Wheels ship only SONAMEs (libcudart.so.13); CMake looks for the unversioned names.
  for d in "$cu/lib" "$site/nvidia/cudnn/lib" "$site/nvidia/nccl/lib" "$site/nvidia/cusparselt/lib"; do
    [ -d "$d" ] || continue
    for f in "$d"/*.so* "$d"/*.a; do
      [ -e "$f" ] || continue
      base=$(basename "$f")
      ln -sf "$f" "$cuda_root/lib64/$base"
      case "$base" in *.so.*) ln -sf "$f" "$cuda_root/lib64/${base%%.so.*}.so" ;; esac
    done
  done
  "$cuda_root/bin/nvcc" --version | grep -q "release 13.0" \
    || { echo "setup: nvcc in $cuda_root is not CUDA 13.0" >&2; exit 1; }
  touch "$env_dir/.complete"
else
  log "torch ${TORCH_VERSION} + CUDA ${CUDA_TOOLKIT_VERSION} present in $env_dir"
fi
# Python extras added after an environment was built: installed once, then stamped.
extras_stamp="$env_dir/.extras-$(printf '%s ' "${PY_EXTRA[@]}" | sha256sum | cut -c1-16)"
if [ ! -f "$extras_stamp" ]; then
  log "installing ${PY_EXTRA[*]}"
  "$env_dir/venv/bin/pip" install -q --disable-pip-version-check "${PY_EXTRA[@]}"
  touch "$extras_stamp"
fi

# --- 4. Links from the checkout ---------------------------------------------------------------
mkdir -p .deps
for link in .venv .deps/cuda .deps/stamps; do   # in-tree copies from older versions of this script
  if [ -e "$link" ] && [ ! -L "$link" ]; then rm -rf "$link"; fi
done
ln -sfn "$env_dir/venv" .venv
ln -sfn "$env_dir/cuda" .deps/cuda
torch_dir=$("$env_dir/venv/bin/python" -c 'import os, torch; print(os.path.dirname(torch.__file__))')
ln -sfn "$torch_dir" .deps/torch
log "done: CMake prefix $root/.deps/torch/share/cmake, CUDA root $root/.deps/cuda"

[ "$core_only" = 1 ] && exit 0

# --- 5. A real Kubernetes control plane for the operator's tests (from Go modules) -------------
scripts/setup-k8s.sh

# --- 6. Docker and debootstrap for the images and the end-to-end cluster -----------------------
scripts/setup-docker.sh
