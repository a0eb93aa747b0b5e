"""A real Kubernetes control plane for tests: etcd, kube-apiserver and (optionally)
kube-scheduler on loopback, built by scripts/setup-k8s.sh into .deps/k8s/bin. Envtest-style:
a static admin token, RBAC on, service-account keys; optionally kube-controller-manager
(Deployments, garbage collection). No kubelet: tests play it by patching pod status, use kwok, or
run tests/e2e/node_agent.py, which runs pods with Docker. Everything runs under one temporary
directory and is stopped by pid, leaving nothing behind.

    with ControlPlane(root) as cp:
        cp.kubectl("apply", "-f", "crd.yaml")
"""
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request


def fail(msg):
    """A test's verdict: FAIL with the reason, exit 1."""
    print("FAIL: " + msg, flush=True)
    sys.exit(1)


def wait(what, predicate, timeout=60, period=0.3):
    """predicate()'s first truthy value within `timeout` seconds, polled every `period`; else fail."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(period)
    fail(f"timed out after {timeout} s waiting for {what} (last: {last})")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ControlPlane:
    def __init__(self, root, scheduler=False, kwok=False, controller_manager=False, directory=None):
        self.bin = os.path.join(root, ".deps", "k8s", "bin")
        for tool in ("etcd", "kube-apiserver", "kubectl"):
            if not os.access(os.path.join(self.bin, tool), os.X_OK):
                raise RuntimeError(f"{self.bin}/{tool} is missing: run scripts/setup-k8s.sh")
        self.scheduler = scheduler
        self.kwok = kwok
        self.controller_manager = controller_manager
        self.stages = os.path.join(root, ".deps", "k8s", "kwok-stages.yaml")
        self.procs = []
        # directory: a fixed place (the cluster demo keeps it); default a fresh temporary one.
        self.own_dir = not directory  # a given directory (with its logs) is the caller's to remove
        if directory:
            os.makedirs(directory, exist_ok=True)
            self.dir = directory
        else:
            self.dir = tempfile.mkdtemp(prefix="disttgl-k8s-")
        self.token = "disttgl-test-admin-token"

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc):
        self.stop()

    def _spawn(self, name, args):
        log = open(os.path.join(self.dir, name + ".log"), "w")
        p = subprocess.Popen([os.path.join(self.bin, name), *args], stdout=log, stderr=subprocess.STDOUT,
                             start_new_session=True)
        self.procs.append((name, p))
        return p

    def start(self):
        d = self.dir
        etcd_port, peer_port, etcd_metrics = free_port(), free_port(), free_port()
        self._spawn("etcd", [
            f"--data-dir={d}/etcd", f"--listen-client-urls=http://127.0.0.1:{etcd_port}",
            f"--advertise-client-urls=http://127.0.0.1:{etcd_port}",
            f"--listen-peer-urls=http://127.0.0.1:{peer_port}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{peer_port}",
            f"--initial-cluster=default=http://127.0.0.1:{peer_port}",
            f"--listen-metrics-urls=http://127.0.0.1:{etcd_metrics}", "--unsafe-no-fsync"])
        subprocess.run(["openssl", "genrsa", "-out", f"{d}/sa.key", "2048"], check=True, capture_output=True)
        subprocess.run(["openssl", "rsa", "-in", f"{d}/sa.key", "-pubout", "-out", f"{d}/sa.pub"],
                       check=True, capture_output=True)
        with open(f"{d}/tokens.csv", "w") as f:
            f.write(f"{self.token},admin,admin-uid,system:masters\n")
        self.port = free_port()
        self.server = f"https://127.0.0.1:{self.port}"
        self.apiserver_args = [
            f"--etcd-servers=http://127.0.0.1:{etcd_port}", "--bind-address=127.0.0.1",
            f"--secure-port={self.port}", "--advertise-address=127.0.0.1", f"--cert-dir={d}/certs",
            f"--service-account-issuer={self.server}", f"--service-account-key-file={d}/sa.pub",
            f"--service-account-signing-key-file={d}/sa.key", "--service-cluster-ip-range=10.0.0.0/24",
            f"--token-auth-file={d}/tokens.csv", "--authorization-mode=RBAC",
            "--disable-admission-plugins=ServiceAccount,TaintNodesByCondition",
            "--allow-privileged=true", "--endpoint-reconciler-type=none"]
        self._spawn("kube-apiserver", self.apiserver_args)
        self.kubeconfig = f"{d}/kubeconfig"
        with open(self.kubeconfig, "w") as f:
            f.write(f"""apiVersion: v1
kind: Config
current-context: test
contexts: [{{name: test, context: {{cluster: test, user: admin, namespace: default}}}}]
clusters: [{{name: test, cluster: {{server: "{self.server}", insecure-skip-tls-verify: true}}}}]
users: [{{name: admin, user: {{token: {self.token}}}}}]
""")
        self._wait_ready()
        if self.scheduler:
            self._spawn("kube-scheduler", [f"--kubeconfig={self.kubeconfig}", "--leader-elect=false",
                                           "--bind-address=127.0.0.1", f"--secure-port={free_port()}"])
        if self.controller_manager:
            # Deployments (the operator's), garbage collection of owned objects and binding of
            # PersistentVolumeClaims; nothing else.
            self._spawn("kube-controller-manager", [
                f"--kubeconfig={self.kubeconfig}", "--leader-elect=false", "--bind-address=127.0.0.1",
                f"--secure-port={free_port()}", "--controllers=deployment-controller,replicaset-controller,"
                "garbage-collector-controller,persistentvolume-binder-controller",
                "--use-service-account-credentials=false"])
        if self.kwok:
            # kwok plays the kubelet of fake nodes (annotation kwok.x-k8s.io/node=fake): nodes
            # become Ready and scheduled pods Running; it runs no containers.
            self._spawn("kwok", [f"--kubeconfig={self.kubeconfig}", "-c", self.stages,
                                 "--manage-all-nodes=false",
                                 "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
                                 "--node-ip=127.0.0.1", "--cidr=127.100.0.0/24",
                                 f"--server-address=127.0.0.1:{free_port()}"])

    def add_fake_node(self, name, gpus=0, cpu="32", memory="256Gi"):
        capacity = {"cpu": cpu, "memory": memory, "pods": "110"}
        if gpus:
            capacity["nvidia.com/gpu"] = str(gpus)
        node = {"apiVersion": "v1", "kind": "Node",
                "metadata": {"name": name, "annotations": {"kwok.x-k8s.io/node": "fake"},
                             "labels": {"kubernetes.io/hostname": name, "type": "kwok"}},
                "status": {"capacity": capacity, "allocatable": capacity}}
        self.kubectl("create", "-f", "-", input=json.dumps(node))

    def _wait_ready(self, timeout=90):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            for name, p in self.procs:
                if p.poll() is not None:
                    raise RuntimeError(f"{name} exited with {p.returncode}: see {self.dir}/{name}.log")
            try:
                req = urllib.request.Request(self.server + "/readyz",
                                             headers={"Authorization": "Bearer " + self.token})
                with urllib.request.urlopen(req, context=ctx, timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError as e:
                last = e
            time.sleep(0.3)
        raise RuntimeError(f"kube-apiserver not ready within {timeout} s ({last})")

    def restart_apiserver(self):
        """Stops kube-apiserver (SIGTERM) and starts it again on the same port and etcd."""
        for i, (name, p) in enumerate(self.procs):
            if name == "kube-apiserver":
                os.killpg(p.pid, signal.SIGTERM)
                p.wait(timeout=30)
                del self.procs[i]
                break
        self._spawn("kube-apiserver", self.apiserver_args)
        self._wait_ready()

    def kubectl(self, *args, check=True, input=None):
        r = subprocess.run([os.path.join(self.bin, "kubectl"), f"--kubeconfig={self.kubeconfig}", *args],
                           capture_output=True, text=True, input=input)
        if check and r.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)}: exit {r.returncode}\n{r.stdout}{r.stderr}")
        return r

    def get_json(self, *args):
        return json.loads(self.kubectl("get", *args, "-o", "json").stdout)

    def stop(self):
        for name, p in reversed(self.procs):
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for name, p in self.procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        self.procs = []
        if os.environ.get("DISTTGL_KEEP_TEST_DIR"):
            print("kept " + self.dir)
        elif self.own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)
