#!/usr/bin/env bash
# Builds the three container images from the project's release build, with the machine's Docker:
#   disttgl/trainer:VERSION  disttgl/memory-daemon:VERSION  disttgl/operator:VERSION
# and prints their sizes.
#
#   scripts/build-images.sh [--base IMAGE] [--only trainer|memory-daemon|operator]... [--base-only]
#
# --base IMAGE  the base (a Debian 12 root file system). Default: a local base made with
#               debootstrap from the Debian mirror apt already uses and imported as
#               disttgl/base:bookworm-local, so no image registry is needed. With a registry,
#               --base debian:bookworm-slim gives the public default of docker/Dockerfile.
# --base-only   only make the local base.
#
# Docker: the one DOCKER_HOST (or /var/run/docker.sock) points at when it answers; otherwise the
# project's own daemon (scripts/docker-daemon.sh), started here and stopped again at exit unless
# DISTTGL_KEEP_DOCKER=1. The programs come from $DISTTGL_BUILD_DIR (default build/release); missing
# ones are built with the release preset. Each image holds
# only its program, the shared libraries ldd resolves for it (glibc and libstdc++ come from the
# base) and, for the trainer, configs/*.yaml. Prints `IMAGE SIZE_MB` lines at the end.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

base=""
base_only=0
only=()
while [ $# -gt 0 ]; do
  case "$1" in
    --base) base=${2:?--base needs an image}; shift 2 ;;
    --base-only) base_only=1; shift ;;
    --only) only+=("${2:?--only needs trainer, memory-daemon or operator}"); shift 2 ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "build-images: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[ ${#only[@]} -eq 0 ] && only=(trainer memory-daemon operator)
for c in "${only[@]}"; do
  case "$c" in trainer|memory-daemon|operator) ;; *)
    echo "build-images: --only '$c': expected trainer, memory-daemon or operator" >&2; exit 2 ;;
  esac
done

log() { printf '[build-images] %s\n' "$*"; }
version=$(sed -n 's/^project(disttgl VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
revision=$(git rev-parse HEAD 2> /dev/null || echo unknown)
cache=${DISTTGL_CACHE:-$HOME/.cache/disttgl}

scripts/setup-docker.sh > /dev/null
started_docker=0
if ! docker info > /dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "build-images: no Docker answers (DOCKER_HOST or /var/run/docker.sock), and starting the project's own needs root" >&2
    exit 2
  fi
  out=$(scripts/docker-daemon.sh start)
  export DOCKER_HOST=${out%%$'\n'*}; DOCKER_HOST=${DOCKER_HOST#DOCKER_HOST=}
  [[ $out == *$'\n'started ]] && started_docker=1
fi
rootfs=""  # a debootstrap root file system being made: removed if the script stops early
cleanup() {
  [ -n "$rootfs" ] && rm -rf "$rootfs"
  if [ "$started_docker" = 1 ] && [ "${DISTTGL_KEEP_DOCKER:-0}" != 1 ]; then scripts/docker-daemon.sh stop; fi
}
trap cleanup EXIT

# --- the local base --------------------------------------------------------------------------
local_base=disttgl/base:bookworm-local
make_local_base() {
  if docker image inspect "$local_base" > /dev/null 2>&1; then return; fi
  local tarball="$cache/base/bookworm-minbase.tar"
  if [ ! -f "$tarball" ]; then
    # The mirror apt already uses (deb822 or one-line sources), so nothing new is reached.
    local mirror
    mirror=$(cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2> /dev/null |
      awk '($1 == "URIs:" || $1 == "deb") && $2 ~ /^https?:\/\/.*\/debian\/?$/ {print $2; exit}') || true
    mirror=${mirror:-http://deb.debian.org/debian}
    log "making the local base with debootstrap (bookworm minbase from $mirror; about 90 s)"
    rootfs=$(mktemp -d "$cache/base-rootfs.XXXXXX" 2> /dev/null || { mkdir -p "$cache" && mktemp -d "$cache/base-rootfs.XXXXXX"; })
    debootstrap --variant=minbase bookworm "$rootfs" "$mirror" > "$cache/debootstrap.log" 2>&1 || {
      echo "build-images: debootstrap failed; its log: $cache/debootstrap.log" >&2
      rm -rf "$rootfs"
      exit 1
    }
    # What a container never needs: package caches, docs, man pages, locales.
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
      "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* \
      "$rootfs"/usr/share/locale/* "$rootfs"/var/log/*
    mkdir -p "$cache/base"
    tar -C "$rootfs" -cf "$tarball.tmp" .
    mv "$tarball.tmp" "$tarball"
    rm -rf "$rootfs"
    rootfs=""
  fi
  log "importing $tarball as $local_base"
  docker import -c 'CMD ["/bin/bash"]' "$tarball" "$local_base" > /dev/null
}
if [ -z "$base" ]; then
  make_local_base
  base=$local_base
fi
[ "$base_only" = 1 ] && { log "base: $base"; exit 0; }
if ! docker image inspect "$base" > /dev/null 2>&1; then
  echo "build-images: base image '$base' is not on this Docker; pull it first (docker pull $base) or leave --base out for the local base" >&2
  exit 2
fi

# --- the programs ------------------------------------------------------------------------------
declare -A target=([trainer]=trainer/disttgl-trainer [memory-daemon]=memory-daemon/disttgl-memory-daemon
                   [operator]=operator/disttgl-operator)
declare -A about=([trainer]="disttgl trainer: memory-based temporal GNN training (LibTorch, CUDA 13.0 and CPU)"
                  [memory-daemon]="disttgl memory daemon: one copy of node memory and mailbox, served to trainers"
                  [operator]="disttgl operator: runs TGNNJobs (memory daemons and trainers) on Kubernetes")
build=${DISTTGL_BUILD_DIR:-build/release}
missing=()
for c in "${only[@]}"; do [ -x "$build/${target[$c]}" ] || missing+=("$(basename "${target[$c]}")"); done
if [ ${#missing[@]} -gt 0 ]; then
  [ -n "${DISTTGL_BUILD_DIR:-}" ] && { echo "build-images: $build lacks ${missing[*]}" >&2; exit 2; }
  log "building ${missing[*]} (release preset)"
  cmake --preset release > /dev/null
  cmake --build --preset release --target "${missing[@]}"
fi

# Libraries the base already has at the version we build against: glibc's and the compiler's.
skip='^(ld-linux.*|libc|libm|libdl|libpthread|librt|libresolv|libutil|libstdc\+\+|libgcc_s)\.so'
stage() {  # stage COMPONENT -> build/images/disttgl-COMPONENT/opt/disttgl/{bin,lib,configs}
  local c=$1 bin="$build/${target[$1]}" dir="$build/images/disttgl-$1"
  rm -rf "$dir"
  mkdir -p "$dir/opt/disttgl/bin" "$dir/opt/disttgl/lib"
  cp "$bin" "$dir/opt/disttgl/bin/"
  # The release build carries DWARF (-g) for profiling; an image needs only the symbols.
  strip --strip-debug "$dir/opt/disttgl/bin/$(basename "$bin")"
  local line name path
  while read -r line; do
    name=$(awk '{print $1}' <<< "$line")
    path=$(awk '$2 == "=>" {print $3}' <<< "$line")
    [ -n "$path" ] || continue
    if [ "$path" = "not" ]; then echo "build-images: $bin: $name not found by ldd" >&2; exit 1; fi
    [[ $name =~ $skip ]] && continue
    cp -L "$path" "$dir/opt/disttgl/lib/$name"
  done < <(ldd "$bin")
  if [ "$c" = trainer ]; then
    # What LibTorch opens at run time on a GPU, which ldd cannot see: cuDNN's sub-libraries
    # (beside libcudnn.so.9) and NVRTC (beside libcublas, for kernels torch compiles at run time).
    local cudnn cublas
    cudnn=$(ldd "$bin" | awk '$1 == "libcudnn.so.9" {print $3}')
    cublas=$(ldd "$bin" | awk '$1 ~ /^libcublas\.so/ {print $3}')
    [ -n "$cudnn" ] && cp -L "$(dirname "$cudnn")"/libcudnn_*.so.9 "$dir/opt/disttgl/lib/"
    [ -n "$cublas" ] && cp -L "$(dirname "$cublas")"/libnvrtc.so.* "$(dirname "$cublas")"/libnvrtc-builtins.so.* \
      "$dir/opt/disttgl/lib/"
    mkdir -p "$dir/opt/disttgl/configs"
    cp configs/*.yaml "$dir/opt/disttgl/configs/"
  fi
  chmod -R a+rX,go-w "$dir/opt"  # readable by the images' non-root user
}

sizes=()
for c in "${only[@]}"; do
  image="disttgl/$c:$version"
  log "staging disttgl-$c"
  stage "$c"
  log "building $image on $base"
  old=$(docker image inspect -f '{{.Id}}' "$image" 2> /dev/null || true)
  docker build -q -f docker/Dockerfile -t "$image" \
    --build-arg BASE="$base" --build-arg PROGRAM="disttgl-$c" --build-arg VERSION="$version" \
    --build-arg REVISION="$revision" --build-arg CREATED="$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
    --build-arg DESCRIPTION="${about[$c]}" "$build/images/disttgl-$c" > /dev/null
  # A rebuild leaves the previous image untagged (3.4 GB for the trainer), and repeated test runs
  # filled the disk: remove it unless a container still uses it.
  if [[ -n $old && $old != "$(docker image inspect -f '{{.Id}}' "$image")" ]]; then
    docker image rm "$old" > /dev/null 2>&1 || true
  fi
  sizes+=("$image $(docker image inspect -f '{{.Size}}' "$image" | awk '{printf "%.0f", $1 / 1e6}')")
done
log "images (MB, uncompressed):"
printf '%s\n' "${sizes[@]}"
