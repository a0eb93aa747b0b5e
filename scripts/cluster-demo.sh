#!/usr/bin/env bash
# The cluster path, on one machine: installs and builds what is missing (scripts/setup.sh, the
# release build, scripts/build-images.sh), starts etcd, kube-apiserver, kube-scheduler,
# kube-controller-manager and a node agent that runs pods with Docker, `helm install`s the chart,
# `kubectl apply`s examples/tgnnjob-demo.yaml (TGN on CollegeMsg, i=1 j=1 k=2: 2 memory daemons,
# 2 trainers), follows it to Succeeded, prints the test AP, checks every dashboard query against
# a Prometheus that discovers the pods through the API server, and tears everything down.
#
#   scripts/cluster-demo.sh            the whole demo
#   scripts/cluster-demo.sh --keep     leave the cluster running and print how to reach it
#   scripts/cluster-demo.sh --down     stop a cluster left running by --keep
#
# Needs root (dockerd, bind mounts) and ../shared/datasets beside the checkout
# (DISTTGL_SHARED_DIR overrides). State and logs: /tmp/disttgl-cluster-demo (DISTTGL_DEMO_DIR).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
for arg in "$@"; do
  case "$arg" in
    --keep|--down) ;;
    *) echo "usage: scripts/cluster-demo.sh [--keep | --down]" >&2; exit 2 ;;
  esac
done
if [ "$(id -u)" -ne 0 ]; then
  echo "cluster-demo: run as root (it starts dockerd, and its containers bind-mount volumes)" >&2
  exit 2
fi
state=${DISTTGL_DEMO_DIR:-/tmp/disttgl-cluster-demo}
if [ "${1:-}" = --down ]; then exec python3 tests/e2e/cluster_demo.py --down --state "$state"; fi
if [ -f "$state/pids.json" ]; then
  echo "cluster-demo: a demo cluster is still running under $state; stop it with scripts/cluster-demo.sh --down" >&2
  exit 2
fi
start=$(date +%s)
scripts/setup.sh
cmake --preset release > /dev/null
cmake --build --preset release --target disttgl-trainer disttgl-memory-daemon disttgl-operator
# The images, on the Docker that answers or the project's own daemon (kept for the cluster).
export DISTTGL_KEEP_DOCKER=1
if ! docker info > /dev/null 2>&1; then
  out=$(scripts/docker-daemon.sh start)
  export DOCKER_HOST=${out%%$'\n'*}; DOCKER_HOST=${DOCKER_HOST#DOCKER_HOST=}
  if [[ $out == *$'\n'started ]]; then
    # The cluster stops it at teardown (or --down after --keep); until then, this script does.
    export DISTTGL_DOCKER_STARTED=1
    trap 'scripts/docker-daemon.sh stop' EXIT
  fi
fi
scripts/build-images.sh
echo "[cluster-demo] installed, built and imaged in $(( $(date +%s) - start )) s"
trap - EXIT
exec python3 tests/e2e/cluster_demo.py --state "$state" "$@"
