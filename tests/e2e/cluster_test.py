#!/usr/bin/env python3
"""A whole TGNNJob end to end inside our images, on a local cluster (tests/e2e/local_cluster.py):

1. The demo job (examples/tgnnjob-demo.yaml: TGN on CollegeMsg, i=1 j=1 k=2) succeeds, and its
   test AP is within 0.02 of the same layout run by `disttgl-trainer launch` on the host.
2. Killing one trainer container mid-training (after rank 0 has checkpointed an epoch) makes the
   operator restart the whole group as attempt 1, which resumes from the checkpoint; the job
   succeeds, and its status shows the restart and the failed pod with exit code 137.
3. Prometheus, discovering the pods through the API server, scraped the trainers and daemons.
4. Deleting the jobs and uninstalling the chart leave no pod, container, process or mount.

Usage: cluster_test.py ROOT TRAINER_BIN DATASET. Exit 77 (skipped) without root or Docker.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from local_cluster import JOB_NS, LocalCluster  # noqa: E402

EPOCHS = 3


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def say(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def reference_ap(trainer, dataset, work):
    """The same layout and options through `launch` on the host."""
    out = os.path.join(work, "launch-ref")
    t = time.time()
    r = subprocess.run([trainer, "launch", "--layout", "i=1,j=1,k=2", "--data", dataset, "--config",
                        os.path.join(ROOT, "configs", "tgn.yaml"), "--epochs", str(EPOCHS), "--batch-size", "600",
                        "--seed", "0", "--device", "cpu", "--threads", "1", "--output", out],
                       capture_output=True, text=True)
    if r.returncode != 0:
        fail(f"launch reference: exit {r.returncode}\n{r.stderr[-3000:]}")
    with open(os.path.join(out, "summary.json")) as f:
        ap = json.load(f)["test"]["ap"]
    say(f"launch i=1,j=1,k=2 on the host: test AP {ap:.4f} ({time.time() - t:.0f} s)")
    return ap


def epochs_in(run_dir):
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        return [json.loads(line)["epoch"] for line in f if line.strip() and "epoch" in json.loads(line)]


def boot_seconds_now():
    with open("/proc/uptime") as f:
        return float(f.read().split()[0])


def leftover_programs(since):
    """PIDs of disttgl-trainer, -memory-daemon or -operator processes started after `since`
    (seconds since boot), by executable: a command line that merely names one (this test's own)
    does not count, nor does a demo cluster left running from before."""
    ticks = os.sysconf("SC_CLK_TCK")
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            exe = os.path.basename(os.readlink(f"/proc/{pid}/exe"))
        except OSError:
            continue
        if exe not in ("disttgl-trainer", "disttgl-memory-daemon", "disttgl-operator"):
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                started = int(f.read().rsplit(")", 1)[1].split()[19]) / ticks
        except (OSError, IndexError, ValueError):
            continue
        if started >= since:
            out.append(f"{pid} ({exe})")
    return out


def main():
    global ROOT
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    ROOT, trainer, dataset = sys.argv[1:4]
    if os.geteuid() != 0 or not shutil.which("dockerd"):
        print("skipped: needs root and dockerd (scripts/setup-docker.sh)")
        return 77
    work = tempfile.mkdtemp(prefix="disttgl-e2e-")
    since = boot_seconds_now()
    passed = False
    try:
        ref = reference_ap(trainer, dataset, work)
        t0 = time.time()
        # Its own node name and addresses: a demo cluster left running beside it is never touched.
        with LocalCluster(ROOT, os.path.join(work, "cluster"), node="disttgl-e2e-node",
                          pod_cidr="127.43.0.0/16") as c:
            say(f"cluster up in {time.time() - t0:.0f} s")
            demo = os.path.join(ROOT, "examples", "tgnnjob-demo.yaml")

            # 1. The demo job.
            t = time.time()
            name = c.apply_job(demo, patch={"training": {"epochs": EPOCHS, "batchSize": 600, "seed": 0,
                                                         "device": "cpu",
                                                         "extraArgs": ["--metrics-linger", "5"]}})
            job = c.follow(name, timeout=900, on_line=say)
            st = job["status"]
            if st["phase"] != "Succeeded":
                fail(f"{name}: {st}")
            ap = c.summary(job)["test"]["ap"]
            say(f"{name}: Succeeded in {time.time() - t:.0f} s, test AP {ap:.4f} (launch: {ref:.4f})")
            if abs(ap - ref) > 0.02:
                fail(f"test AP in the images {ap:.4f} differs from launch's {ref:.4f} by more than 0.02")
            if st.get("attempt") != 0 or st.get("restarts") != 0:
                fail(f"{name}: attempt {st.get('attempt')}, restarts {st.get('restarts')}")
            trainers = st["replicaStatuses"]["trainer"]
            if trainers.get("succeeded") != 2:
                fail(f"{name}: trainer counts {trainers}")
            # Over the last 10 min: a finished pod's series are stale at once (its target is gone).
            series = c.prom_query(f'sum by (rank) (max_over_time(disttgl_events_trained_total{{job="{name}"}}[10m]))')
            if len(series) != 2 or any(float(s["value"][1]) <= 0 for s in series):
                fail(f"Prometheus: events of {name} by rank: {series}")
            daemons = c.prom_query(
                f'count(count by (memory_group) (max_over_time(disttgl_daemon_nodes{{job="{name}"}}[10m])))')
            say(f"Prometheus: events by rank {[(s['metric']['rank'], s['value'][1]) for s in series]}, "
                f"daemon series {daemons[0]['value'][1] if daemons else 0}")
            if not daemons or int(daemons[0]["value"][1]) != 2:
                fail(f"Prometheus: daemons of {name}: {daemons}")

            # 2. A trainer killed mid-training restarts the whole group from the checkpoint.
            t = time.time()
            name = c.apply_job(demo, name="collegemsg-restart",
                               patch={"training": {"epochs": EPOCHS + 1, "batchSize": 600, "seed": 0,
                                                   "device": "cpu"}})
            run_dir = os.path.join(c.runs, name)
            killed = {}

            def kill_rank1(job):
                st = job.get("status", {})
                if killed or st.get("phase") != "Running" or "validationAP" not in st.get("progress", {}):
                    return False
                if not os.path.exists(os.path.join(run_dir, "last.pt")):
                    return False
                ids = c.docker("ps", "-q", "--filter", f"label=io.kubernetes.pod.name={name}-a0-rank-1").stdout.split()
                if not ids:
                    return False
                if c.docker("kill", ids[0], check=False).returncode != 0:
                    return False  # it ended between ps and kill: try the next poll
                killed["at"] = time.time()
                killed["epoch"] = st["progress"].get("epoch")
                say(f"killed the container of {name}-a0-rank-1 ({ids[0][:12]}) after epoch {killed['epoch']}")
                return False

            job = c.follow(name, timeout=900, on_line=say, every=2, hook=kill_rank1)
            st = job["status"]
            if not killed:
                fail(f"{name} finished ({st['phase']}) before a trainer could be killed")
            if st["phase"] != "Succeeded":
                fail(f"{name} after the kill: {st}")
            lf = st.get("lastFailure", {})
            say(f"{name}: Succeeded in {time.time() - t:.0f} s; attempt {st.get('attempt')}, restarts "
                f"{st.get('restarts')}, lastFailure {lf}")
            if st.get("attempt") != 1 or st.get("restarts") != 1:
                fail(f"{name}: attempt {st.get('attempt')}, restarts {st.get('restarts')} (want 1, 1)")
            if lf.get("pod") != f"{name}-a0-rank-1" or lf.get("exitCode") != 137 or lf.get("role") != "trainer":
                fail(f"{name}: lastFailure {lf}")
            with open(os.path.join(run_dir, "launch.json")) as f:
                if json.load(f)["attempt"] != 1:
                    fail(f"{name}: launch.json is not attempt 1")
            epochs = epochs_in(run_dir)
            if epochs != list(range(1, EPOCHS + 2)):
                fail(f"{name}: epochs in metrics.jsonl {epochs} (want 1..{EPOCHS + 1}, each once)")
            events = c.kubectl("-n", JOB_NS, "get", "events", "--field-selector",
                               f"involvedObject.name={name}", "-o", "json").stdout
            reasons = [e["reason"] for e in json.loads(events)["items"]]
            if "GroupRestart" not in reasons:
                fail(f"{name}: events {reasons}")

            # 4. Cleanup: the context exit deletes the jobs, uninstalls the chart and checks that
            # nothing is left (stop() raises otherwise).
            t = time.time()
            c.stop()
            say(f"deleted the jobs, uninstalled the chart, stopped the cluster in {time.time() - t:.0f} s")
        left = leftover_programs(since)
        if left:
            fail(f"processes left behind: {left}")
        say(f"all checks passed in {time.time() - t0:.0f} s")
        passed = True
        return 0
    finally:
        if passed:
            shutil.rmtree(work, ignore_errors=True)
        else:  # the pods' logs (cluster/node/logs), the agent's and the cluster's
            print(f"kept {work} for the logs", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
