#!/usr/bin/env bash
# Two hosts: memory parallelism k = 2 across two network namespaces joined by a veth pair,
# each with its own address, memory daemon and trainer (rank 0 and its group's daemon on
# host A, rank 1 and the other group's daemon on host B), wired only through the launch
# contract's variables, as the Kubernetes operator sets them for pods. Everything crosses
# the veth link: the rendezvous, Gloo's all-reduces, and rank 1's memory traffic to its
# daemon stays on host B. Exits 77 (skipped) only where the kernel refuses namespaces.
# Usage: two_hosts_test.sh TRAINER_BIN DAEMON_BIN DATASET
set -euo pipefail
trainer=$1 daemon=$2 data=$3
tag="dt$$"
ns_a="${tag}a" ns_b="${tag}b"
net="10.$((200 + $$ % 50)).$(($$ % 250)).0"
addr_a="${net%.0}.1" addr_b="${net%.0}.2"
work=$(mktemp -d /tmp/disttgl-two-hosts-XXXXXX)
pids=()

cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  ip netns del "$ns_a" 2>/dev/null || true
  ip netns del "$ns_b" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

if ! ip netns add "$ns_a" 2>"$work/why"; then
  echo "SKIP: the kernel refuses network namespaces here: $(cat "$work/why")"
  exit 77
fi
ip netns add "$ns_b"
ip link add "${tag}va" type veth peer name "${tag}vb"
ip link set "${tag}va" netns "$ns_a"
ip link set "${tag}vb" netns "$ns_b"
ip -n "$ns_a" addr add "$addr_a/24" dev "${tag}va"
ip -n "$ns_b" addr add "$addr_b/24" dev "${tag}vb"
for ns in "$ns_a" "$ns_b"; do
  ip -n "$ns" link set lo up
done
ip -n "$ns_a" link set "${tag}va" up
ip -n "$ns_b" link set "${tag}vb" up

layout="i=1,j=1,k=2"
for g in 0 1; do
  ns=$ns_a addr=$addr_a
  [ "$g" = 1 ] && ns=$ns_b addr=$addr_b
  ip netns exec "$ns" "$daemon" --listen "$addr:0" --port-file "$work/port$g" \
    --layout "$layout" --memory-group "$g" --job two-hosts > "$work/daemon$g.log" 2>&1 &
  pids+=($!)
done
for g in 0 1; do
  for _ in $(seq 100); do [ -s "$work/port$g" ] && break; sleep 0.1; done
  [ -s "$work/port$g" ] || { echo "daemon $g did not start"; cat "$work/daemon$g.log"; exit 1; }
done

run_rank() {  # rank ns addr daemon_port
  ip netns exec "$2" env DISTTGL_JOB=two-hosts DISTTGL_RANK="$1" DISTTGL_WORLD_SIZE=2 \
    DISTTGL_LAYOUT="$layout" DISTTGL_MASTER_ADDR="$addr_a" DISTTGL_MASTER_PORT=29517 \
    DISTTGL_MEMORY_DAEMON="$3:$4" DISTTGL_ATTEMPT=0 DISTTGL_RUN_DIR="$work/run" \
    DISTTGL_LOCAL_ADDR="$3" \
    "$trainer" train --data "$data" --epochs 1 --max-train-batches 6 --threads 1 \
    --device cpu > "$work/rank$1.log" 2>&1
}
run_rank 0 "$ns_a" "$addr_a" "$(cat "$work/port0")" &
r0=$!
pids+=($r0)
run_rank 1 "$ns_b" "$addr_b" "$(cat "$work/port1")" &
r1=$!
pids+=($r1)
status=0
wait "$r0" || status=$?
wait "$r1" || status=$?
if [ "$status" != 0 ]; then
  echo "a rank failed (exit $status)"
  tail -n 20 "$work"/rank*.log "$work"/daemon*.log
  exit 1
fi
grep -q "rank 1 of 2: done" "$work/rank1.log" || { echo "rank 1 did not finish"; exit 1; }
[ -f "$work/run/summary.json" ] || { echo "rank 0 wrote no summary.json"; exit 1; }
# Each group's daemon served its own host's rank (the connection log names the peer).
grep -q "rank 0" "$work/daemon0.log" || { echo "daemon 0 saw no rank"; cat "$work/daemon0.log"; exit 1; }
grep -q "rank 0" "$work/daemon1.log" || { echo "daemon 1 saw no rank"; cat "$work/daemon1.log"; exit 1; }
# Rank 1 found rank 0's store across the link.
grep -q "rank 1 of 2 (memory group 1" "$work/rank1.log" || { echo "rank 1 did not join"; exit 1; }
python3 -c "import json,sys; s=json.load(open(sys.argv[1])); ap=s['test']['ap']; print('test AP', ap); sys.exit(0 if 0.5 < ap <= 1 else 1)" "$work/run/summary.json"
echo "two hosts: k=2 across $addr_a and $addr_b trained and finished"
