#!/usr/bin/env python3
"""The TGNNJob CRD against a real kube-apiserver + etcd: it is Established, a valid job gets the
schema's defaults and printer columns, and bad manifests are refused with the field named
(layout 0, trainer.replicas != i*j*k, an unknown field, a changed layout, an operator-owned flag
in extraArgs, both or neither of model.preset / model.configMap).

Usage: crd_test.py REPO_ROOT
"""
import copy
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from control_plane import ControlPlane, fail  # noqa: E402

JOB = {
    "apiVersion": "disttgl.io/v1alpha1", "kind": "TGNNJob",
    "metadata": {"name": "wiki", "namespace": "default"},
    "spec": {
        "layout": {"i": 1, "j": 1, "k": 2},
        "dataset": {"volume": {"hostPath": {"path": "/data"}}, "path": "wikipedia/wikipedia.csv"},
        "trainer": {"image": "disttgl/trainer:0.1.0"},
        "memoryDaemon": {"image": "disttgl/memory-daemon:0.1.0"},
    },
}


def refused(cp, manifest, *expected, action="create"):
    r = cp.kubectl(action, "-f", "-", check=False, input=json.dumps(manifest))
    text = r.stdout + r.stderr
    if r.returncode == 0:
        fail(f"accepted: {json.dumps(manifest)[:300]}")
    for e in expected:
        if e not in text:
            fail(f"refusal does not say {e!r}:\n{text}")
    print("refused:", text.strip().splitlines()[-1][:240], flush=True)


def main():
    root = sys.argv[1]
    crd = os.path.join(root, "charts/disttgl/crds/tgnnjobs.disttgl.io.yaml")
    with ControlPlane(root) as cp:
        cp.kubectl("apply", "-f", crd)
        cp.kubectl("wait", "--for", "condition=Established", "crd/tgnnjobs.disttgl.io", "--timeout=60s")
        cp.kubectl("create", "-f", "-", input=json.dumps(JOB))
        got = cp.get_json("tgnn", "wiki")
        spec = got["spec"]
        want = {("training", "epochs"): 10, ("training", "batchSize"): 600, ("training", "device"): "auto",
                ("model", "preset"): "tgn", ("runPolicy", "maxGroupRestarts"): 3,
                ("runPolicy", "cleanPodPolicy"): "Running", ("runPolicy", "startupTimeoutSeconds"): 600,
                ("trainer", "imagePullPolicy"): "IfNotPresent", ("trainer", "gpus"): 0}
        for (a, b), v in want.items():
            if spec.get(a, {}).get(b) != v:
                fail(f"default spec.{a}.{b}: {spec.get(a, {}).get(b)!r}, expected {v!r}")
        if spec.get("metricsPort") != 9464 or spec.get("suspend") is not False:
            fail(f"defaults metricsPort/suspend: {spec.get('metricsPort')}, {spec.get('suspend')}")
        cols = cp.kubectl("get", "tgnn").stdout.splitlines()[0].split()
        if cols != ["NAME", "PHASE", "LAYOUT", "READY", "RESTARTS", "EPOCH", "AGE"]:
            fail(f"printer columns: {cols}")
        print("defaults and printer columns: ok", flush=True)

        bad = copy.deepcopy(JOB)
        bad["metadata"]["name"] = "zero"
        bad["spec"]["layout"]["j"] = 0
        refused(cp, bad, "spec.layout.j", "should be greater than or equal to 1")
        bad = copy.deepcopy(JOB)
        bad["metadata"]["name"] = "mismatch"
        bad["spec"]["trainer"]["replicas"] = 3
        refused(cp, bad, "spec.trainer.replicas", "must equal i*j*k")
        bad = copy.deepcopy(JOB)
        bad["metadata"]["name"] = "unknown"
        bad["spec"]["layuot"] = {"i": 2}
        refused(cp, bad, 'unknown field "spec.layuot"')
        bad = copy.deepcopy(JOB)
        bad["metadata"]["name"] = "flags"
        bad["spec"]["training"] = {"extraArgs": ["--threads", "2", "--output=/tmp/x"]}
        refused(cp, bad, "spec.training.extraArgs", "set by the operator")
        bad = copy.deepcopy(JOB)
        bad["metadata"]["name"] = "model"
        bad["spec"]["model"] = {"preset": "tgn", "configMap": {"name": "cfg"}}
        refused(cp, bad, "spec.model", "exactly one of preset and configMap")
        for name in ("wiki.v2", "a" * 41):
            bad = copy.deepcopy(JOB)
            bad["metadata"]["name"] = name
            refused(cp, bad, "metadata.name", "at most 40 characters")
        bad = copy.deepcopy(JOB)
        bad["metadata"]["name"] = "escape"
        bad["spec"]["dataset"]["path"] = "../etc/passwd"
        refused(cp, bad, "spec.dataset.path", "must not contain '..'")
        # The shipped examples are valid (server-side dry run through the same schema and rules).
        for name in sorted(os.listdir(os.path.join(root, "examples"))):
            if name.endswith(".yaml"):
                cp.kubectl("apply", "--dry-run=server", "-f", os.path.join(root, "examples", name))
        print("examples/ pass the CRD's validation", flush=True)
        changed = copy.deepcopy(JOB)
        changed["spec"]["layout"]["k"] = 4
        refused(cp, changed, "spec.layout", "layout is immutable", action="replace")
    print("PASS", flush=True)


if __name__ == "__main__":
    main()
