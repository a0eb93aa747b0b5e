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

--variants adds rows: static-pretrained (DistTGL's pre-trained static node memory; also under
--protocol tgl), and with --protocol dyglib jodie, apan and apan-self (APAN without its mail
delivery to neighbours).
The table has the test AP against random, historical and inductive negatives, the AP on the
test events with a node new since training (the inductive setting), and for static variants
the per-seed comparison with the dynamic run of the same seed (the issue's bounds).

Usage: .venv/bin/python bench/accuracy/run_accuracy.py [--datasets collegemsg,enron,wikipedia,canparl]
          [--seeds 0,1,2] [--epochs N] [--protocol tgl|dyglib] [--config configs/tgn.yaml]
          [--variants dynamic,static,jodie,apan] [--variant-seeds 0,1,2]
          [--threads 2] [--jobs 1] [--reuse] [--table-only]
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


# Published JODIE test AP under the same protocol (DyGLib, transductive, random negatives;
# Wikipedia with its 172-d edge features). APAN's own numbers are not available to us
# (accuracy-anchors.md §7).
JODIE_ANCHORS = {
    "collegemsg": "0.8943 (DyGLib JODIE)",
    "enron": "0.8477 (DyGLib JODIE)",
    "wikipedia": "0.9650 (DyGLib JODIE, with features)",
    "canparl": "0.6926 (DyGLib JODIE)",
}


def anchor_of(name, variant):
    if variant == "jodie":
        return JODIE_ANCHORS[name]
    if variant.startswith("apan"):
        return "none available"
    return ANCHORS[name][0]


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


# Variants: label -> (config file name pattern under bench/accuracy/configs, static mode).
# Static mode "pretrained" pre-trains a table per dataset (seed 0) and passes --static-memory.
VARIANTS = {
    "dynamic": ("dyglib-{name}.yaml", None),
    "static-pretrained": ("dyglib-{name}.yaml", "pretrained"),
    "jodie": ("dyglib-jodie-{name}.yaml", None),
    "apan": ("apan-{name}.yaml", None),
    "apan-self": ("apan-self-{name}.yaml", None),
}
ROW_LABELS = {
    "dynamic": "TGN, dynamic memory",
    "static-pretrained": "TGN, dynamic + pre-trained static table",
    "jodie": "JODIE",
    "apan": "APAN (mails to neighbours)",
    "apan-self": "APAN (mails to endpoints only)",
}


def config_for(args, name, variant="dynamic"):
    if args.protocol == "dyglib":
        pattern = VARIANTS[variant][0]
        return os.path.join(ROOT, "bench", "accuracy", "configs", pattern.format(name=name))
    return args.config


def trainer_cmd(args, subcommand, name, out, seed, static=None, variant="dynamic"):
    cmd = [args.trainer, subcommand, "--data", os.path.join(SHARED, DATASETS[name]), "--config",
           config_for(args, name, variant), "--output", out, "--seed", seed, "--threads",
           str(args.threads), "--overwrite", "--metrics-port", "0"]
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


def val_curve(run_dir):
    """Validation AP of each epoch, in order."""
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        return [json.loads(line)["val"]["ap"] for line in f if line.strip()]


def convergence(dynamic_dir, other_dir):
    """(epoch at which the dynamic run reached its best validation AP, first epoch at which
    the other run reached that AP or None)."""
    dyn = val_curve(dynamic_dir)
    best = max(dyn)
    reached = next((e + 1 for e, ap in enumerate(val_curve(other_dir)) if ap >= best), None)
    return dyn.index(best) + 1, reached


def summarize(summary):
    t = summary["test"]
    neg = t.get("negatives", {})
    return {
        "ap": t["ap"], "auc": t["auc"], "mrr": t["mrr"],
        "hist": neg.get("historical", {}).get("ap"), "ind": neg.get("inductive", {}).get("ap"),
        "new": t.get("new_nodes", {}).get("ap"), "new_events": t.get("new_nodes", {}).get("events"),
        "val_ap": summary["val"]["ap"], "eps": summary["train_events_per_second"],
        "epochs": summary["epochs"], "best": summary["best_epoch"],
    }


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--datasets", default="collegemsg,enron,wikipedia,canparl")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--protocol", choices=("tgl", "dyglib"), default="tgl")
    p.add_argument("--config", default=os.path.join(ROOT, "configs/tgn.yaml"),
                   help="config of --protocol tgl")
    p.add_argument("--variants", default="dynamic",
                   help=f"comma-separated, --protocol dyglib only: {', '.join(VARIANTS)}")
    p.add_argument("--variant-seeds", default=None,
                   help="seeds of the variants other than dynamic (default: --seeds)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--jobs", type=int, default=1, help="trainings run at once")
    p.add_argument("--trainer", default=os.path.join(ROOT, "build/release/trainer/disttgl-trainer"))
    p.add_argument("--workdir", default="/tmp/disttgl-accuracy")
    p.add_argument("--reuse", action="store_true",
                   help="keep runs whose summary.json already exists in --workdir")
    p.add_argument("--table-only", action="store_true",
                   help="train nothing: the table of the runs already in --workdir")
    p.add_argument("--out", default=os.path.join(ROOT, "docs/accuracy.md"),
                   help="the table goes to OUT.table")
    args = p.parse_args()
    names = args.datasets.split(",")
    variants = args.variants.split(",")
    if len(set(names)) != len(names):
        p.error(f"--datasets: a dataset is listed twice in '{args.datasets}'")
    if args.epochs is not None and args.epochs < 1:
        p.error("--epochs must be at least 1")
    if not (os.path.isfile(args.trainer) and os.access(args.trainer, os.X_OK)):
        p.error(f"--trainer: {args.trainer} is not an executable file (build it first: "
                "scripts/test.sh or cmake --build --preset release)")
    for name in names:
        if name not in DATASETS:
            p.error(f"--datasets: unknown dataset '{name}' (expected one of: {', '.join(DATASETS)})")
    for v in variants:
        if v not in VARIANTS:
            p.error(f"--variants: unknown variant '{v}' (expected one of: {', '.join(VARIANTS)})")
    if set(variants) - {"dynamic", "static-pretrained"} and args.protocol != "dyglib":
        p.error("--variants other than dynamic and static-pretrained need --protocol dyglib")
    seeds = args.seeds.split(",")
    variant_seeds = (args.variant_seeds or args.seeds).split(",")
    for flag, values in (("--seeds", seeds), ("--variant-seeds", variant_seeds)):
        if len(set(values)) != len(values) or not all(v.isdigit() for v in values):
            p.error(f"{flag}: expected distinct non-negative integers, got '{','.join(values)}'")
    if args.jobs < 1 or args.threads < 1:
        p.error("--jobs and --threads must be at least 1")
    if args.protocol == "dyglib" and args.config != p.get_default("config"):
        p.error("--config applies to --protocol tgl only (dyglib uses bench/accuracy/configs)")
    begin = time.time()

    def out_dir(name, label, seed):
        return os.path.join(args.workdir, name, label, f"seed{seed}")

    # Phase 1: every run that needs nothing else (and static pre-training); phase 2: runs with
    # a pre-trained static table.
    phase1, phase2 = [], []
    outs = {}  # key -> output directory
    reused = {}
    for name in names:
        for variant in variants:
            for seed in (seeds if variant == "dynamic" else variant_seeds):
                key = (name, variant, seed)
                outs[key] = out_dir(name, variant, seed)
                done_before = os.path.isfile(os.path.join(outs[key], "summary.json"))
                if args.table_only and not done_before:
                    del outs[key]
                    continue
                static = None
                if VARIANTS[variant][1] == "pretrained":
                    static_dir = os.path.join(args.workdir, name, "pretrain")
                    static = os.path.join(static_dir, "static_memory.pt")
                cmd = trainer_cmd(args, "train", name, outs[key], seed, static, variant)
                if (args.reuse or args.table_only) and done_before:
                    reused[key] = (" ".join(cmd) + "   # reused", 0.0)
                    continue
                table_ready = static is not None and args.reuse and os.path.isfile(static)
                if static is not None and not table_ready and not any(
                        k[0] == name and k[1] == "pretrain" for k, _, _ in phase1):
                    phase1.append(((name, "pretrain", "0"),
                                   trainer_cmd(args, "pretrain-static", name, static_dir, "0"),
                                   static_dir + ".log"))
                (phase2 if static and not table_ready else phase1).append(
                    (key, cmd, outs[key] + ".log"))
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
    done.update(reused)

    rows = []
    for name in names:
        for variant in variants:
            keys = sorted(k for k in done if k[0] == name and k[1] == variant)
            if not keys:
                continue
            r = {}
            for key in keys:
                with open(os.path.join(outs[key], "summary.json")) as f:
                    one = summarize(json.load(f))
                for field, value in one.items():
                    r.setdefault(field, []).append(value)
                print(f"{name} {variant} seed {key[2]}: test AP {one['ap']:.4f} "
                      f"(best epoch {one['best']} of {one['epochs']}, {done[key][1]:.0f} s)")
            rows.append((name, variant, r))

    lines = ["| dataset | model | test AP (random) | AP (historical) | AP (inductive neg.) | "
             "AP, new nodes | test AUC | test MRR (49 neg) | val AP | train events/s | "
             "best / run epochs | published AP | bound |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, variant, r in rows:
        anchor, bound = anchor_of(name, variant), ANCHORS[name][1]
        ok = "-" if bound is None or variant != "dynamic" else (
            f">= {bound}: {'met' if statistics.mean(r['ap']) >= bound else 'MISSED'}")
        epochs = " ".join(f"{b}/{e}" for b, e in zip(r["best"], r["epochs"]))
        lines.append(f"| {name} | {ROW_LABELS[variant]} | {fmt(r['ap'])} | {fmt(r['hist'])} | "
                     f"{fmt(r['ind'])} | {fmt(r['new'])} ({r['new_events'][0]} events) | "
                     f"{fmt(r['auc'])} | {fmt(r['mrr'])} | {fmt(r['val_ap'])} | "
                     f"{statistics.mean(r['eps']):.0f} | {epochs} | {anchor} | {ok} |")
    # The static memory's goal (issue 14): test AP >= dynamic - 0.005 everywhere, and +0.005 or
    # the dynamic run's best validation AP in <= 70% of its epochs on two datasets.
    conv = []
    for name in names:
        dyn = {k[2]: outs[k] for k in done if k[0] == name and k[1] == "dynamic"}
        for variant in ("static-pretrained",):
            for k in sorted(k for k in done if k[0] == name and k[1] == variant):
                if k[2] not in dyn:
                    continue
                with open(os.path.join(dyn[k[2]], "summary.json")) as f:
                    d_ap = json.load(f)["test"]["ap"]
                with open(os.path.join(outs[k], "summary.json")) as f:
                    s_ap = json.load(f)["test"]["ap"]
                e_dyn, e_static = convergence(dyn[k[2]], outs[k])
                ratio = "never" if e_static is None else f"{e_static / e_dyn:.2f}"
                conv.append(f"| {name} | {variant} | {k[2]} | {d_ap:.4f} | {s_ap:.4f} | "
                            f"{s_ap - d_ap:+.4f} | {e_dyn} | {e_static or '-'} | {ratio} |")
    if conv:
        lines += ["", "| dataset | variant | seed | dynamic test AP | static test AP | difference | "
                  "dynamic best-val epoch | static reaches it at | ratio |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"] + conv
    table = "\n".join(lines)
    print(table)
    minutes = (time.time() - begin) / 60
    commands = [done[k][0] for k in done]
    with open(args.out + ".table", "w") as f:
        how = ("Built with --table-only from the runs in " + args.workdir if args.table_only else
               f"Wall time: {minutes:.0f} min, {args.jobs} jobs at once, {args.threads} threads each")
        f.write(table + f"\n\n{how}.\n\nCommands:\n" + "\n".join(commands) + "\n")
    print(f"table written to {args.out}.table ({minutes:.0f} min)")


if __name__ == "__main__":
    sys.exit(main())
