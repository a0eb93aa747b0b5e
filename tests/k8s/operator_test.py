#!/usr/bin/env python3
"""disttgl-operator against a real kube-apiserver + etcd, the test playing the kubelet (it
patches pod status): a TGNNJob with layout i=1,j=1,k=2 gets its 2 memory daemons first, its 2
trainers only once the daemons are Ready, with the launch contract's environment and owner
references; a failed trainer restarts the whole group as attempt 1 (status, lastFailure and
events say so); the job succeeds when every trainer has, its daemons are deleted, and `kubectl
get tgnn` shows it.

The job's progress comes from rank 0's /metrics: the test gives rank 0's pod the address
127.0.0.1 and runs a real `disttgl-trainer train` serving /metrics there; the status then
shows its epoch and validation AP.

Usage: operator_test.py REPO_ROOT OPERATOR_BIN TRAINER_BIN DATASET
"""
import json
import os
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from control_plane import ControlPlane, free_port, fail, wait  # noqa: E402

JOB = {
    "apiVersion": "disttgl.io/v1alpha1", "kind": "TGNNJob",
    "metadata": {"name": "wiki", "namespace": "default"},
    "spec": {
        "layout": {"i": 1, "j": 1, "k": 2},
        "dataset": {"volume": {"hostPath": {"path": "/data"}}, "path": "wikipedia/wikipedia.csv"},
        "trainer": {"image": "disttgl/trainer:0.1.0"},
        "memoryDaemon": {"image": "disttgl/memory-daemon:0.1.0"},
        "checkpoint": {"volume": {"hostPath": {"path": "/runs"}}, "path": "wiki"},
        "runPolicy": {"maxGroupRestarts": 2},
    },
}




def pods(cp):
    items = cp.get_json("pods", "-l", "disttgl.io/job=wiki")["items"]
    return {p["metadata"]["name"]: p for p in items if not p["metadata"].get("deletionTimestamp")}


def set_status(cp, name, status):
    cp.kubectl("patch", "pod", name, "--subresource=status", "--type=merge", "-p",
               json.dumps({"status": status}))


def running(cp, name, ready=True):
    set_status(cp, name, {"phase": "Running", "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]})


def terminated(cp, name, code):
    set_status(cp, name, {"phase": "Succeeded" if code == 0 else "Failed", "containerStatuses": [{
        "name": "trainer", "image": "x", "imageID": "", "ready": False, "restartCount": 0,
        "state": {"terminated": {"exitCode": code, "reason": "Completed" if code == 0 else "Error"}}}]})


def job_status(cp):
    return cp.get_json("tgnn", "wiki").get("status", {})


def main():
    root, operator, trainer, dataset = sys.argv[1:5]
    JOB["spec"]["metricsPort"] = free_port()
    with ControlPlane(root) as cp:
        cp.kubectl("apply", "-f", os.path.join(root, "charts/disttgl/crds/tgnnjobs.disttgl.io.yaml"))
        cp.kubectl("wait", "--for", "condition=Established", "crd/tgnnjobs.disttgl.io", "--timeout=60s")
        log = open(os.path.join(cp.dir, "operator.log"), "w")
        mport = free_port()
        op = subprocess.Popen([operator, "--kubeconfig", cp.kubeconfig, "--leader-election-namespace", "default",
                               "--leader-election-id", "op-1", "--metrics-port", str(mport),
                               "--metrics-address", "127.0.0.1"], stdout=log, stderr=subprocess.STDOUT)
        try:
            cp.kubectl("create", "-f", "-", input=json.dumps(JOB))
            # Daemons first.
            p = wait("2 daemon pods", lambda: (lambda ps: ps if len(ps) == 2 else None)(pods(cp)))
            if sorted(p) != ["wiki-a0-daemon-0", "wiki-a0-daemon-1"]:
                fail(f"first pods: {sorted(p)}")
            owner = p["wiki-a0-daemon-0"]["metadata"]["ownerReferences"][0]
            if owner["kind"] != "TGNNJob" or owner["name"] != "wiki" or not owner["controller"]:
                fail(f"owner reference: {owner}")
            # Children are written with server-side apply under the operator's field manager.
            daemon0 = cp.get_json("pod", "wiki-a0-daemon-0", "--show-managed-fields")
            managers = {(m["manager"], m["operation"]) for m in daemon0["metadata"]["managedFields"]}
            if ("disttgl-operator", "Apply") not in managers:
                fail(f"daemon pod managedFields: {sorted(managers)}")
            svc = cp.get_json("service", "wiki", "--show-managed-fields")
            if ("disttgl-operator", "Apply") not in {(m["manager"], m["operation"])
                                                     for m in svc["metadata"]["managedFields"]}:
                fail(f"service managedFields: {svc['metadata']['managedFields']}")
            if svc["spec"]["clusterIP"] != "None" or not svc["spec"]["publishNotReadyAddresses"]:
                fail(f"service: {svc['spec']}")
            running(cp, "wiki-a0-daemon-0")
            time.sleep(2)
            if len(pods(cp)) != 2:
                fail(f"trainers started with one daemon ready: {sorted(pods(cp))}")
            running(cp, "wiki-a0-daemon-1")
            p = wait("2 trainers", lambda: (lambda ps: ps if len(ps) == 4 else None)(pods(cp)))
            env = {e["name"]: e.get("value") for e in p["wiki-a0-rank-1"]["spec"]["containers"][0]["env"]}
            want = {"DISTTGL_JOB": "wiki", "DISTTGL_RANK": "1", "DISTTGL_WORLD_SIZE": "2",
                    "DISTTGL_LAYOUT": "i=1,j=1,k=2", "DISTTGL_MASTER_ADDR": "wiki-a0-rank-0.wiki",
                    "DISTTGL_MASTER_PORT": "29500", "DISTTGL_MEMORY_DAEMON": "wiki-a0-daemon-1.wiki:7070",
                    "DISTTGL_ATTEMPT": "0", "DISTTGL_RUN_DIR": "/run/disttgl/wiki", "DISTTGL_LOCAL_ADDR": None}
            if env != want:
                fail(f"rank 1 environment: {env}")
            running(cp, "wiki-a0-rank-1")
            set_status(cp, "wiki-a0-rank-0", {"phase": "Running", "podIP": "127.0.0.1", "podIPs": [{"ip": "127.0.0.1"}],
                                              "conditions": [{"type": "Ready", "status": "True"}]})
            st = wait("phase Running", lambda: (lambda s: s if s.get("phase") == "Running" else None)(job_status(cp)))
            # Rank 0 for real: a short training run serving /metrics where rank 0's pod is.
            run_dir = os.path.join(cp.dir, "rank0-run")
            rank0 = subprocess.Popen([trainer, "train", "--data", dataset, "--epochs", "1", "--max-train-batches", "5",
                                      "--threads", "1", "--metrics-port", str(JOB["spec"]["metricsPort"]),
                                      "--metrics-address", "127.0.0.1", "--metrics-linger", "60", "--output", run_dir],
                                     stdout=open(os.path.join(cp.dir, "rank0.log"), "w"), stderr=subprocess.STDOUT)
            try:
                wait("rank 0's run", lambda: os.path.exists(os.path.join(run_dir, "summary.json")), 120)
                with open(os.path.join(run_dir, "metrics.jsonl")) as f:
                    val_ap = json.loads(f.readline())["val"]["ap"]
                # Two readings (15 s apart) give the events rate.
                st = wait("progress from rank 0", lambda: (lambda s: s if "validationAP" in s.get("progress", {}) and
                                                           "eventsPerSecond" in s["progress"] else None)(job_status(cp)), 50)
                pr = st["progress"]
                if pr.get("epoch") != 1 or abs(pr["validationAP"] - val_ap) > 1e-9 or "eventsPerSecond" not in pr:
                    fail(f"progress {pr}; rank 0 logged val AP {val_ap}")
                print(f"progress from rank 0's /metrics: {pr}", flush=True)
            finally:
                rank0.terminate()
                rank0.wait(timeout=30)
            print("running:", cp.kubectl("get", "tgnn", "wiki").stdout.splitlines()[-1], flush=True)
            # A trainer fails: the whole group restarts as attempt 1.
            terminated(cp, "wiki-a0-rank-1", 74)
            st = wait("attempt 1", lambda: (lambda s: s if s.get("attempt") == 1 else None)(job_status(cp)))
            lf = st.get("lastFailure", {})
            if (lf.get("pod"), lf.get("role"), lf.get("rank"), lf.get("exitCode")) != ("wiki-a0-rank-1", "trainer", 1, 74):
                fail(f"lastFailure: {lf}")
            if st.get("restarts") != 1:
                fail(f"restarts: {st.get('restarts')}")
            p = wait("attempt 1's daemons only", lambda: (lambda ps: ps if sorted(ps) == ["wiki-a1-daemon-0", "wiki-a1-daemon-1"] else None)(pods(cp)))
            events = cp.get_json("events", "--field-selector", "involvedObject.name=wiki")["items"]
            reasons = [e["reason"] for e in events]
            if "GroupRestart" not in reasons or "DaemonsReady" not in reasons:
                fail(f"events: {reasons}")
            for n in ("wiki-a1-daemon-0", "wiki-a1-daemon-1"):
                running(cp, n)
            wait("attempt 1's trainers", lambda: len(pods(cp)) == 4)
            for n in ("wiki-a1-rank-0", "wiki-a1-rank-1"):
                terminated(cp, n, 0)
            st = wait("Succeeded", lambda: (lambda s: s if s.get("phase") == "Succeeded" else None)(job_status(cp)))
            wait("the daemons deleted", lambda: sorted(pods(cp)) == ["wiki-a1-rank-0", "wiki-a1-rank-1"])
            conds = {c["type"]: c["status"] for c in st["conditions"]}
            if conds.get("Succeeded") != "True" or conds.get("Running") != "False":
                fail(f"conditions: {conds}")
            row = cp.kubectl("get", "tgnn", "wiki").stdout.splitlines()[-1].split()
            if row[1:5] != ["Succeeded", "i=1,j=1,k=2", "0/2", "1"]:
                fail(f"kubectl get tgnn: {row}")
            print("succeeded:", " ".join(row), flush=True)
            # The operator's own endpoints and the Lease it holds.
            for path, body in (("/healthz", "ok"), ("/readyz", "ok")):
                got = urllib.request.urlopen(f"http://127.0.0.1:{mport}{path}", timeout=5).read().decode()
                if got.strip() != body:
                    fail(f"{path}: {got!r}")
            text = urllib.request.urlopen(f"http://127.0.0.1:{mport}/metrics", timeout=5).read().decode()
            for line in ('disttgl_operator_is_leader{role="operator"} 1', 'phase="Succeeded"} 1'):
                if line not in text:
                    fail(f"operator /metrics lacks {line!r}:\n" + "\n".join(l for l in text.splitlines() if "jobs" in l or "leader" in l))
            ok = [l for l in text.splitlines() if l.startswith('disttgl_operator_reconciles_total') and 'outcome="ok"' in l]
            if not ok or float(ok[0].split()[-1]) < 5:
                fail(f"reconciles: {ok}")
            lease = cp.get_json("lease", "disttgl-operator")
            if lease["spec"]["holderIdentity"] != "op-1":
                fail(f"lease holder: {lease['spec']}")
            # Deleting the job leaves no pod and no Service behind (no garbage collector runs here:
            # the operator removes what it made).
            cp.kubectl("delete", "tgnn", "wiki")
            wait("no pod or service of the job", lambda: not pods(cp) and
                 cp.kubectl("get", "service", "wiki", check=False).returncode != 0, 30)
            print("deleted: no pod or service left", flush=True)
        finally:
            op.terminate()
            try:
                rc = op.wait(timeout=30)
            except subprocess.TimeoutExpired:
                op.kill()
                fail("the operator did not stop within 30 s of SIGTERM")
            log.close()
            if rc != 0:
                print(open(os.path.join(cp.dir, "operator.log")).read()[-3000:])
                fail(f"operator exit code {rc}")
    print("PASS", flush=True)


if __name__ == "__main__":
    main()
