#!/usr/bin/env python3
"""DistTGL's placement with the real kube-scheduler: on 4 fake nodes (kwok) with 8 GPUs each, a
TGNNJob with layout i=2, j=4, k=4 (32 trainers, 4 memory daemons) puts each memory group's 8
trainers on one node beside its daemon, one group per node. A second job that asks for a GPU
when none is left says so in its status (the scheduler's reason), and its startup timeout fails
it with that reason.

Usage: placement_test.py REPO_ROOT OPERATOR_BIN
"""
import collections
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from control_plane import ControlPlane, fail, wait  # noqa: E402


def job(name, layout, startup=600):
    return {"apiVersion": "disttgl.io/v1alpha1", "kind": "TGNNJob",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"layout": layout,
                     "dataset": {"volume": {"hostPath": {"path": "/d"}}, "path": "x.csv"},
                     "trainer": {"image": "t", "gpus": 1}, "memoryDaemon": {"image": "d"},
                     "runPolicy": {"startupTimeoutSeconds": startup}}}




def main():
    root, operator = sys.argv[1], sys.argv[2]
    with ControlPlane(root, scheduler=True, kwok=True) as cp:
        cp.kubectl("apply", "-f", os.path.join(root, "charts/disttgl/crds/tgnnjobs.disttgl.io.yaml"))
        cp.kubectl("wait", "--for", "condition=Established", "crd/tgnnjobs.disttgl.io", "--timeout=60s")
        for n in range(4):
            cp.add_fake_node(f"gpu-{n}", gpus=8)
        cp.kubectl("wait", "--for", "condition=Ready", "node", "--all", "--timeout=60s")
        log = open(os.path.join(cp.dir, "operator.log"), "w")
        op = subprocess.Popen([operator, "--kubeconfig", cp.kubeconfig, "--metrics-port", "0"],
                              stdout=log, stderr=subprocess.STDOUT)
        try:
            cp.kubectl("create", "-f", "-", input=json.dumps(job("big", {"i": 2, "j": 4, "k": 4})))
            wait("job big Running", lambda: cp.get_json("tgnn", "big").get("status", {}).get("phase") == "Running", 180)
            pods = cp.get_json("pods", "-l", "disttgl.io/job=big")["items"]
            nodes = collections.defaultdict(set)
            daemon_node = {}
            for p in pods:
                g = p["metadata"]["labels"]["disttgl.io/group"]
                nodes[g].add(p["spec"]["nodeName"])
                if p["metadata"]["labels"]["disttgl.io/role"] == "memory-daemon":
                    daemon_node[g] = p["spec"]["nodeName"]
            if len(pods) != 36:
                fail(f"{len(pods)} pods, expected 32 trainers + 4 daemons")
            for g, ns in sorted(nodes.items()):
                if len(ns) != 1:
                    fail(f"memory group {g} spans nodes {sorted(ns)}")
            if len(set(daemon_node.values())) != 4:
                fail(f"daemons share nodes: {daemon_node}")
            print("placement:", ", ".join(f"group {g} -> {n}" for g, n in sorted(daemon_node.items())), flush=True)
            # Every GPU is taken now: a job that needs one cannot be scheduled.
            cp.kubectl("create", "-f", "-", input=json.dumps(job("late", {"k": 1}, startup=20)))
            st = wait("late's Unschedulable condition",
                      lambda: next((c for c in cp.get_json("tgnn", "late").get("status", {}).get("conditions", [])
                                    if c.get("reason") == "Unschedulable"), None), 60)
            if "Insufficient nvidia.com/gpu" not in st["message"]:
                fail(f"Unschedulable condition: {st}")
            print("unschedulable:", st["message"], flush=True)
            st = wait("late Failed", lambda: (lambda s: s if s.get("phase") == "Failed" else None)(
                cp.get_json("tgnn", "late").get("status", {})), 60)
            failed = next(c for c in st["conditions"] if c["type"] == "Failed")
            if failed["reason"] != "StartupTimeout" or "Insufficient nvidia.com/gpu" not in failed["message"]:
                fail(f"Failed condition: {failed}")
            print("startup timeout:", failed["message"][:200], flush=True)
        finally:
            op.terminate()
            op.wait(timeout=40)
    print("PASS", flush=True)


if __name__ == "__main__":
    main()
