#!/usr/bin/env python3
"""scripts/plot-run.py on a run directory: a PNG under 200 KB for a good metrics.jsonl, and for a
malformed one an error naming the file and line, a non-zero exit and no PNG.

Usage: plot_run_test.py PLOT_RUN_SCRIPT (run with the project's .venv python, which has matplotlib)
"""
import json
import os
import subprocess
import sys
import tempfile


def fail(message):
    print("FAIL: " + message)
    sys.exit(1)


def main():
    script = sys.argv[1]
    with tempfile.TemporaryDirectory() as work:
        run = os.path.join(work, "run")
        os.makedirs(run)
        with open(os.path.join(run, "metrics.jsonl"), "w") as f:
            for epoch in range(1, 6):
                f.write(json.dumps({"epoch": epoch, "loss": 1.0 / epoch,
                                    "val": {"ap": 0.8 + 0.02 * epoch, "auc": 0.8, "mrr": None if epoch == 2 else 0.3 + 0.01 * epoch},
                                    "train_events_per_second": 15000 + 100 * epoch, "best": True}) + "\n")
        with open(os.path.join(run, "summary.json"), "w") as f:
            json.dump({"test": {"ap": 0.9, "auc": 0.9, "mrr": 0.4}, "dataset": {"name": "CollegeMsg"},
                       "best_epoch": 5}, f)
        r = subprocess.run([sys.executable, script, run], capture_output=True, text=True)
        png = os.path.join(run, "run.png")
        if r.returncode != 0 or not os.path.exists(png):
            fail("plot-run.py on a good run: exit %d\n%s%s" % (r.returncode, r.stdout, r.stderr))
        with open(png, "rb") as f:
            if f.read(8) != b"\x89PNG\r\n\x1a\n":
                fail("run.png is not a PNG")
        size = os.path.getsize(png)
        if size >= 200 * 1024:
            fail("run.png is %d bytes, over 200 KB" % size)
        os.remove(png)
        with open(os.path.join(run, "metrics.jsonl"), "a") as f:
            f.write('{"epoch": 6, "loss": \n')
        r = subprocess.run([sys.executable, script, run], capture_output=True, text=True)
        if r.returncode == 0 or os.path.exists(png):
            fail("a malformed line was accepted (exit %d)" % r.returncode)
        if "metrics.jsonl:6" not in r.stderr:
            fail("the error does not name metrics.jsonl line 6: %r" % r.stderr)
        print("run.png: %d bytes; malformed line 6 refused: %s" % (size, r.stderr.strip()))


if __name__ == "__main__":
    main()
