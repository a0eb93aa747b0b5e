#!/usr/bin/env bash
# What /metrics costs on the hot path (issue 11): the same daemon-backed training run with
# Prometheus metrics off (--metrics-port 0 on the trainer and the daemon) and on (both
# exposing, a real `prometheus` scraping them every second, 15x its default rate), alternated
# PAIRS times in one invocation so that machine drift hits both sides alike. Prints each
# trial's training throughput (metrics.jsonl's train_events_per_second) and the on/off ratio
# of the medians; docs/performance.md records the result.
# Usage: bench/metrics/exposer_overhead.sh [OUT_DIR] (env: DATA, PAIRS, BATCHES, THREADS)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-/tmp/disttgl-bench-metrics}
trainer="$root/build/release/trainer/disttgl-trainer"
daemon="$root/build/release/memory-daemon/disttgl-memory-daemon"
[ -x "$trainer" ] && [ -x "$daemon" ] || { echo "build first: cmake --build --preset release" >&2; exit 2; }
command -v prometheus > /dev/null || { echo "prometheus missing: run scripts/setup.sh" >&2; exit 2; }
data=${DATA:-"$root/../shared/datasets/wikipedia/wikipedia.csv"}
pairs=${PAIRS:-5}
batches=${BATCHES:-150}
threads=${THREADS:-$(nproc)}
rm -rf "$out"
mkdir -p "$out"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
prom_port=$(free_port); daemon_port=$(free_port); trainer_port=$(free_port)
cat > "$out/prometheus.yml" <<EOF
global: {scrape_interval: 1s, scrape_timeout: 1s}
scrape_configs:
  - job_name: bench
    honor_labels: true
    static_configs: [{targets: ['127.0.0.1:$daemon_port', '127.0.0.1:$trainer_port']}]
EOF
prometheus --config.file="$out/prometheus.yml" --web.listen-address="127.0.0.1:$prom_port" \
  --storage.tsdb.path="$out/tsdb" > "$out/prometheus.log" 2>&1 &
prom_pid=$!
pids=("$prom_pid")
trap 'kill "${pids[@]}" 2> /dev/null || true' EXIT

trial() {  # trial NAME on|off -> prints events/s
  local name=$1 mode=$2 dport=0 tport=0
  [ "$mode" = on ] && { dport=$daemon_port; tport=$trainer_port; }
  local sock="$out/$name.sock"
  "$daemon" --unix "$sock" --metrics-port "$dport" --metrics-address 127.0.0.1 \
    > "$out/$name.daemon.log" 2>&1 &
  local dpid=$!
  pids+=("$dpid")
  while [ ! -S "$sock" ]; do sleep 0.1; done
  "$trainer" train --data "$data" --memory-daemon "unix:$sock" --epochs 1 \
    --max-train-batches "$batches" --threads "$threads" --device cpu \
    --metrics-port "$tport" --metrics-address 127.0.0.1 --output "$out/$name" \
    > "$out/$name.log" 2>&1 || { tail -n 20 "$out/$name.log" >&2; exit 1; }
  kill "$dpid"; wait "$dpid" 2> /dev/null || true
  python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["train_events_per_second"])' \
    "$out/$name/metrics.jsonl"
}

for p in $(seq 1 "$pairs"); do
  # Alternate which side goes first, so neither always runs on a warmer machine.
  if (( p % 2 )); then order="off on"; else order="on off"; fi
  for mode in $order; do
    rate=$(trial "$mode-$p" "$mode")
    echo "$mode $rate" | tee -a "$out/results.txt"
  done
done
# Successful scrapes of the "on" runs (`up` is 1 for each; 0 while a target is off).
scrapes=$(curl -s "http://127.0.0.1:$prom_port/api/v1/query" \
  --data-urlencode 'query=sum(sum_over_time(up{job="bench"}[1h]))' \
  | python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(int(float(r[0]["value"][1])) if r else 0)')
python3 - "$out/results.txt" "$scrapes" <<'EOF'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
on = [float(r) for m, r in rows if m == "on"]
off = [float(r) for m, r in rows if m == "off"]
print(f"metrics off: median {statistics.median(off):.0f} events/s over {len(off)} runs "
      f"({min(off):.0f}-{max(off):.0f})")
print(f"metrics on (scraped every 1 s, {sys.argv[2]} scrapes): median {statistics.median(on):.0f} "
      f"events/s over {len(on)} runs ({min(on):.0f}-{max(on):.0f})")
print(f"on / off = {statistics.median(on) / statistics.median(off):.3f}")
EOF
