#!/usr/bin/env python3
"""Two disttgl-operator replicas against a real kube-apiserver: exactly one holds the Lease and
acts (a job gets its daemons); when the leader is killed (SIGKILL, no release) the standby takes
the Lease over once it expires and carries on (a second job gets its daemons); a SIGTERM'd
leader releases the Lease at once. The operator also survives an apiserver restart (its watches
resume and a job created afterwards is served).

Usage: leader_test.py REPO_ROOT OPERATOR_BIN
"""
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from control_plane import ControlPlane, free_port, fail, wait  # noqa: E402


def job(name):
    return {"apiVersion": "disttgl.io/v1alpha1", "kind": "TGNNJob",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"layout": {"k": 1},
                     "dataset": {"volume": {"hostPath": {"path": "/d"}}, "path": "x.csv"},
                     "trainer": {"image": "t"}, "memoryDaemon": {"image": "d"}}}




def leader_gauge(port):
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    return [l for l in text.splitlines() if l.startswith("disttgl_operator_is_leader")][0].split()[-1]


def main():
    root, operator = sys.argv[1], sys.argv[2]
    with ControlPlane(root) as cp:
        cp.kubectl("apply", "-f", os.path.join(root, "charts/disttgl/crds/tgnnjobs.disttgl.io.yaml"))
        cp.kubectl("wait", "--for", "condition=Established", "crd/tgnnjobs.disttgl.io", "--timeout=60s")
        ops = {}
        for ident in ("op-a", "op-b"):
            port = free_port()
            log = open(os.path.join(cp.dir, ident + ".log"), "w")
            ops[ident] = (subprocess.Popen([operator, "--kubeconfig", cp.kubeconfig, "--leader-election-namespace",
                                            "default", "--leader-election-id", ident, "--metrics-port", str(port),
                                            "--metrics-address", "127.0.0.1"], stdout=log, stderr=subprocess.STDOUT), port)
            if ident == "op-a":
                wait("op-a to lead", lambda: cp.kubectl("get", "lease", "disttgl-operator", check=False).returncode == 0, 30)
        try:
            holder = lambda: cp.get_json("lease", "disttgl-operator")["spec"].get("holderIdentity", "")
            if holder() != "op-a":
                fail(f"first leader: {holder()!r}")
            wait("op-b's /metrics", lambda: leader_gauge(ops["op-b"][1]) == "0", 20)
            if leader_gauge(ops["op-a"][1]) != "1":
                fail("op-a does not report leading")
            cp.kubectl("create", "-f", "-", input=json.dumps(job("one")))
            wait("job one's daemon", lambda: cp.kubectl("get", "pod", "one-a0-daemon-0", check=False).returncode == 0, 30)
            # The leader dies without releasing: the standby takes over after the lease expires.
            t0 = time.time()
            ops["op-a"][0].send_signal(signal.SIGKILL)
            ops["op-a"][0].wait()
            wait("op-b to take the lease", lambda: holder() == "op-b", 40)
            took = time.time() - t0
            cp.kubectl("create", "-f", "-", input=json.dumps(job("two")))
            wait("job two's daemon (served by op-b)", lambda: cp.kubectl("get", "pod", "two-a0-daemon-0", check=False).returncode == 0, 30)
            print(f"standby took over {took:.1f} s after the leader was killed", flush=True)
            # An apiserver restart: the watches resume.
            cp.restart_apiserver()
            cp.kubectl("create", "-f", "-", input=json.dumps(job("three")))
            wait("job three's daemon after the apiserver restart",
                 lambda: cp.kubectl("get", "pod", "three-a0-daemon-0", check=False).returncode == 0, 60)
            print("served a job created after the apiserver restarted", flush=True)
            # SIGTERM releases the lease.
            ops["op-b"][0].send_signal(signal.SIGTERM)
            if ops["op-b"][0].wait(timeout=40) != 0:
                fail(f"op-b exit code {ops['op-b'][0].returncode}")
            if holder() != "":
                fail(f"lease not released: {holder()!r}")
        finally:
            for p, _ in ops.values():
                if p.poll() is None:
                    p.kill()
                    p.wait()
    print("PASS", flush=True)


if __name__ == "__main__":
    main()
