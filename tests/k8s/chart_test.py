#!/usr/bin/env python3
"""The Helm chart against a real kube-apiserver: `helm lint --strict` is clean, `helm install`
creates the CRD, the operator Deployment, its ServiceAccount, RBAC, metrics Service and the
dashboard ConfigMap; the operator's ServiceAccount may do exactly what the operator needs and
nothing more (kubectl auth can-i as that account); `helm uninstall` removes all but the CRD.

Usage: chart_test.py REPO_ROOT
"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from control_plane import ControlPlane, fail  # noqa: E402


def main():
    root = sys.argv[1]
    chart = os.path.join(root, "charts/disttgl")
    with ControlPlane(root) as cp:
        env = dict(os.environ, KUBECONFIG=cp.kubeconfig, HELM_CACHE_HOME=f"{cp.dir}/helm/cache",
                   HELM_CONFIG_HOME=f"{cp.dir}/helm/config", HELM_DATA_HOME=f"{cp.dir}/helm/data")
        helm = os.path.join(cp.bin, "helm")

        def run(*args):
            r = subprocess.run([helm, *args], env=env, capture_output=True, text=True)
            if r.returncode != 0:
                fail(f"helm {' '.join(args)}: exit {r.returncode}\n{r.stdout}{r.stderr}")
            return r.stdout + r.stderr

        out = run("lint", "--strict", chart)
        if "[WARNING]" in out or "[ERROR]" in out:
            fail("helm lint --strict:\n" + out)
        cp.kubectl("create", "namespace", "disttgl-system")
        out = run("install", "disttgl", chart, "--namespace", "disttgl-system")
        if "kubectl apply -f examples/" not in out:
            fail("NOTES.txt not shown:\n" + out)
        cp.kubectl("wait", "--for", "condition=Established", "crd/tgnnjobs.disttgl.io", "--timeout=60s")
        for kind, name in (("deployment", "disttgl"), ("serviceaccount", "disttgl"),
                           ("service", "disttgl-metrics"), ("configmap", "disttgl-dashboard"),
                           ("role", "disttgl-leader"), ("rolebinding", "disttgl-leader")):
            cp.kubectl("get", kind, name, "-n", "disttgl-system")
        cp.kubectl("get", "clusterrole", "disttgl")
        cm = cp.get_json("configmap", "disttgl-dashboard", "-n", "disttgl-system")
        if cm["metadata"]["labels"].get("grafana_dashboard") != "1":
            fail(f"dashboard label: {cm['metadata']['labels']}")
        json.loads(cm["data"]["disttgl-training.json"])  # the whole dashboard, parseable
        dep = cp.get_json("deployment", "disttgl", "-n", "disttgl-system")
        args = dep["spec"]["template"]["spec"]["containers"][0]["args"]
        if "--leader-election-namespace=disttgl-system" not in args:
            fail(f"operator args: {args}")
        sa = "system:serviceaccount:disttgl-system:disttgl"
        allowed = [("create", "pods", "ml"), ("delete", "pods", "ml"), ("watch", "tgnnjobs.disttgl.io", "ml"),
                   ("patch", "tgnnjobs.disttgl.io/status", "ml"), ("create", "events", "ml"),
                   ("create", "services", "ml"), ("delete", "services", "ml"),
                   # server-side apply of the children is a PATCH
                   ("patch", "pods", "ml"), ("patch", "services", "ml"),
                   ("update", "leases.coordination.k8s.io", "disttgl-system")]
        denied = [("get", "secrets", "ml"), ("create", "deployments.apps", "ml"), ("update", "tgnnjobs.disttgl.io", "ml"),
                  ("update", "services", "ml"), ("update", "leases.coordination.k8s.io", "ml"),
                  ("create", "clusterroles.rbac.authorization.k8s.io", ""), ("update", "pods", "ml")]
        for verb, res, ns in allowed + denied:
            resource, _, sub = res.partition("/")
            r = cp.kubectl("auth", "can-i", verb, resource, *([f"--subresource={sub}"] if sub else []),
                           f"--as={sa}", *(["-n", ns] if ns else []), check=False)
            want = "yes" if (verb, res, ns) in allowed else "no"
            if r.stdout.strip() != want:
                fail(f"can-i {verb} {res} in {ns or 'the cluster'}: {r.stdout.strip()}, expected {want}")
        print(f"RBAC: {len(allowed)} allowed and {len(denied)} denied as expected", flush=True)
        run("uninstall", "disttgl", "--namespace", "disttgl-system")
        left = cp.kubectl("get", "all,configmap,serviceaccount,role,rolebinding", "-n", "disttgl-system",
                          "-l", "app.kubernetes.io/instance=disttgl", "-o", "name").stdout.split()
        if left or cp.kubectl("get", "clusterrole", "disttgl", check=False).returncode == 0:
            fail(f"left after uninstall: {left}")
        cp.kubectl("get", "crd", "tgnnjobs.disttgl.io")  # Helm keeps crds/ on purpose
    print("PASS", flush=True)


if __name__ == "__main__":
    main()
