#!/usr/bin/env python3
"""The cluster demo (run through scripts/cluster-demo.sh, which installs and builds first):
a local cluster (tests/e2e/local_cluster.py), the chart, examples/tgnnjob-demo.yaml followed to
Succeeded, the test AP, Prometheus checked against every dashboard query, then teardown.

    cluster_demo.py [--keep] [--down] [--state DIR] [--timeout S]
"""
import argparse
import os
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
from local_cluster import JOB_NS, ClusterError, LocalCluster  # noqa: E402

DASHBOARD = os.path.join(ROOT, "charts", "disttgl", "dashboards", "disttgl-training.json")


def say(msg):
    print(f"[cluster-demo {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def check_dashboard(cluster, job):
    """Every dashboard query, as Grafana would send it for this job, returns series (the
    launcher's panels excepted: no launcher runs on Kubernetes)."""
    r = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "check-dashboard.py"), DASHBOARD,
                        "--prometheus", cluster.prometheus, "--job", job, "--rate-interval", "30s",
                        "--skip", "disttgl_launcher_"], capture_output=True, text=True)
    return r.returncode == 0, (r.stdout + r.stderr).strip()


MARKER = ".disttgl-cluster-demo"  # in the state dir: only such a directory is ever removed


def remove_state(state):
    if os.path.isdir(state) and os.listdir(state) and not os.path.exists(os.path.join(state, MARKER)):
        raise SystemExit(f"cluster-demo: {state} exists and is not a demo's state directory; "
                         "give another --state (DISTTGL_DEMO_DIR)")
    shutil.rmtree(state, ignore_errors=True)


def on_sigterm(*_):
    raise KeyboardInterrupt  # the same teardown as Ctrl-C


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--keep", action="store_true",
                    help="leave the cluster running (also after a failure) and print how to reach it")
    ap.add_argument("--down", action="store_true", help="stop a cluster left running by --keep")
    ap.add_argument("--state", default=os.environ.get("DISTTGL_DEMO_DIR", "/tmp/disttgl-cluster-demo"))
    ap.add_argument("--timeout", type=float, default=1200, help="seconds for the job to finish")
    a = ap.parse_args()
    a.state = os.path.abspath(a.state)
    if a.down:
        info = LocalCluster.down(a.state)
        if not info:
            say(f"no cluster left running under {a.state}")
            return 0
        if info.get("docker_started"):
            subprocess.run([os.path.join(ROOT, "scripts", "docker-daemon.sh"), "stop"])
        remove_state(a.state)
        say("stopped")
        return 0
    if os.path.exists(os.path.join(a.state, "pids.json")):
        print(f"cluster-demo: a demo cluster is still running under {a.state}; stop it with "
              "scripts/cluster-demo.sh --down", file=sys.stderr)
        return 2
    remove_state(a.state)
    os.makedirs(a.state)
    open(os.path.join(a.state, MARKER), "w").close()
    signal.signal(signal.SIGTERM, on_sigterm)
    t0 = time.time()
    say(f"starting etcd, kube-apiserver, kube-scheduler, kube-controller-manager, the node agent, "
        f"the chart and Prometheus (state in {a.state})")
    cluster = LocalCluster(ROOT, a.state)

    def keep():
        cluster._write_pids()
        say("left running (--keep):")
        print(f"  export KUBECONFIG={cluster.cp.kubeconfig}\n"
              f"  {cluster.cp.bin}/kubectl get tgnn,pods -A\n"
              f"  Prometheus: {getattr(cluster, 'prometheus', '(not started)')}\n"
              f"  {'DOCKER_HOST=' + cluster.env['DOCKER_HOST'] + ' ' if 'DOCKER_HOST' in cluster.env else ''}"
              f"docker ps\n"
              f"  logs: {a.state}/*.log, {a.state}/node/logs/ (pods), {a.state}/control-plane/*.log\n"
              f"  stop it: scripts/cluster-demo.sh --down")

    try:
        cluster.up()
        say(f"cluster up in {time.time() - t0:.0f} s; operator Deployment rolled out")
        name = cluster.apply_job(os.path.join(ROOT, "examples", "tgnnjob-demo.yaml"))
        say(f"kubectl apply -f examples/tgnnjob-demo.yaml: TGNNJob {JOB_NS}/{name}")
        checked = {}

        def hook(job):
            # Once rank 0 has reported an epoch, the trainers and daemons have been scraped for a
            # while: check the dashboard against live data.
            if not checked and job.get("status", {}).get("progress", {}).get("epoch", 0) >= 1:
                ok, text = check_dashboard(cluster, name)
                checked["ok"], checked["text"] = ok, text
                say(("dashboard: " if ok else "dashboard check FAILED: ") + text.replace("\n", "\n    "))
            return False

        job = cluster.follow(name, timeout=a.timeout, on_line=lambda line: say(line), hook=hook)
        status = job["status"]
        if status["phase"] != "Succeeded":
            raise ClusterError(f"job {name} ended {status['phase']}: {status.get('lastFailure')}")
        if not checked:
            ok, text = check_dashboard(cluster, name)
            checked["ok"] = ok
            say(("dashboard: " if ok else "dashboard check FAILED: ") + text)
        summary = cluster.summary(job)
        test = summary.get("test", {})
        say(f"Succeeded in {time.time() - t0:.0f} s from the start: test AP {test.get('ap')}, MRR "
            f"{test.get('mrr')} (run directory {cluster.runs}/{job['spec']['checkpoint']['path']}); "
            f"status validation AP {status.get('progress', {}).get('validationAP')}")
        if not checked.get("ok"):
            raise ClusterError("the dashboard's queries did not all return data")
        if a.keep:
            keep()
            return 0
        say("tearing down: delete the job, helm uninstall, stop everything")
        cluster.stop()
        remove_state(a.state)
        say(f"done in {time.time() - t0:.0f} s; no container or process left behind")
        return 0
    except KeyboardInterrupt:
        say("interrupted: tearing down")
        cluster.stop()
        return 130
    except Exception as e:  # any failure: say what, keep the logs, tear down unless --keep
        print(f"cluster-demo: error: {e}", file=sys.stderr)
        if a.keep and cluster.cp is not None:
            keep()
            return 1
        try:
            cluster.stop()
        except Exception as e2:
            print(f"cluster-demo: teardown: {e2}", file=sys.stderr)
        print(f"  logs kept: {a.state}/*.log, {a.state}/node/logs/ (pods), {a.state}/control-plane/*.log",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
