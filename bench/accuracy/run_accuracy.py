#!/usr/bin/env python3
"""Accuracy runs of disttgl-trainer on the shared datasets (not a test).

For each dataset and seed: `disttgl-trainer train` with the given config, then read the run's
summary.json. Prints a Markdown table of test AP / AUC / MRR (mean ± std over seeds) and writes
it with the exact command lines to --out (docs/accuracy.md by default).

Usage: .venv/bin/python bench/accuracy/run_accuracy.py [--datasets collegemsg,enron,wikipedia,canparl]
          [--seeds 0,1,2] [--epochs N] [--config configs/tgn.yaml] [--threads 2] [--static]
          [--static-seeds 0]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = os.environ.get("DISTTGL_SHARED_DIR", os.path.join(ROOT, "..", "shared"))
DATASETS = {
    "collegemsg": "datasets/collegemsg/CollegeMsg.txt",
    "enron": "datasets/enron/ml_enron.csv",
    "wikipedia": "datasets/wikipedia/wikipedia.csv",
    "canparl": "datasets/canparl/ml_CanParl.csv",
}
# Published TGN test AP (DyGLib, transductive, random negatives) and the bounds.
ANCHORS = {
    "collegemsg": ("0.9234 (DyGLib TGN)", 0.90),
    "enron": ("0.8653 (DyGLib TGN)", 0.85),
    "wikipedia": ("EdgeBank 0.904; no featureless TGN published", 0.95),
    "canparl": ("0.7088 (DyGLib TGN)", None),
}


def run(cmd):
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)


def fmt(values):
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.4f}"
    return f"{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f}"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--datasets", default="collegemsg,enron,wikipedia,canparl")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--config", default="configs/tgn.yaml")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--trainer", default=os.path.join(ROOT, "build/release/trainer/disttgl-trainer"))
    p.add_argument("--workdir", default="/tmp/disttgl-accuracy")
    p.add_argument("--static", action="store_true",
                   help="also pre-train a static node memory and train with it")
    p.add_argument("--static-seeds", default=None,
                   help="seeds of the static-memory runs (default: --seeds)")
    p.add_argument("--out", default=os.path.join(ROOT, "docs/accuracy.md"))
    args = p.parse_args()

    rows = []
    commands = []
    for name in args.datasets.split(","):
        data = os.path.join(SHARED, DATASETS[name])
        variants = [("dynamic", None)]
        if args.static:
            static_dir = os.path.join(args.workdir, name, "static")
            cmd = [args.trainer, "pretrain-static", "--data", data, "--config", args.config,
                   "--output", static_dir, "--seed", "0", "--threads", str(args.threads)]
            if args.epochs:
                cmd += ["--epochs", str(args.epochs)]
            run(cmd)
            commands.append(" ".join(cmd))
            variants.append(("dynamic + static", os.path.join(static_dir, "static_memory.pt")))
        for label, static in variants:
            result = {"ap": [], "auc": [], "mrr": [], "eps": [], "val_ap": [], "epochs": []}
            seeds = args.seeds if static is None else (args.static_seeds or args.seeds)
            for seed in seeds.split(","):
                out = os.path.join(args.workdir, name, label.replace(" ", ""), f"seed{seed}")
                cmd = [args.trainer, "train", "--data", data, "--config", args.config,
                       "--output", out, "--seed", seed, "--threads", str(args.threads)]
                if args.epochs:
                    cmd += ["--epochs", str(args.epochs)]
                if static:
                    cmd += ["--static-memory", static]
                start = time.time()
                run(cmd)
                commands.append(" ".join(cmd))
                with open(os.path.join(out, "summary.json")) as f:
                    s = json.load(f)
                result["ap"].append(s["test"]["ap"])
                result["auc"].append(s["test"]["auc"])
                result["mrr"].append(s["test"]["mrr"])
                result["val_ap"].append(s["val"]["ap"])
                result["eps"].append(s["train_events_per_second"])
                result["epochs"].append(s["epochs"])
                print(f"{name} {label} seed {seed}: test AP {s['test']['ap']:.4f} "
                      f"({time.time() - start:.0f} s)", flush=True)
            rows.append((name, label, result))

    lines = ["| dataset | memory | test AP | test AUC | test MRR (49 neg) | val AP | "
             "train events/s | epochs | published TGN AP | bound |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, label, r in rows:
        anchor, bound = ANCHORS[name]
        ok = "-" if bound is None else (
            f">= {bound}: {'met' if statistics.mean(r['ap']) >= bound else 'MISSED'}")
        lines.append(f"| {name} | {label} | {fmt(r['ap'])} | {fmt(r['auc'])} | {fmt(r['mrr'])} | "
                     f"{fmt(r['val_ap'])} | {statistics.mean(r['eps']):.0f} | "
                     f"{'/'.join(str(e) for e in r['epochs'])} | {anchor} | {ok} |")
    table = "\n".join(lines)
    print(table)
    with open(args.out + ".table", "w") as f:
        f.write(table + "\n\nCommands:\n" + "\n".join(commands) + "\n")
    print(f"table written to {args.out}.table")


if __name__ == "__main__":
    sys.exit(main())
