#!/usr/bin/env python3
"""A real Prometheus server scrapes real training (issue 11), and the dashboard's queries work.

Two jobs run at once on CollegeMsg, both scraped every second by `prometheus` on loopback:
  * prom-single: `disttgl-memory-daemon` + a pipelined `disttgl-trainer train --memory-daemon`;
  * prom-launch: `disttgl-trainer launch --layout i=1,j=1,k=2` (a launcher, 2 daemons, 2 ranks).
While they train: the events counter increases and rate() is positive. At the end (the trainers
linger so the final values are scraped): every stage histogram has observations (the pipeline's
wait in prom-single, the all-reduce in prom-launch), memory traffic is non-zero both ways and
the trainers' and daemons' byte counts agree (per memory group under launch), the daemon answered exactly one READ and one
WRITE per trainer batch (training iterations + evaluation batches), no request failed, every
/metrics passes `promtool check metrics`, and every dashboard query returns a series.

Usage: prometheus_test.py TRAINER DAEMON DATASET DASHBOARD CHECK_DASHBOARD
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

EPOCHS, MAX_BATCHES, LINGER = 2, 20, 40


def fail(message):
    print("FAIL: " + message, flush=True)
    sys.exit(1)


def free_port_run(count):
    """A base port with `count` consecutive free ports after it (launch uses base..base+count-1)."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = s.getsockname()[1]
        if base + count > 65535:
            continue
        ok = True
        for p in range(base, base + count):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", p))
                except OSError:
                    ok = False
                    break
        if ok:
            return base
    fail("no run of %d free ports on 127.0.0.1" % count)


def http_get(url, timeout=10):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


def query(prom, expr):
    """Instant query: list of (labels, value)."""
    body = json.loads(http_get(prom + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})))
    if body.get("status") != "success":
        fail("query %r: %s" % (expr, body))
    return [(r["metric"], float(r["value"][1])) for r in body["data"]["result"]]


def scalar(prom, expr):
    result = query(prom, expr)
    if len(result) != 1:
        fail("query %r returned %d series, expected 1: %s" % (expr, len(result), result))
    return result[0][1]


def wait_for(what, predicate, timeout, procs=()):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        for name, p in procs:
            if p.poll() is not None and p.returncode != 0:
                fail("%s exited with %d while waiting for %s" % (name, p.returncode, what))
        time.sleep(0.5)
    fail("timed out after %d s waiting for %s" % (timeout, what))


def log_has(path, pattern):
    try:
        with open(path, errors="replace") as f:
            return re.search(pattern, f.read()) is not None
    except FileNotFoundError:
        return False


def promtool_clean(port, label, work):
    text = http_get("http://127.0.0.1:%d/metrics" % port)
    path = os.path.join(work, "%s.prom" % label)
    with open(path, "w") as f:
        f.write(text)
    r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
    if r.returncode != 0 or r.stdout.strip() or r.stderr.strip():
        fail("promtool check metrics on %s: exit %d\n%s%s" % (label, r.returncode, r.stdout, r.stderr))
    return path


def check_single(prom, work, ports, stages_seen):
    """prom-single at its end: exact request counts, traffic both ways, stages."""
    job = '{job="prom-single"}'
    iterations = scalar(prom, "disttgl_iterations_total" + job)
    if iterations != EPOCHS * MAX_BATCHES:
        fail("iterations: %g, expected %d epochs x %d batches" % (iterations, EPOCHS, MAX_BATCHES))
    evaluation = scalar(prom, "disttgl_evaluation_batches_total" + job)
    if evaluation <= 0:
        fail("no evaluation batches counted")
    for ops in ("read|read_shm", "write|write_shm"):
        answered = scalar(prom, 'sum(disttgl_daemon_requests_total{job="prom-single", op=~"%s", outcome="ok"})' % ops)
        if answered != iterations + evaluation:
            fail("daemon answered %g %s requests; the trainer ran %g training + %g evaluation batches"
                 % (answered, ops, iterations, evaluation))
    errors = scalar(prom, 'sum(disttgl_daemon_requests_total{job="prom-single", outcome="error"})')
    if errors != 0:
        fail("the daemon answered %g requests with an error" % errors)
    for trainer_dir, daemon_dir in (("to_daemon", "in"), ("from_daemon", "out")):
        t = scalar(prom, 'disttgl_memory_traffic_bytes_total{job="prom-single", direction="%s"}' % trainer_dir)
        d = scalar(prom, 'disttgl_daemon_traffic_bytes_total{job="prom-single", direction="%s"}' % daemon_dir)
        if t <= 0 or t != d:
            fail("traffic %s: trainer counted %g bytes, daemon %g" % (trainer_dir, t, d))
    if scalar(prom, 'disttgl_daemon_connected_trainers{job="prom-single"}') != 1:
        fail("the daemon does not count its one trainer")
    for labels, count in query(prom, "disttgl_iteration_stage_seconds_count" + job):
        if count > 0:
            stages_seen.add(labels["stage"])
    promtool_clean(ports["single_trainer"], "single-trainer", work)
    promtool_clean(ports["single_daemon"], "single-daemon", work)
    print("prom-single: %d iterations + %d evaluation batches = the daemon's READs and WRITEs; "
          "traffic agrees both ways" % (iterations, evaluation), flush=True)


def check_launch(prom, work, base, stages_seen, dashboard, check_dashboard):
    """prom-launch at its end: every process scraped, all-reduce observed, the dashboard."""
    up = query(prom, 'up{scrape_job="launch"}')
    if len(up) != 5 or any(v != 1 for _, v in up):
        fail("launch targets up: %s" % up)
    roles = {l["role"] for l, _ in query(prom, 'disttgl_build_info{job="prom-launch"}')}
    if roles != {"launcher", "memory-daemon", "trainer"}:
        fail("build_info roles of prom-launch: %s" % sorted(roles))
    if scalar(prom, 'sum(disttgl_launcher_desired_processes{job="prom-launch"})') != 4:
        fail("the launcher does not desire 2 daemons + 2 trainers")
    for labels, count in query(prom, 'disttgl_iteration_stage_seconds_count{job="prom-launch"}'):
        if count > 0:
            stages_seen.add(labels["stage"])
    if scalar(prom, 'sum(disttgl_allreduce_bytes_total{job="prom-launch"})') <= 0:
        fail("no all-reduce bytes in the distributed run")
    # Each memory group's trainers moved exactly what its daemon counts (snapshots included).
    for trainer_dir, daemon_dir in (("to_daemon", "in"), ("from_daemon", "out")):
        t = dict((l["memory_group"], v) for l, v in query(
            prom, 'sum by (memory_group) (disttgl_memory_traffic_bytes_total{job="prom-launch", direction="%s"})' % trainer_dir))
        d = dict((l["memory_group"], v) for l, v in query(
            prom, 'sum by (memory_group) (disttgl_daemon_traffic_bytes_total{job="prom-launch", direction="%s"})' % daemon_dir))
        if sorted(t) != ["0", "1"] or t != d or min(t.values()) <= 0:
            fail("launch traffic %s by memory group: trainers %s, daemons %s" % (trainer_dir, t, d))
    expositions = [promtool_clean(base + i, "launch-%d" % i, work) for i in range(5)]
    expositions += [os.path.join(work, "single-trainer.prom"), os.path.join(work, "single-daemon.prom")]
    r = subprocess.run([sys.executable, check_dashboard, dashboard, "--exposition", *expositions,
                        "--prometheus", prom, "--job", "prom-launch", "--rate-interval", "30s"],
                       capture_output=True, text=True)
    print(r.stdout + r.stderr, end="", flush=True)
    if r.returncode != 0:
        fail("dashboard queries against prom-launch")


def main():
    if len(sys.argv) != 6:
        fail(__doc__)
    trainer, daemon, dataset, dashboard, check_dashboard = sys.argv[1:]
    for tool in ("prometheus", "promtool"):
        if shutil.which(tool) is None:
            fail("%s is not installed (scripts/setup.sh installs the Debian package)" % tool)
    work = tempfile.mkdtemp(prefix="disttgl-prom-")
    procs = []
    try:
        prom_port = free_port_run(1)
        ports = {"single_daemon": free_port_run(1), "single_trainer": free_port_run(1)}
        base = free_port_run(5)  # launcher, daemon 0, daemon 1, rank 0, rank 1
        config = os.path.join(work, "prometheus.yml")
        with open(config, "w") as f:
            # honor_labels: our `job` label (the training job) wins over the scrape job's name.
            f.write("global: {scrape_interval: 1s, scrape_timeout: 1s}\nscrape_configs:\n")
            for name, targets in (("single", [ports["single_daemon"], ports["single_trainer"]]),
                                  ("launch", [base + i for i in range(5)])):
                f.write("  - job_name: %s\n    honor_labels: true\n    static_configs:\n"
                        "      - targets: [%s]\n        labels: {scrape_job: %s}\n"
                        % (name, ", ".join("'127.0.0.1:%d'" % p for p in targets), name))
        prom = "http://127.0.0.1:%d" % prom_port
        procs.append(("prometheus", subprocess.Popen(
            ["prometheus", "--config.file=" + config, "--web.listen-address=127.0.0.1:%d" % prom_port,
             "--storage.tsdb.path=" + os.path.join(work, "tsdb")],
            stdout=open(os.path.join(work, "prometheus.log"), "w"), stderr=subprocess.STDOUT)))

        def ready():
            try:
                return "Ready" in http_get(prom + "/-/ready", timeout=2)
            except OSError:
                return False
        wait_for("prometheus to be ready", ready, 60, procs)

        common = ["--data", dataset, "--epochs", str(EPOCHS), "--max-train-batches", str(MAX_BATCHES),
                  "--threads", "1", "--metrics-address", "127.0.0.1", "--metrics-linger", str(LINGER)]
        sock = os.path.join(work, "daemon.sock")
        procs.append(("daemon", subprocess.Popen(
            [daemon, "--unix", sock, "--job", "prom-single", "--metrics-port", str(ports["single_daemon"]),
             "--metrics-address", "127.0.0.1"],
            stdout=open(os.path.join(work, "daemon.log"), "w"), stderr=subprocess.STDOUT)))
        wait_for("the daemon's socket", lambda: os.path.exists(sock), 30, procs)
        single_log = os.path.join(work, "single.log")
        procs.append(("train", subprocess.Popen(
            [trainer, "train", *common, "--job", "prom-single", "--memory-daemon", "unix:" + sock,
             "--metrics-port", str(ports["single_trainer"]), "--output", os.path.join(work, "single")],
            stdout=open(single_log, "w"), stderr=subprocess.STDOUT)))
        launch_log = os.path.join(work, "launch.log")
        procs.append(("launch", subprocess.Popen(
            [trainer, "launch", "--layout", "i=1,j=1,k=2", "--job", "prom-launch", "--metrics-port", str(base),
             "--output", os.path.join(work, "launch"), *common],
            stdout=open(launch_log, "w"), stderr=subprocess.STDOUT)))
        live = [p for p in procs if p[0] in ("train", "launch")]

        # While training: the counter grows and its rate is positive.
        events = 'sum(disttgl_events_trained_total{job="prom-single"})'
        first = {}

        def progressed():
            r = query(prom, events)
            if not r or r[0][1] <= 0:
                return False
            first.setdefault("value", r[0][1])
            return r[0][1] > first["value"] and query(prom, "sum(rate(disttgl_events_trained_total"
                                                      '{job="prom-single"}[10s])) > 0')
        wait_for("prom-single's events counter to increase with a positive rate()", progressed, 180, live)
        print("prom-single trains: events counter %g -> %g, rate() > 0" % (first["value"], query(prom, events)[0][1]),
              flush=True)

        # At the end of each job (its trainers linger; Prometheus needs a scrape after the end).
        stages = set()
        pending = {"single": single_log, "launch": launch_log}
        deadline = time.time() + 400
        while pending and time.time() < deadline:
            for name, log in list(pending.items()):
                if log_has(log, r"test AP \d"):
                    time.sleep(3)
                    if name == "single":
                        check_single(prom, work, ports, stages)
                    else:
                        check_launch(prom, work, base, stages, dashboard, check_dashboard)
                    del pending[name]
            for name, p in live:
                if p.poll() is not None and p.returncode != 0:
                    fail("%s exited with %d:\n%s" % (name, p.returncode, open(
                        single_log if name == "train" else launch_log, errors="replace").read()[-3000:]))
            time.sleep(0.5)
        if pending:
            fail("no result from %s within the time limit" % sorted(pending))
        expected = {"sample", "gather", "wait", "memory_read", "forward", "backward", "allreduce",
                    "optimizer", "memory_write"}
        if stages != expected:
            fail("stages with observations: %s; missing %s" % (sorted(stages), sorted(expected - stages)))
        print("every stage histogram has observations: %s" % ", ".join(sorted(stages)))
        print("PASS", flush=True)
    finally:
        for name, p in reversed(procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for name, p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        if os.environ.get("DISTTGL_KEEP_TEST_DIR"):
            print("kept " + work)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
