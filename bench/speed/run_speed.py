#!/usr/bin/env python3
"""Side-by-side training throughput: disttgl-trainer TGN vs PyTorch Geometric's TGN, one run.

Both train one epoch of TGN on JODIE Wikipedia (batch 600, memory 100, 10 most recent
neighbours, one attention layer with 2 heads, same thread count) one after the other on the
same machine. Prints a Markdown table of training events/s (evaluation excluded), the ratio
and test AP, and writes it as JSON with --json.

PyG is run twice: as users run it, and with the same glibc allocator settings that
disttgl-trainer applies to itself (MALLOC_MMAP_THRESHOLD_ etc., see trainer/app/main.cpp),
so the ratio is not just the allocator.

Usage: .venv/bin/python bench/speed/run_speed.py [--threads 2] [--json FILE]
Needs: the release build (scripts/test.sh or cmake --preset release && ninja -C build/release)
and scripts/setup-bench.sh (torch_geometric).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = os.environ.get("DISTTGL_SHARED_DIR", os.path.join(ROOT, "..", "shared"))
DATA = os.path.join(SHARED, "datasets/wikipedia/wikipedia.csv")
ALLOCATOR_ENV = {"MALLOC_MMAP_THRESHOLD_": str(1 << 30), "MALLOC_TRIM_THRESHOLD_": str(1 << 30),
                 "MALLOC_TOP_PAD_": str(64 << 20)}


def run(cmd, env=None):
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--trainer", default=os.path.join(ROOT, "build/release/trainer/disttgl-trainer"))
    p.add_argument("--python", default=os.path.join(ROOT, ".venv/bin/python"))
    p.add_argument("--json", default=None)
    args = p.parse_args()
    work = tempfile.mkdtemp(prefix="disttgl-speed-")
    try:
        out = os.path.join(work, "ours")
        run([args.trainer, "train", "--data", DATA, "--config", os.path.join(ROOT, "configs/tgn.yaml"),
             "--output", out, "--epochs", "1", "--threads", str(args.threads), "--seed", "0"])
        with open(os.path.join(out, "metrics.jsonl")) as f:
            epoch = json.loads(f.readline())
        with open(os.path.join(out, "summary.json")) as f:
            summary = json.load(f)
        rows = [{"trainer": "disttgl", "events_per_second": epoch["train_events_per_second"],
                 "train_seconds": epoch["train_seconds"], "test_ap": summary["test"]["ap"],
                 "stage_seconds": epoch["stage_seconds"]}]
        for label, extra in (("PyG TGN", {}), ("PyG TGN, same allocator settings", ALLOCATOR_ENV)):
            result = os.path.join(work, "pyg.json")
            env = dict(os.environ, **extra)
            run([args.python, os.path.join(ROOT, "bench/pyg/pyg_tgn.py"), "--data", DATA,
                 "--epochs", "1", "--threads", str(args.threads), "--json", result], env=env)
            with open(result) as f:
                pyg = json.load(f)
            rows.append({"trainer": label, "events_per_second": pyg["events_per_second"],
                         "train_seconds": pyg.get("train_seconds"), "test_ap": pyg.get("test_ap")})
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ours = rows[0]["events_per_second"]
    print("\n| trainer | train events/s | test AP | disttgl / this |")
    print("| --- | ---: | ---: | ---: |")
    for r in rows:
        ap = "-" if r["test_ap"] is None else f"{r['test_ap']:.4f}"
        print(f"| {r['trainer']} | {r['events_per_second']:,.0f} | {ap} | "
              f"{ours / r['events_per_second']:.2f}× |")
    stages = rows[0]["stage_seconds"]
    total = sum(stages.values())
    print("\ndisttgl stage seconds: " + ", ".join(
        f"{k} {v:.2f} s ({100 * v / total:.0f} %)" for k, v in sorted(stages.items(), key=lambda kv: -kv[1])))
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"threads": args.threads, "rows": rows}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
