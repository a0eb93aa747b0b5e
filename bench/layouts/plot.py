"""Validation AP against wall-clock seconds for each layout run by time_to_accuracy.sh, as a
PNG, and the table for docs/performance.md on stdout.

Usage: plot.py BENCH_DIR OUT_PNG
BENCH_DIR/<dataset>/<layout>/{metrics.jsonl,summary.json} are the runs (rank 0's files).
Wall-clock per epoch is rank 0's "seconds" (training plus its exact validation, which
replays the training events on an in-process replica when W > 1).
"""
import json
import pathlib
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def layout_of(name):
    parts = dict(p.split("=") for p in name.replace("i", ",i=").replace("j", ",j=").replace("k", ",k=").strip(",").split(","))
    return int(parts["i"]), int(parts["j"]), int(parts["k"])


def load(run):
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    summary = json.loads((run / "summary.json").read_text())
    return lines, summary


def main():
    bench, png = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    datasets = sorted(d for d in bench.iterdir() if d.is_dir())
    fig, axes = plt.subplots(1, len(datasets), figsize=(5.2 * len(datasets), 3.8), squeeze=False)
    rows = []
    for ax, d in zip(axes[0], datasets):
        runs = sorted((r for r in d.iterdir() if (r / "summary.json").exists()),
                      key=lambda r: (layout_of(r.name)[0] * layout_of(r.name)[1] * layout_of(r.name)[2], r.name))
        base_best = None
        for r in runs:
            lines, summary = load(r)
            i, j, k = layout_of(r.name)
            t, ap, clock = [], [], 0.0
            for line in lines:
                clock += line["seconds"]
                t.append(clock)
                ap.append(line["val"]["ap"])
            label = f"{i}x{j}x{k}"
            ax.plot(t, ap, marker="o", ms=3, label=f"{label} (W={i * j * k})")
            best = max(ap)
            if (i, j, k) == (1, 1, 1):
                base_best = best
            n_train = summary["dataset"]["split"]["train"]
            train_s = sum(x["train_seconds"] for x in lines)
            rows.append({
                "dataset": d.name, "layout": label, "W": i * j * k, "epochs": len(lines),
                "lr": summary["config"]["train"]["lr"],
                "passes": len(lines) * j * k,
                "train_s_per_epoch": train_s / len(lines),
                "trainings_per_s": n_train * j * k * len(lines) / train_s,
                "wall_s": clock, "best_val_ap": best, "test_ap": summary["test"]["ap"],
                "curve": list(zip(t, ap)),
            })
        target = 0.98 * base_best if base_best else None
        for row in rows:
            if row["dataset"] != d.name:
                continue
            hit = [s for s, a in row["curve"] if target is not None and a >= target]
            row["to_target_s"] = hit[0] if hit else None
            row["target"] = target
        ax.set_title(d.name)
        ax.set_xlabel("wall-clock seconds (2-core CPU)")
        ax.set_ylabel("validation AP")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(png, dpi=90)
    print("| dataset | layout i×j×k | W | epochs | lr | passes over train | train s/epoch | "
          "event-trainings/s | wall s | best val AP | test AP | s to 98% of 1×1×1's best val AP |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        hit = "not reached" if r["to_target_s"] is None else f"{r['to_target_s']:.0f}"
        print(f"| {r['dataset']} | {r['layout']} | {r['W']} | {r['epochs']} | {r['lr']:g} | {r['passes']} | "
              f"{r['train_s_per_epoch']:.1f} | {r['trainings_per_s']:.0f} | {r['wall_s']:.0f} | "
              f"{r['best_val_ap']:.4f} | {r['test_ap']:.4f} | {hit} |")


if __name__ == "__main__":
    main()
