#!/usr/bin/env python3
"""Plot one training run per epoch: loss, validation AP/MRR and train events/s.

Usage: plot-run.py RUN_DIR [-o OUT.png]   (default RUN_DIR/run.png)

Reads RUN_DIR/metrics.jsonl (one JSON object per epoch) and, if present, RUN_DIR/summary.json
for the test metrics and dataset in the subtitle. Validation MRR is skipped where it is null
(`eval.validation_mrr: false`) or missing. On any input error nothing is written.
"""
import argparse
import json
import math
import pathlib
import sys


def fail(msg):
    print(f"plot-run.py: {msg}", file=sys.stderr)
    sys.exit(1)


def number(v):
    # null, NaN and non-numbers all mean "not measured" for plotting.
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


def read_metrics(path):
    rows = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        fail(f"{path}: cannot read: {e.strerror}")
    except UnicodeDecodeError as e:
        fail(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})")
    for no, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            fail(f"{path}:{no}: not valid JSON: {e.msg}")
        if not isinstance(row, dict) or number(row.get("epoch")) is None:
            fail(f"{path}:{no}: expected an object with a numeric \"epoch\"")
        val = row.get("val") if isinstance(row.get("val"), dict) else {}
        rows.append({"epoch": number(row["epoch"]), "loss": number(row.get("loss")),
                     "ap": number(val.get("ap")), "mrr": number(val.get("mrr")),
                     "eps": number(row.get("train_events_per_second")), "best": row.get("best") is True})
    if not rows:
        fail(f"{path}: no epochs (empty file)")
    return rows


def subtitle(run):
    path = run / "summary.json"
    if not path.exists():
        return None
    try:
        s = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        fail(f"{path}: cannot read: {e}")
    if not isinstance(s, dict):
        fail(f"{path}: expected a JSON object, got {type(s).__name__}")
    parts = []
    name = (s.get("dataset") or {}).get("name") if isinstance(s.get("dataset"), dict) else None
    if name:
        parts.append(f"dataset {name}")
    test = s.get("test") if isinstance(s.get("test"), dict) else {}
    for key in ("ap", "mrr"):
        if number(test.get(key)) is not None:
            parts.append(f"test {key.upper()} {test[key]:.4f}")
    if s.get("best_epoch") is not None:
        parts.append(f"best epoch {s['best_epoch']}")
    return ", ".join(parts) or None


def series(rows, key):
    # NaN leaves a gap in the line, so an epoch without a value is not bridged over.
    return [r["epoch"] for r in rows], [math.nan if r[key] is None else r[key] for r in rows]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run_dir", type=pathlib.Path)
    ap.add_argument("-o", "--output", type=pathlib.Path, help="PNG to write (default RUN_DIR/run.png)")
    a = ap.parse_args()
    if not a.run_dir.is_dir():
        fail(f"{a.run_dir}: not a directory")
    metrics = a.run_dir / "metrics.jsonl"
    if not metrics.is_file():
        fail(f"{metrics}: missing")
    rows = read_metrics(metrics)
    sub = subtitle(a.run_dir)

    # Import late so input errors are reported fast and without a display or font cache.
    try:
        import matplotlib
    except ImportError:
        fail("matplotlib is missing: run with .venv/bin/python (scripts/setup.sh installs it)")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_val, ax_eps) = plt.subplots(3, 1, sharex=True, figsize=(9, 7))
    title = a.run_dir.resolve().name
    fig.suptitle(title + (f"\n{sub}" if sub else ""), fontsize=11)

    ax_loss.plot(*series(rows, "loss"), marker="o", ms=3)
    ax_loss.set_ylabel("train loss")
    for key, label in (("ap", "val AP"), ("mrr", "val MRR")):
        if any(r[key] is not None for r in rows):
            ax_val.plot(*series(rows, key), marker="o", ms=3, label=label)
    best = [r["epoch"] for r in rows if r["best"]]
    if best:  # the last "best" epoch is the one the checkpoint holds
        for ax in (ax_loss, ax_val, ax_eps):
            ax.axvline(best[-1], color="grey", ls=":", lw=1, label="best epoch" if ax is ax_val else None)
    ax_val.set_ylabel("validation")
    if ax_val.lines:
        ax_val.legend(loc="lower right", fontsize=8)
    ax_eps.plot(*series(rows, "eps"), marker="o", ms=3, color="tab:green")
    ax_eps.set_ylabel("train events/s")
    ax_eps.set_ylim(bottom=0)  # from zero, so run-to-run noise does not look like a trend
    ax_eps.set_xlabel("epoch")
    ax_eps.xaxis.get_major_locator().set_params(integer=True)
    if len(rows) < 3:  # a short run: one tick per epoch, not fractional ones
        ax_eps.set_xticks([r["epoch"] for r in rows])
    for ax in (ax_loss, ax_val, ax_eps):
        ax.grid(alpha=0.3)
    fig.tight_layout()

    out = a.output or a.run_dir / "run.png"
    try:
        fig.savefig(out, dpi=100, format="png")  # exactly this file name, always a PNG
    except OSError as e:
        fail(f"{out}: cannot write: {e.strerror}")
    print(out)


if __name__ == "__main__":
    main()
