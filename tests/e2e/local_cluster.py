"""A whole local Kubernetes cluster for disttgl on one machine: etcd, kube-apiserver,
kube-scheduler and kube-controller-manager (tests/k8s/control_plane.py), one node whose pods run
in Docker (tests/e2e/node_agent.py), the disttgl chart installed with Helm (the operator runs in
its image), hostPath volumes for the shared datasets and the run directories, and a Prometheus
that discovers the pods through the API server (tests/e2e/pod_targets.py). Used by scripts/cluster-demo.sh and
tests/e2e/cluster_test.py.

    with LocalCluster(root, state_dir) as c:
        c.apply_job("examples/tgnnjob-demo.yaml")
        c.follow("collegemsg-k2", on_line=print)

Stopping (the context exit, or `LocalCluster.down(state_dir)` from another process) deletes the
jobs, uninstalls the chart, stops Prometheus, the node agent (which removes its containers), the
control plane and the Docker daemon it started, and checks that no container, process or mount
is left behind.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "k8s"))
from control_plane import ControlPlane, free_port  # noqa: E402

NODE = "disttgl-node"
OPERATOR_NS = "disttgl-system"
JOB_NS = "disttgl-demo"
AGENT_LABEL = "disttgl-node-agent"


class ClusterError(RuntimeError):
    pass


def docker_env(root):
    """The environment for docker commands: the DOCKER_HOST that answers, starting the project's
    daemon when none does. Returns (env, started)."""
    env = dict(os.environ)
    if subprocess.run(["docker", "info"], capture_output=True, env=env).returncode == 0:
        # DISTTGL_DOCKER_STARTED=1: the caller started the project's daemon for us to stop.
        return env, os.environ.get("DISTTGL_DOCKER_STARTED") == "1"
    out = subprocess.run([os.path.join(root, "scripts", "docker-daemon.sh"), "start"], capture_output=True,
                         text=True)
    if out.returncode != 0:
        raise ClusterError(f"cannot start Docker: {out.stderr.strip()}")
    lines = out.stdout.split()
    env["DOCKER_HOST"] = lines[0].split("=", 1)[1]
    return env, "started" in lines[1:]


def cluster_mounts(state):
    """Mount points a cluster can leave: container root file systems (overlay) and anything
    under its state directory."""
    out = set()
    with open("/proc/mounts") as f:
        for line in f:
            fields = line.split()
            if len(fields) > 2 and (fields[2] == "overlay" or fields[1].startswith(state)):
                out.add(fields[1])
    return out


class LocalCluster:
    def __init__(self, root, state_dir, version="0.1.0", cpu=None, memory="20Gi", prometheus=True,
                 node=NODE, pod_cidr="127.42.0.0/16"):
        """node and pod_cidr: distinct per cluster, so that a test's node agent never touches the
        containers of a demo left running (--keep) beside it."""
        self.root = os.path.abspath(root)
        self.state = os.path.abspath(state_dir)
        self.version = version
        self.cpu = cpu or str(os.cpu_count())
        self.memory = memory
        self.want_prometheus = prometheus
        self.node = node
        self.pod_cidr = pod_cidr
        self.procs = {}
        self.cp = None

    # --- bring-up -------------------------------------------------------------------------
    def __enter__(self):
        try:
            self.up()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc):
        self.stop()

    def up(self):
        datasets = os.path.join(self.shared_dir(), "datasets")
        if not os.path.isdir(datasets):
            raise ClusterError(f"{datasets} is missing: the jobs read the shared datasets from there "
                               "(DISTTGL_SHARED_DIR overrides ../shared)")
        os.makedirs(self.state, exist_ok=True)
        self.env, self.started_docker = docker_env(self.root)
        self.mounts_before = cluster_mounts(self.state)
        for image in ("trainer", "memory-daemon", "operator"):
            ref = f"disttgl/{image}:{self.version}"
            if self.docker("image", "inspect", ref, check=False).returncode != 0:
                raise ClusterError(f"image {ref} is missing: run scripts/build-images.sh")
        self.cp = ControlPlane(self.root, scheduler=True, controller_manager=True,
                               directory=os.path.join(self.state, "control-plane"))
        self._write_pids()  # before anything starts: --down finds what a failed bring-up left
        self.cp.start()
        self._write_pids()
        self._start_agent()
        self._wait_node_ready()
        self._volumes()
        self._install_chart()
        if self.want_prometheus:
            self._start_prometheus()
        self._write_pids()

    def shared_dir(self):
        return os.path.realpath(os.environ.get("DISTTGL_SHARED_DIR", os.path.join(self.root, "..", "shared")))

    def _spawn(self, name, args, **kw):
        log = open(os.path.join(self.state, name + ".log"), "w")
        p = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, **kw)
        self.procs[name] = p
        return p

    def _start_agent(self):
        self.agent_state = os.path.join(self.state, "node")
        self._spawn("node-agent", [
            sys.executable, os.path.join(HERE, "node_agent.py"), "--server", self.cp.server, "--token",
            self.cp.token, "--node", self.node, "--pod-cidr", self.pod_cidr, "--state-dir", self.agent_state,
            "--docker-host",
            self.env.get("DOCKER_HOST", "unix:///var/run/docker.sock"), "--cpu", self.cpu, "--memory",
            self.memory], env=self.env)

    def _wait_node_ready(self, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.procs["node-agent"].poll() is not None:
                raise ClusterError(f"the node agent exited: see {self.state}/node-agent.log")
            r = self.kubectl("get", "node", self.node, "-o", "json", check=False)
            if r.returncode == 0:
                conds = json.loads(r.stdout).get("status", {}).get("conditions", [])
                if any(c["type"] == "Ready" and c["status"] == "True" for c in conds):
                    return
            time.sleep(0.5)
        raise ClusterError(f"node {self.node} not Ready within {timeout} s: see {self.state}/node-agent.log")

    def _volumes(self):
        """PersistentVolumes on host paths, bound to the claims the examples name."""
        datasets = os.path.join(self.shared_dir(), "datasets")
        self.runs = os.path.join(self.state, "runs")
        os.makedirs(self.runs, exist_ok=True)
        os.chmod(self.runs, 0o777)  # the images run as a non-root user
        self.kubectl("create", "namespace", JOB_NS)
        objs = []
        for name, path, mode in (("disttgl-datasets", datasets, "ReadOnlyMany"),
                                 ("disttgl-runs", self.runs, "ReadWriteOnce")):
            objs.append({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": name},
                         "spec": {"capacity": {"storage": "10Gi"}, "accessModes": [mode],
                                  "storageClassName": "local", "persistentVolumeReclaimPolicy": "Retain",
                                  "hostPath": {"path": path, "type": "Directory"},
                                  "claimRef": {"namespace": JOB_NS, "name": name}}})
            objs.append({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                         "metadata": {"name": name, "namespace": JOB_NS},
                         "spec": {"accessModes": [mode], "storageClassName": "local", "volumeName": name,
                                  "resources": {"requests": {"storage": "10Gi"}}}})
        self.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": objs}))

    def helm(self, *args, check=True):
        home = os.path.join(self.state, "helm")
        env = dict(os.environ, HELM_CACHE_HOME=home + "/cache", HELM_CONFIG_HOME=home + "/config",
                   HELM_DATA_HOME=home + "/data")
        r = subprocess.run([os.path.join(self.cp.bin, "helm"), f"--kubeconfig={self.cp.kubeconfig}", *args],
                           capture_output=True, text=True, env=env)
        if check and r.returncode != 0:
            raise ClusterError(f"helm {' '.join(args)}: exit {r.returncode}\n{r.stdout}{r.stderr}")
        return r

    def _install_chart(self):
        self.helm("install", "disttgl", os.path.join(self.root, "charts", "disttgl"), "-n", OPERATOR_NS,
                  "--create-namespace", "--set", f"image.tag={self.version}", "--set", "logLevel=info")
        self.kubectl("-n", OPERATOR_NS, "rollout", "status", "deployment/disttgl", "--timeout=120s")

    def _start_prometheus(self):
        self.prom_port = free_port()
        # Discovery: Debian's Prometheus has no kubernetes_sd_configs, so pod_targets.py lists
        # the pods through the API server and writes what the chart's PodMonitor would select
        # (container port "metrics", at the pod IP) as a file_sd file. The pods' own `job`
        # labels (the TGNNJob) are kept (honor_labels), as docs/observability.md says to.
        targets = os.path.join(self.state, "pod-targets.json")
        with open(targets, "w") as f:
            f.write("[]")
        self._spawn("pod-targets", [sys.executable, os.path.join(HERE, "pod_targets.py"), "--server",
                                    self.cp.server, "--token", self.cp.token, "--output", targets,
                                    "--namespace", JOB_NS, "--namespace", OPERATOR_NS])
        config = {"global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                  "scrape_configs": [{"job_name": "kubernetes-pods", "honor_labels": True,
                                      "file_sd_configs": [{"files": [targets], "refresh_interval": "1s"}]}]}
        path = os.path.join(self.state, "prometheus.yml")
        with open(path, "w") as f:
            json.dump(config, f, indent=1)  # JSON is YAML
        self._spawn("prometheus", ["prometheus", f"--config.file={path}",
                                   f"--storage.tsdb.path={self.state}/prometheus-data",
                                   f"--web.listen-address=127.0.0.1:{self.prom_port}"])
        self.prometheus = f"http://127.0.0.1:{self.prom_port}"
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.procs["prometheus"].poll() is not None:
                raise ClusterError(f"prometheus exited: see {self.state}/prometheus.log")
            try:
                with urllib.request.urlopen(self.prometheus + "/-/ready", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.5)
        raise ClusterError(f"prometheus not ready in 30 s: see {self.state}/prometheus.log")

    # --- use ----------------------------------------------------------------------------
    def kubectl(self, *args, check=True, input=None):
        r = self.cp.kubectl(*args, check=False, input=input)
        if check and r.returncode != 0:
            raise ClusterError(f"kubectl {' '.join(args)}: exit {r.returncode}\n{r.stdout}{r.stderr}")
        return r

    def docker(self, *args, check=True):
        r = subprocess.run(["docker", *args], capture_output=True, text=True, env=self.env)
        if check and r.returncode != 0:
            raise ClusterError(f"docker {' '.join(args)}: exit {r.returncode}\n{r.stderr}")
        return r

    def apply_job(self, manifest, name=None, patch=None):
        """kubectl apply of a TGNNJob manifest (a path) in the demo namespace; `name` and `patch`
        (a dict merged into spec) derive a variant. Returns the job's name."""
        r = self.kubectl("create", "--dry-run=client", "-o", "json", "-f", manifest)
        job = json.loads(r.stdout)
        job["metadata"]["namespace"] = JOB_NS
        if name:
            job["metadata"]["name"] = name
            job["spec"]["checkpoint"]["path"] = name
        for key, value in (patch or {}).items():
            job["spec"][key] = value
        self.kubectl("-n", JOB_NS, "apply", "-f", "-", input=json.dumps(job))
        return job["metadata"]["name"]

    def job(self, name):
        return json.loads(self.kubectl("-n", JOB_NS, "get", "tgnn", name, "-o", "json").stdout)

    def pods(self, job):
        out = json.loads(self.kubectl("-n", JOB_NS, "get", "pods", "-l", f"disttgl.io/job={job}", "-o",
                                      "json").stdout)
        return out["items"]

    def follow(self, name, timeout=900, on_line=None, every=5, until=("Succeeded", "Failed"), hook=None):
        """Waits until the job's phase is in `until`; every `every` seconds calls on_line with the
        `kubectl get tgnn` row and rank 0's progress, and hook(job) (a True return stops)."""
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            job = self.job(name)
            st = job.get("status", {})
            row = self.kubectl("-n", JOB_NS, "get", "tgnn", name, "--no-headers").stdout.strip()
            p = st.get("progress", {})
            line = f"{row}   progress: epoch {p.get('epoch', '-')}, events/s {p.get('eventsPerSecond', '-')}, " \
                   f"validation AP {p.get('validationAP', '-')}"
            # Why it waits, when a condition says so (a refused child, an unschedulable pod).
            for c in st.get("conditions", []):
                if c.get("status") == "False" and c.get("reason") in ("CreateFailed", "Unschedulable"):
                    line += f"\n    {c['type']}: {c['reason']}: {c.get('message', '')}"
            if on_line and line != last:
                on_line(line)
                last = line
            if st.get("phase") in until:
                return job
            if hook and hook(job):
                return job
            time.sleep(every)
        raise ClusterError(f"job {name} did not reach {until} within {timeout} s: {self.job(name).get('status')}")

    def summary(self, job):
        """The run directory's summary.json of a finished job (the checkpoint volume's host path)."""
        path = os.path.join(self.runs, job["spec"]["checkpoint"]["path"], "summary.json")
        with open(path) as f:
            return json.load(f)

    def prom_query(self, query):
        url = self.prometheus + "/api/v1/query?" + urllib.parse.urlencode({"query": query})
        with urllib.request.urlopen(url, timeout=10) as r:
            return json.load(r)["data"]["result"]

    def containers(self):
        """Containers the node agent started that still exist (running or not)."""
        r = self.docker("ps", "-a", "-q", "--filter", f"label={AGENT_LABEL}={self.node}", check=False)
        if r.returncode != 0:
            raise ClusterError(f"docker ps: {r.stderr.strip()}")
        return r.stdout.split()

    # --- teardown -----------------------------------------------------------------------
    def _write_pids(self):
        pids = {name: p.pid for name, p in self.procs.items()}
        if self.cp:
            pids.update({f"cp-{name}": p.pid for name, p in self.cp.procs})
        with open(os.path.join(self.state, "pids.json"), "w") as f:
            json.dump({"pids": pids, "docker_started": getattr(self, "started_docker", False),
                       "docker_host": getattr(self, "env", {}).get("DOCKER_HOST")}, f)

    def delete_jobs(self, timeout=120):
        if not self.cp:
            return
        self.kubectl("-n", JOB_NS, "delete", "tgnn", "--all", "--wait=true", f"--timeout={timeout}s", check=False)
        deadline = time.time() + timeout
        while time.time() < deadline:
            items = json.loads(self.kubectl("-n", JOB_NS, "get", "pods", "-o", "json").stdout)["items"]
            if not items:
                return
            time.sleep(1)
        raise ClusterError(f"pods left {timeout} s after the jobs were deleted: "
                           f"{[p['metadata']['name'] for p in items]}")

    def stop(self):
        if getattr(self, "stopped", False):
            return
        self.stopped = True
        errors = []
        if self.cp and self.cp.procs:
            for step in (self.delete_jobs,
                         lambda: self.helm("uninstall", "disttgl", "-n", OPERATOR_NS, "--wait", "--timeout",
                                           "120s")):
                try:
                    step()
                except Exception as e:  # keep tearing down; report at the end
                    errors.append(str(e))
        for name in ("prometheus", "pod-targets", "node-agent"):
            p = self.procs.pop(name, None)
            if p and p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
                try:
                    p.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    os.killpg(p.pid, signal.SIGKILL)
                    errors.append(f"{name} did not stop within 60 s of SIGTERM")
        if hasattr(self, "env"):
            try:
                left = self.containers()
                if left:
                    errors.append(f"containers left behind: {left}")
                    self.docker("rm", "-f", *left, check=False)
            except ClusterError as e:  # Docker gone: still stop the rest
                errors.append(str(e))
        if self.cp:
            self.cp.stop()
            self.cp = None
        if getattr(self, "started_docker", False):
            subprocess.run([os.path.join(self.root, "scripts", "docker-daemon.sh"), "stop"])
            self.started_docker = False
        # Containers' root file systems (overlay) and anything under the state dir that was not
        # mounted before the cluster started.
        mounts = sorted(cluster_mounts(self.state) - getattr(self, "mounts_before", set()))
        if mounts:
            errors.append(f"mounts left behind: {mounts}")
        pids_file = os.path.join(self.state, "pids.json")
        if os.path.exists(pids_file):
            os.remove(pids_file)
        if errors:
            raise ClusterError("; ".join(errors))

    @staticmethod
    def down(state_dir):
        """Stops a cluster that an earlier process left running (--keep), by its pid file. Only
        processes whose command line names `state_dir` are signalled (a stale pid file may name
        pids reused since); SIGKILL after 60 s. Returns the pid file's content, or None."""
        path = os.path.join(state_dir, "pids.json")
        if not os.path.exists(path):
            return None
        with open(path) as f:
            info = json.load(f)
        pids = info["pids"]
        order = ["prometheus", "pod-targets", "node-agent"] + [n for n in pids if n.startswith("cp-")][::-1]

        def ours(pid):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    return os.path.abspath(state_dir).encode() in f.read()
            except OSError:
                return False

        for name in order:
            pid = pids.get(name)
            if pid is None or not ours(pid):
                continue
            os.killpg(pid, signal.SIGTERM)
            for _ in range(300):
                if not ours(pid):
                    break
                time.sleep(0.2)
            else:
                os.killpg(pid, signal.SIGKILL)
        os.remove(path)
        return info
