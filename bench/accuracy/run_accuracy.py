#!/usr/bin/env python3
"""Accuracy runs of disttgl-trainer on the shared datasets (not a test).

For each dataset and seed: `disttgl-trainer train`, then read the run's summary.json. Prints a
Markdown table of test AP / AUC / MRR (mean ± std over seeds) and writes it with the exact
command lines to --out.table (docs/accuracy.md.table by default).

--protocol tgl trains every dataset with --config (configs/tgn.yaml: TGL's defaults, batch 600).
--protocol dyglib uses bench/accuracy/configs/dyglib-DATASET.yaml: the protocol of the published
anchors (batch 200, DyGLib's per-dataset dropout and neighbour sampling, early stop).
--jobs N runs N trainings at once (each with --threads threads); a run's log goes to OUT.log
beside its output directory OUT (WORKDIR/DATASET/{dynamic,static}/seedS; the pre-trained static
memory is in WORKDIR/DATASET/pretrain). The first failed run stops the others and prints the end
of its log.

Usage: .venv/bin/python bench/accuracy/run_accuracy.py [--datasets collegemsg,enron,wikipedia,canparl]
          [--seeds 0,1,2] [--epochs N] [--protocol tgl|dyglib] [--config configs/tgn.yaml]
          [--threads 2] [--jobs 1] [--static] [--static-seeds 0]
"""
import argparse
import concurrent.futures
import json
import os
import statistics
import subprocess
import sys
import threading
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


STOP = threading.Event()  # set on the first failure or Ctrl-C: queued runs do not start


class RunFailed(Exception):
    pass


def run(cmd, log):
    """Runs one trainer command with its output in `log`; returns (command line, seconds)."""
    if STOP.is_set():
        return None
    os.makedirs(os.path.dirname(log), exist_ok=True)
    start = time.time()
    print("+", " ".join(cmd), flush=True)
    with open(log, "w") as f:
        code = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT).returncode
    if code != 0:
        STOP.set()
        with open(log) as f:
            tail = "".join(f.readlines()[-15:])
        raise RunFailed(f"exit code {code}: {' '.join(cmd)}\nlast lines of {log}:\n{tail}")
    return " ".join(cmd), time.time() - start


def fmt(values):
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.4f}"
    return f"{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f}"


def config_for(args, name):
    if args.protocol == "dyglib":
        return os.path.join(ROOT, "bench", "accuracy", "configs", f"dyglib-{name}.yaml")
    return args.config


def trainer_cmd(args, subcommand, name, out, seed, static=None):
    cmd = [args.trainer, subcommand, "--data", os.path.join(SHARED, DATASETS[name]), "--config",
           config_for(args, name), "--output", out, "--seed", seed, "--threads", str(args.threads),
           "--overwrite"]
    if args.epochs:
        cmd += ["--epochs", str(args.epochs)]
    if static:
        cmd += ["--static-memory", static]
    return cmd


def run_all(pool, jobs):
    """jobs: list of (key, cmd, log). Returns {key: (command line, seconds)}; raises the first
    failure once the runs already started have ended (queued ones are skipped)."""
    futures = {key: pool.submit(run, cmd, log) for key, cmd, log in jobs}
    try:
        concurrent.futures.wait(futures.values(), return_when=concurrent.futures.FIRST_EXCEPTION)
    except KeyboardInterrupt:
        STOP.set()  # the trainers got the terminal's SIGINT too and stop at a batch boundary
        raise
    return {key: f.result() for key, f in futures.items()}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--datasets", default="collegemsg,enron,wikipedia,canparl")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--protocol", choices=("tgl", "dyglib"), default="tgl")
    p.add_argument("--config", default=os.path.join(ROOT, "configs/tgn.yaml"),
                   help="config of --protocol tgl")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--jobs", type=int, default=1, help="trainings run at once")
    p.add_argument("--trainer", default=os.path.join(ROOT, "build/release/trainer/disttgl-trainer"))
    p.add_argument("--workdir", default="/tmp/disttgl-accuracy")
    p.add_argument("--static", action="store_true",
                   help="also pre-train a static node memory and train with it")
    p.add_argument("--static-seeds", default=None,
                   help="seeds of the static-memory runs (default: --seeds)")
    p.add_argument("--out", default=os.path.join(ROOT, "docs/accuracy.md"),
                   help="the table goes to OUT.table")
    args = p.parse_args()
    names = args.datasets.split(",")
    if len(set(names)) != len(names):
        p.error(f"--datasets: a dataset is listed twice in '{args.datasets}'")
    if args.epochs is not None and args.epochs < 1:
        p.error("--epochs must be at least 1")
    if not (os.path.isfile(args.trainer) and os.access(args.trainer, os.X_OK)):
        p.error(f"--trainer: {args.trainer} is not an executable file (build it first: "
                "scripts/test.sh or cmake --build --preset release)")
    if args.static_seeds is not None and not args.static:
        p.error("--static-seeds needs --static")
    for name in names:
        if name not in DATASETS:
            p.error(f"--datasets: unknown dataset '{name}' (expected one of: {', '.join(DATASETS)})")
    seeds = args.seeds.split(",")
    static_seeds = (args.static_seeds or args.seeds).split(",")
    for flag, values in (("--seeds", seeds), ("--static-seeds", static_seeds)):
        if len(set(values)) != len(values) or not all(v.isdigit() for v in values):
            p.error(f"{flag}: expected distinct non-negative integers, got '{','.join(values)}'")
    if args.jobs < 1 or args.threads < 1:
        p.error("--jobs and --threads must be at least 1")
    if args.protocol == "dyglib" and args.config != p.get_default("config"):
        p.error("--config applies to --protocol tgl only (dyglib uses bench/accuracy/configs)")
    begin = time.time()

    def out_dir(name, label, seed):
        return os.path.join(args.workdir, name, label, f"seed{seed}")

    # Phase 1: dynamic-memory runs and static pre-training; phase 2: runs with a static memory.
    phase1, phase2 = [], []
    outs = {}  # key -> output directory
    for name in names:
        for seed in seeds:
            key = (name, "dynamic", seed)
            outs[key] = out_dir(name, "dynamic", seed)
            phase1.append((key, trainer_cmd(args, "train", name, outs[key], seed),
                           outs[key] + ".log"))
        if args.static:
            static_dir = os.path.join(args.workdir, name, "pretrain")
            phase1.append(((name, "pretrain", "0"),
                           trainer_cmd(args, "pretrain-static", name, static_dir, "0"),
                           static_dir + ".log"))
            table = os.path.join(static_dir, "static_memory.pt")
            for seed in static_seeds:
                key = (name, "dynamic + static", seed)
                outs[key] = out_dir(name, "static", seed)
                phase2.append((key, trainer_cmd(args, "train", name, outs[key], seed, table),
                               outs[key] + ".log"))
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
            done = run_all(pool, phase1)
            done.update(run_all(pool, phase2))
    except RunFailed as e:
        print(f"run_accuracy: a training failed, {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("run_accuracy: interrupted; no table written", file=sys.stderr)
        return 130

    rows = []
    for name in names:
        for label in ("dynamic", "dynamic + static"):
            keys = [k for k in done if k[0] == name and k[1] == label]
            if not keys:
                continue
            r = {"ap": [], "auc": [], "mrr": [], "eps": [], "val_ap": [], "epochs": [], "best": []}
            for key in keys:
                with open(os.path.join(outs[key], "summary.json")) as f:
                    s = json.load(f)
                r["ap"].append(s["test"]["ap"])
                r["auc"].append(s["test"]["auc"])
                r["mrr"].append(s["test"]["mrr"])
                r["val_ap"].append(s["val"]["ap"])
                r["eps"].append(s["train_events_per_second"])
                r["epochs"].append(s["epochs"])
                r["best"].append(s["best_epoch"])
                print(f"{name} {label} seed {key[2]}: test AP {s['test']['ap']:.4f} "
                      f"(best epoch {s['best_epoch']} of {s['epochs']}, {done[key][1]:.0f} s)")
            rows.append((name, label, r))

    lines = ["| dataset | memory | test AP | test AUC | test MRR (49 neg) | val AP | "
             "train events/s | best / run epochs | published TGN AP | bound |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, label, r in rows:
        anchor, bound = ANCHORS[name]
        ok = "-" if bound is None else (
            f">= {bound}: {'met' if statistics.mean(r['ap']) >= bound else 'MISSED'}")
        epochs = " ".join(f"{b}/{e}" for b, e in zip(r["best"], r["epochs"]))
        lines.append(f"| {name} | {label} | {fmt(r['ap'])} | {fmt(r['auc'])} | {fmt(r['mrr'])} | "
                     f"{fmt(r['val_ap'])} | {statistics.mean(r['eps']):.0f} | {epochs} | "
                     f"{anchor} | {ok} |")
    table = "\n".join(lines)
    print(table)
    minutes = (time.time() - begin) / 60
    commands = [done[k][0] for k in done]
    with open(args.out + ".table", "w") as f:
        f.write(table + f"\n\nWall time: {minutes:.0f} min, {args.jobs} jobs at once, "
                f"{args.threads} threads each.\n\nCommands:\n" + "\n".join(commands) + "\n")
    print(f"table written to {args.out}.table ({minutes:.0f} min)")


if __name__ == "__main__":
    sys.exit(main())
