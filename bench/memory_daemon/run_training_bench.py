#!/usr/bin/env python3
"""Training throughput with the node memory in a memory daemon, side by side in one run.

TGN on JODIE Wikipedia (configs/tgn.yaml: batch 600, memory 100, 10 recent neighbours),
one epoch per configuration, same seed and threads:
  in-process store, pipeline depth 0 (the sequential loop: the baseline) and 1;
  memory daemon over TCP loopback and over a Unix socket, pipeline depth 0, 1 and 2.
The daemon is a separate process started by this script. Reports training events/s
(evaluation excluded, from metrics.jsonl), the ratio to the baseline, the stage seconds
(memory_read = waiting for the daemon's rows) and test AP, as a Markdown table, and as JSON
with --json. --rounds N repeats the whole sweep N times, interleaved, and reports medians.

Usage: python3 bench/memory_daemon/run_training_bench.py [--threads 2] [--rounds 1] [--json F]
Needs the release build (scripts/test.sh).
"""
import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = os.environ.get("DISTTGL_SHARED_DIR", os.path.join(ROOT, "..", "shared"))
DATA = os.path.join(SHARED, "datasets/wikipedia/wikipedia.csv")
BUILD = os.path.join(ROOT, "build/release")


def start_daemon(work):
    port_file = os.path.join(work, "port")
    sock = os.path.join(work, "daemon.sock")
    log = open(os.path.join(work, "daemon.log"), "w")
    proc = subprocess.Popen([os.path.join(BUILD, "memory-daemon/disttgl-memory-daemon"),
                             "--listen", "127.0.0.1:0", "--port-file", port_file, "--unix", sock],
                            stderr=log, stdout=log)
    for _ in range(200):
        if os.path.exists(port_file) and open(port_file).read().strip():
            return proc, "127.0.0.1:" + open(port_file).read().strip(), "unix:" + sock
        time.sleep(0.05)
    raise SystemExit("the memory daemon did not start; see " + log.name)


def train(args, out, extra):
    cmd = [os.path.join(BUILD, "trainer/disttgl-trainer"), "train", "--data", args.data,
           "--config", os.path.join(ROOT, "configs/tgn.yaml"), "--output", out, "--epochs", "1",
           "--threads", str(args.threads), "--seed", "0"] + extra
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    with open(os.path.join(out, "metrics.jsonl")) as f:
        epoch = json.loads(f.readline())
    with open(os.path.join(out, "summary.json")) as f:
        summary = json.load(f)
    shutil.rmtree(out)
    return epoch["train_events_per_second"], epoch["stage_seconds"], summary["test"]["ap"]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--data", default=DATA)
    p.add_argument("--json", default=None)
    args = p.parse_args()
    work = tempfile.mkdtemp(prefix="disttgl-daemon-bench-")
    daemon, tcp, unix = start_daemon(work)
    try:
        configs = [("in-process", 0, []), ("in-process", 1, [])]
        for label, address in (("daemon TCP", tcp), ("daemon Unix", unix)):
            for depth in (0, 1, 2):
                configs.append((label, depth, ["--memory-daemon", address]))
        runs = {}
        for _ in range(args.rounds):
            for label, depth, extra in configs:
                out = os.path.join(work, "run")
                rate, stages, ap = train(args, out, extra + ["--pipeline-depth", str(depth)])
                runs.setdefault((label, depth), []).append((rate, stages, ap))
        base = statistics.median(r[0] for r in runs[("in-process", 0)])
        rows = []
        print("\n| memory | pipeline depth | train events/s | vs in-process depth 0 | "
              "memory_read s | wait s | test AP |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        for label, depth, _ in configs:
            rs = runs[(label, depth)]
            rate = statistics.median(r[0] for r in rs)
            stages = rs[0][1]
            row = {"memory": label, "depth": depth, "events_per_second": rate,
                   "ratio": rate / base, "stage_seconds": stages, "test_ap": rs[0][2],
                   "rounds": [r[0] for r in rs]}
            rows.append(row)
            print(f"| {label} | {depth} | {rate:,.0f} | {rate / base:.3f} | "
                  f"{stages.get('memory_read', 0):.2f} | {stages.get('wait', 0):.2f} | "
                  f"{rs[0][2]:.4f} |")
        if args.json:
            with open(args.json, "w") as f:
                json.dump(rows, f, indent=2)
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
