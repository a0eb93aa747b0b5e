#!/usr/bin/env bash
# The project's own Docker daemon (Debian's docker.io, installed by scripts/setup-docker.sh), for
# machines where none runs: images persist in $DISTTGL_CACHE/docker between runs.
#   scripts/docker-daemon.sh start   starts it unless it answers; prints `DOCKER_HOST=...` and,
#                                    when this call started it, a second line `started` (so
#                                    that only the caller that started it stops it)
#   scripts/docker-daemon.sh stop    stops the daemon this script started (by its pid file)
#   scripts/docker-daemon.sh host    prints the DOCKER_HOST to use (ours), started or not
# A daemon the user already runs (DOCKER_HOST or /var/run/docker.sock answering) is left alone:
# callers check `docker info` first and start ours only when that fails.
# Its network: no bridge and no iptables (containers use the host's network namespace; the
# node agent gives each pod its own loopback address).
set -euo pipefail
cache=${DISTTGL_CACHE:-$HOME/.cache/disttgl}
dir="$cache/docker"
run=/run/disttgl-docker
sock="$run/docker.sock"
pidfile="$run/dockerd.pid"
host="unix://$sock"

answers() { DOCKER_HOST=$host docker info > /dev/null 2>&1; }

case "${1:-}" in
  host)
    echo "DOCKER_HOST=$host"
    ;;
  start)
    if answers; then
      echo "DOCKER_HOST=$host"
      exit 0
    fi
    command -v dockerd > /dev/null || {
      echo "docker-daemon: dockerd is missing: run scripts/setup-docker.sh" >&2
      exit 2
    }
    mkdir -p "$dir/data" "$run"
    # A pid file left by a killed daemon stops a new one from starting.
    if [ -f "$pidfile" ] && ! kill -0 "$(cat "$pidfile")" 2> /dev/null; then rm -f "$pidfile"; fi
    setsid dockerd --data-root "$dir/data" --exec-root "$run/exec" --pidfile "$pidfile" \
      -H "$host" --bridge=none --iptables=false --ip6tables=false \
      --containerd-namespace disttgl --log-level warn > "$dir/dockerd.log" 2>&1 < /dev/null &
    for _ in $(seq 1 100); do
      answers && break
      sleep 0.2
    done
    if ! answers; then
      echo "docker-daemon: dockerd did not answer on $sock within 20 s; its log ($dir/dockerd.log):" >&2
      tail -20 "$dir/dockerd.log" >&2
      exit 1
    fi
    echo "DOCKER_HOST=$host"
    echo started
    ;;
  stop)
    [ -f "$pidfile" ] || exit 0
    pid=$(cat "$pidfile")
    # Only our dockerd (a reused pid is left alone). It leads its own session (setsid), with
    # containerd and the shims in its process group: a stuck one is killed with them all.
    if [ "$(cat "/proc/$pid/comm" 2> /dev/null)" = dockerd ]; then
      kill -TERM "$pid"
      for _ in $(seq 1 150); do
        kill -0 "$pid" 2> /dev/null || break
        sleep 0.2
      done
      if kill -0 "$pid" 2> /dev/null; then
        echo "docker-daemon: dockerd did not stop within 30 s of SIGTERM; killing its process group" >&2
        kill -KILL -- "-$pid" 2> /dev/null || true
      fi
    fi
    rm -f "$pidfile"
    ;;
  *)
    echo "usage: scripts/docker-daemon.sh start|stop|host" >&2
    exit 2
    ;;
esac
