#!/usr/bin/env bash
# Installs what the images and the end-to-end cluster run need, idempotently: Debian's docker.io
# (dockerd, containerd, runc) and debootstrap (the local base image on machines that reach no
# image registry). Facts behind it: ../shared/reference/local-cluster-recipe.md.
set -euo pipefail
packages=(docker.io debootstrap)
if dpkg -s "${packages[@]}" > /dev/null 2>&1; then
  echo "[setup-docker] docker.io and debootstrap present"
  exit 0
fi
echo "[setup-docker] installing ${packages[*]}"
sudo_cmd=()
[ "$(id -u)" -ne 0 ] && sudo_cmd=(sudo)
"${sudo_cmd[@]}" apt-get update -qq
# Where an init system starts the packaged docker.service, the scripts use it (it answers);
# elsewhere (containers, CI) they start the project's own daemon (scripts/docker-daemon.sh).
DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends \
  "${packages[@]}" > /dev/null
