#!/usr/bin/env bash
# The images (scripts/build-images.sh) start as their non-root user, answer --help, carry OCI
# labels, the trainer reports the torch and CUDA it carries, and the daemon image stays small.
# Usage: images_test.sh VERSION. Exit 77 (skipped) without root or dockerd.
set -euo pipefail
version=${1:?usage: images_test.sh VERSION}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
if [ "$(id -u)" -ne 0 ] || ! command -v dockerd > /dev/null; then
  echo "skipped: needs root and dockerd (scripts/setup-docker.sh)"
  exit 77
fi
fail() { echo "FAIL: $*" >&2; exit 1; }
started=0
if ! docker info > /dev/null 2>&1; then
  out=$("$root/scripts/docker-daemon.sh" start)
  export DOCKER_HOST=${out%%$'\n'*}; DOCKER_HOST=${DOCKER_HOST#DOCKER_HOST=}
  [[ $out == *$'\n'started ]] && started=1
fi
trap '[ "$started" = 1 ] && "$root/scripts/docker-daemon.sh" stop' EXIT

for program in trainer memory-daemon operator; do
  image="disttgl/$program:$version"
  docker image inspect "$image" > /dev/null || fail "$image is missing (scripts/build-images.sh)"
  user=$(docker run --rm --entrypoint id "$image" -u)
  [ "$user" = 10001 ] || fail "$image runs as uid '$user', not 10001"
  help=$(docker run --rm "$image" --help 2>&1) || fail "$image --help exited non-zero: $help"
  grep -q "^Usage: /opt/disttgl/bin/disttgl-$program" <<< "$help" || fail "$image --help: $help"
  labels=$(docker image inspect -f '{{index .Config.Labels "org.opencontainers.image.version"}} {{index .Config.Labels "org.opencontainers.image.title"}}' "$image")
  [ "$labels" = "$version disttgl-$program" ] || fail "$image OCI labels: '$labels'"
  size=$(docker image inspect -f '{{.Size}}' "$image")
  echo "$image: uid $user, --help ok, $((size / 1000000)) MB"
done
out=$(docker run --rm "disttgl/trainer:$version" --version)
echo "$out"
grep -qx "torch: 2.11.0" <<< "$out" || fail "trainer --version: no 'torch: 2.11.0' in: $out"
grep -qE "^cuda: 13\.0 \(compiled in; 0 devices visible\)$" <<< "$out" || fail "trainer --version: no CUDA 13.0 in: $out"
# What LibTorch opens at run time on a GPU, beyond what ldd sees.
libs=$(docker run --rm --entrypoint ls "disttgl/trainer:$version" /opt/disttgl/lib)
for lib in libtorch_cuda.so libcudnn_ops.so.9 libcudnn_engines_precompiled.so.9 libnvrtc.so.13 libnccl.so.2; do
  grep -qx "$lib" <<< "$libs" || fail "the trainer image lacks $lib"
done
daemon=$(docker image inspect -f '{{.Size}}' "disttgl/memory-daemon:$version")
[ "$daemon" -lt 150000000 ] || fail "the memory-daemon image is $((daemon / 1000000)) MB (target < 150)"
# The trainer image runs a training step as the non-root user, reading a read-only volume.
data=$(mktemp -d)
cp "${DISTTGL_SHARED_DIR:-$root/../shared}/datasets/collegemsg/CollegeMsg.txt" "$data/"
chmod -R a+rX "$data"
docker run --rm --network none -v "$data:/data:ro" "disttgl/trainer:$version" train --data /data/CollegeMsg.txt \
  --config /opt/disttgl/configs/tgn.yaml --epochs 1 --max-train-batches 2 --threads 1 --metrics-port 0 \
  --output /tmp/run > "$data/train.log" 2>&1 || { cat "$data/train.log"; rm -rf "$data"; fail "train in the trainer image"; }
grep -qE "^test AP 0\.[0-9]{4} +AUC 0\.[0-9]{4}" "$data/train.log" || { cat "$data/train.log"; rm -rf "$data"; fail "no 'test AP ... AUC ...' line in the trainer image's output"; }
rm -rf "$data"
echo "images ok"
