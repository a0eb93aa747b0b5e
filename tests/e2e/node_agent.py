#!/usr/bin/env python3
"""A small kubelet for end-to-end tests: the node agent of ONE node on this machine, running each pod
bound to that node as a Docker container. Standard library only.

  node_agent.py --server URL --token TOKEN --node NAME --state-dir DIR [--docker-host unix:///...]
                [--pod-cidr 127.42.0.0/16] [--cpu 2] [--memory 24Gi] [--ca-file PEM] [--shutdown-grace 10]

Containers share the host's network (the project's dockerd has no bridge); each pod gets its own
loopback address from --pod-cidr (all of 127/8 is local), and one hosts file, bind-mounted at
/etc/hosts in every container, maps `hostname.subdomain` names to them. One worker thread per
bound pod owns its container; a `docker wait` thread per container reports the exit.
SIGTERM/SIGINT: stop and remove every container, delete the Node, exit 0.

This file is the agent itself (the Node, the pod watch, addresses, the hosts file, shutdown);
pod_worker.py runs one pod, kube_client.py talks to the apiserver.
"""
import argparse
import base64
import hashlib
import ipaddress
import json
import os
import platform
import re
import shutil
import signal
import ssl
import subprocess
import sys
import threading
import time
import traceback
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # its modules, from any working directory
from kube_client import Api, ApiError, log, now, quantity  # noqa: E402
from pod_worker import CONFIG, HOST_IP, PodError, Worker  # noqa: E402


class Agent:
    def __init__(self, a):
        self.a, self.node = a, a.node
        self.api = Api(a.server, a.token, a.ca_file)
        self.api_port = urllib.parse.urlparse(a.server).port or 443
        self.state = os.path.abspath(a.state_dir)
        os.makedirs(os.path.join(self.state, "pods"), exist_ok=True)
        self.hosts_path, self.hosts_text = os.path.join(self.state, "hosts"), None
        self.net = ipaddress.ip_network(a.pod_cidr, strict=False)
        self.denv = dict(os.environ, **({"DOCKER_HOST": a.docker_host} if a.docker_host else {}))
        self.lock = threading.Lock()
        self.pods, self.ips, self.used, self.workers, self.finished = {}, {}, {}, {}, set()
        self.stopping = threading.Event()
        self.ready_since, self._ca = now(), None
        with self.lock:
            self._write_hosts()  # containers bind-mount it: it must exist before the first one
        # Names come from the hosts file only: a miss must not reach the host's (off-box) DNS server.
        self.resolv_path = os.path.join(self.state, "resolv.conf")
        with open(self.resolv_path, "w") as f:
            f.write("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")

    def docker(self, *args, timeout=120):
        try:
            r = subprocess.run(["docker", *args], env=self.denv, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return 124, "", f"docker {args[0]} timed out"
        return r.returncode, r.stdout.strip(), r.stderr.strip()

    def inspect(self, kind, ref, strict=False):
        rc, out, err = self.docker(kind, "inspect", ref)
        if rc != 0 and strict and "No such" not in err:  # dockerd away: no news about the image
            raise OSError(f"docker {kind} inspect {ref}: {err}")
        return json.loads(out)[0] if rc == 0 else None

    def pod_ip(self, uid):
        with self.lock:
            return self.ips.get(uid)

    def ca_pem(self):
        if self._ca is None and self.a.ca_file:
            self._ca = open(self.a.ca_file).read()
        elif self._ca is None:  # the chain the apiserver presents: its leaf alone is no anchor for OpenSSL
            host = urllib.parse.urlparse(self.a.server).hostname
            try:
                out = subprocess.run(["openssl", "s_client", "-showcerts", "-connect", f"{host}:{self.api_port}"],
                                     input="", capture_output=True, text=True, timeout=20).stdout
            except (OSError, subprocess.TimeoutExpired):
                out = ""
            pems = re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", out, re.S)
            self._ca = "\n".join(pems) + "\n" if pems else ssl.get_server_certificate((host, self.api_port))
        return self._ca

    def source_data(self, ns, kind, name, optional):
        """A ConfigMap's or Secret's data as bytes by key; {} for a missing optional one."""
        obj = self.api.call("GET", f"/api/v1/namespaces/{ns}/{kind}/{name}", missing_ok=True)
        if obj is None and not optional:
            raise PodError(CONFIG, f'{kind[:-1]} "{name}" not found')
        obj = obj or {}
        data = {k: (base64.b64decode(v) if kind == "secrets" else v.encode()) for k, v in (obj.get("data") or {}).items()}
        return dict(data, **{k: base64.b64decode(v) for k, v in (obj.get("binaryData") or {}).items()})

    def claim_path(self, ns, claim):
        pvc = self.api.call("GET", f"/api/v1/namespaces/{ns}/persistentvolumeclaims/{claim}", missing_ok=True)
        if pvc is None:
            raise PodError(CONFIG, f'persistentvolumeclaim "{claim}" not found')
        name = pvc["spec"].get("volumeName")
        pv = self.api.call("GET", f"/api/v1/persistentvolumes/{name}", missing_ok=True) if name else self.bind(pvc)
        if pv is None or "hostPath" not in pv["spec"]:
            raise PodError(CONFIG, f'claim {ns}/{claim}: persistentvolume "{name}" is missing or not a hostPath '
                           "volume (node-agent mounts only hostPath PVs)")
        hp = pv["spec"]["hostPath"]
        if hp.get("type") == "Directory" and not os.path.isdir(hp["path"]):  # as the kubelet
            raise PodError(CONFIG, f'persistentvolume "{name}": hostPath type check failed: '
                                   f'{hp["path"]} is not a directory')
        if hp.get("type", "") in ("", "DirectoryOrCreate"):
            os.makedirs(hp["path"], 0o755, exist_ok=True)
        return hp["path"]

    def bind(self, pvc):
        """No controller-manager binds claims here: bind it to the smallest Available hostPath PV that fits."""
        m, s = pvc["metadata"], pvc["spec"]
        want = quantity(((s.get("resources") or {}).get("requests") or {}).get("storage", "0"))
        sc, modes = s.get("storageClassName") or "", set(s.get("accessModes") or [])
        size = lambda pv: quantity(pv["spec"].get("capacity", {}).get("storage", "0"))  # noqa: E731
        fits = [pv for pv in self.api.call("GET", "/api/v1/persistentvolumes")["items"]
                if not pv["spec"].get("claimRef") and "hostPath" in pv["spec"] and size(pv) >= want
                and (pv["spec"].get("storageClassName") or "") == sc and modes <= set(pv["spec"].get("accessModes") or [])]
        if not fits:
            raise PodError(CONFIG, f"claim {m['namespace']}/{m['name']} is unbound and no Available hostPath "
                           f"PersistentVolume of class {sc!r} holds {want} bytes")
        pv = min(fits, key=size)
        name, claim = pv["metadata"]["name"], f"/api/v1/namespaces/{m['namespace']}/persistentvolumeclaims/{m['name']}"
        ref = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "namespace": m["namespace"], "name": m["name"],
               "uid": m["uid"]}
        try:  # the resourceVersion fails the patch if someone took the PV meanwhile
            self.api.call("PATCH", f"/api/v1/persistentvolumes/{name}", {
                "metadata": {"resourceVersion": pv["metadata"]["resourceVersion"]}, "spec": {"claimRef": ref}})
            self.api.call("PATCH", claim, {"metadata": {"annotations": {"pv.kubernetes.io/bind-completed": "yes"}},
                                           "spec": {"volumeName": name}})
            self.api.call("PATCH", f"/api/v1/persistentvolumes/{name}/status", {"status": {"phase": "Bound"}})
            self.api.call("PATCH", claim + "/status", {"status": {
                "phase": "Bound", "capacity": pv["spec"]["capacity"], "accessModes": pv["spec"].get("accessModes")}})
        except ApiError as e:
            raise PodError(CONFIG, f"binding claim {m['name']} to {name}: {e}")
        log(f"bound claim {m['namespace']}/{m['name']} to persistentvolume {name}")
        return pv

    # --- the Node -------------------------------------------------------------------------------
    def node_status(self):
        cap = {"cpu": self.a.cpu, "memory": self.a.memory, "pods": "110"}
        arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
        return {"capacity": cap, "allocatable": cap,
                "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "lastHeartbeatTime": now(),
                                "lastTransitionTime": self.ready_since, "message": "node-agent is posting ready status"}],
                "addresses": [{"type": "InternalIP", "address": HOST_IP}, {"type": "Hostname", "address": self.node}],
                "nodeInfo": {"kubeletVersion": "v0.0.0-node-agent", "containerRuntimeVersion": "docker://",
                             "operatingSystem": "linux", "architecture": arch, "kernelVersion": platform.release(),
                             "osImage": "node-agent", "kubeProxyVersion": "", "machineID": "", "systemUUID": "",
                             "bootID": ""}}

    def register(self):
        labels = {"kubernetes.io/hostname": self.node, "kubernetes.io/os": "linux"}
        try:
            self.api.call("POST", "/api/v1/nodes", {"apiVersion": "v1", "kind": "Node",
                                                    "metadata": {"name": self.node, "labels": labels}})
        except ApiError as e:
            if e.code != 409:
                raise
            node = self.api.call("GET", f"/api/v1/nodes/{self.node}")
            taints = [t for t in node["spec"].get("taints") or [] if t["key"] != "node.kubernetes.io/not-ready"]
            self.api.call("PATCH", f"/api/v1/nodes/{self.node}", {"metadata": {"labels": labels},
                                                                  "spec": {"taints": taints or None}})
        self.api.call("PATCH", f"/api/v1/nodes/{self.node}/status", {"status": self.node_status()})
        log(f"registered node {self.node} (cpu {self.a.cpu}, memory {self.a.memory}, pod CIDR {self.net})")

    def heartbeat(self):
        while not self.stopping.wait(10):
            try:
                self.api.call("PATCH", f"/api/v1/nodes/{self.node}/status", {"status": self.node_status()})
            except (ApiError, OSError) as e:
                log(f"heartbeat failed: {e}")
                if getattr(e, "code", 0) == 404 and not self.stopping.is_set():
                    self._try(self.register)  # someone deleted the Node

    def _try(self, fn):
        try:
            fn()
            return True
        except (ApiError, OSError) as e:
            log(f"{fn.__name__} failed: {e}")
            return False

    # --- pods -----------------------------------------------------------------------------------
    def watch(self):
        rv, backoff, first = None, 0.5, True
        while not self.stopping.is_set():
            try:
                if rv is None:
                    items = self.api.call("GET", "/api/v1/pods")
                    rv, items = items["metadata"]["resourceVersion"], items["items"]
                    if first:  # containers of an earlier agent of this node
                        self.cleanup_leftovers()
                        first = False
                    with self.lock:
                        for uid in set(self.pods) - {p["metadata"]["uid"] for p in items}:
                            self._gone(uid)
                        for p in items:
                            self._seen(p)
                        self._write_hosts()
                q = urllib.parse.urlencode({"watch": 1, "resourceVersion": rv, "allowWatchBookmarks": "true",
                                            "timeoutSeconds": 60})
                with self.api.open("GET", f"/api/v1/pods?{q}", timeout=90) as resp:
                    for line in resp:
                        ev = json.loads(line)
                        if ev["type"] == "ERROR":  # 410 Gone: too old, list again; others: back off
                            raise ApiError(ev["object"].get("code", 500), ev["object"].get("message", ""))
                        rv = ev["object"]["metadata"]["resourceVersion"]
                        if ev["type"] != "BOOKMARK":
                            with self.lock:
                                if ev["type"] == "DELETED":
                                    self._gone(ev["object"]["metadata"]["uid"])
                                else:
                                    self._seen(ev["object"])
                                self._write_hosts()
                backoff = 0.5
            except Exception as e:  # noqa: BLE001 - the watch must go on whatever happens
                if getattr(e, "code", 0) == 410:
                    rv = None
                    continue
                if not isinstance(e, TimeoutError):
                    log(f"pod watch: {e!r}; again in {backoff} s" + ("" if isinstance(e, (ApiError, OSError))
                                                                      else "\n" + traceback.format_exc()))
                self.stopping.wait(backoff)
                backoff = min(backoff * 2, 5)

    def cleanup_leftovers(self):
        """Every container labelled ours is an earlier agent's: its pod is gone or gets a fresh one."""
        for cid in self.docker("ps", "-aq", "--filter", f"label=disttgl-node-agent={self.node}")[1].split():
            self.docker("rm", "-f", "-v", cid)
            log(f"removed leftover container {cid}")
        for uid in os.listdir(os.path.join(self.state, "pods")):
            shutil.rmtree(os.path.join(self.state, "pods", uid), ignore_errors=True)

    def _seen(self, pod):  # under self.lock
        uid = pod["metadata"]["uid"]
        self.pods[uid] = pod
        self._assign_ip(pod)
        if pod["spec"].get("nodeName") != self.node or self.stopping.is_set() or uid in self.finished:
            return
        if uid in self.workers:
            self.workers[uid].update(pod)
        else:
            self.workers[uid] = Worker(self, pod)
            self.workers[uid].start()

    def _gone(self, uid):  # under self.lock
        self.pods.pop(uid, None)
        ip = self.ips.pop(uid, None)
        if self.used.get(ip) == uid:
            del self.used[ip]
        self.finished.discard(uid)
        if uid in self.workers:
            self.workers[uid].update(removed=True)

    def _assign_ip(self, pod):  # under self.lock
        uid, spec = pod["metadata"]["uid"], pod["spec"]
        if spec.get("hostNetwork"):
            self.ips[uid] = HOST_IP
            return
        cur, reported = self.ips.get(uid), (pod.get("status") or {}).get("podIP")
        foreign = spec.get("nodeName") not in (None, self.node)
        # Another agent's pod keeps the address its agent reported; ours keep theirs after a restart.
        if reported and reported != cur and self.used.get(reported) in (None, uid) and \
                (foreign or (cur is None and ipaddress.ip_address(reported) in self.net)):
            self.used.pop(cur, None)
            self.ips[uid], self.used[reported] = reported, uid
        elif cur is None:  # hashing the UID: agents sharing a CIDR agree before the pod's own agent reports
            size = self.net.num_addresses - 2
            start = int(hashlib.sha256(uid.encode()).hexdigest(), 16) % size
            for i in range(size):
                ip = str(self.net.network_address + 1 + (start + i) % size)
                if ip not in self.used:
                    self.ips[uid], self.used[ip] = ip, uid
                    return
            log(f"pod CIDR {self.net} is full: {pod['metadata']['name']} gets no address")

    def _write_hosts(self):  # under self.lock
        if self.stopping.is_set():
            return
        lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
        for uid, p in sorted(self.pods.items(), key=lambda kv: (kv[1]["metadata"]["namespace"], kv[1]["metadata"]["name"])):
            h, sd, ns = p["spec"].get("hostname"), p["spec"].get("subdomain"), p["metadata"]["namespace"]
            if h and sd and uid in self.ips:
                lines.append(f"{self.ips[uid]}\t{h}.{sd} {h}.{sd}.{ns}.svc {h}.{sd}.{ns}.svc.cluster.local {h}")
        text = "\n".join(lines) + "\n"
        if text != self.hosts_text:  # in place: containers bind-mount this inode, a rename would not reach them
            with os.fdopen(os.open(self.hosts_path, os.O_RDWR | os.O_CREAT, 0o644), "r+") as f:
                f.write(text)
                f.truncate()
            self.hosts_text = text

    def worker_done(self, w):
        with self.lock:
            self.workers.pop(w.uid, None)
            self.finished.add(w.uid)  # its later events start nothing

    # --- life -----------------------------------------------------------------------------------
    def run(self, done):
        while not self._try(self.register):
            if done.wait(2):
                return 0
        hb = threading.Thread(target=self.heartbeat, daemon=True)
        hb.start()
        threading.Thread(target=self.watch, daemon=True).start()
        while not done.wait(1):
            pass
        t0 = time.time()
        with self.lock:
            self.stopping.set()
            workers = list(self.workers.values())
        for w in workers:
            w.update()
        deadline = time.time() + self.a.shutdown_grace + 60
        for w in workers:
            w.join(max(1, deadline - time.time()))
        for cid in self.docker("ps", "-aq", "--filter", f"label=disttgl-node-agent={self.node}")[1].split():
            self.docker("rm", "-f", "-v", cid)  # a safety net, e.g. for a hung worker
            log(f"removed container {cid} at shutdown")
        hb.join(15)
        shutil.rmtree(os.path.join(self.state, "pods"), ignore_errors=True)
        for f in (self.hosts_path, self.resolv_path):
            if os.path.exists(f):
                os.remove(f)
        try:
            self.api.call("DELETE", f"/api/v1/nodes/{self.node}")
            log(f"deleted node {self.node}; stopped {len(workers)} pods in {time.time() - t0:.1f} s")
        except (ApiError, OSError) as e:
            log(f"deleting node {self.node} failed: {e}")
        return 0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--server", required=True, help="https://HOST:PORT of kube-apiserver")
    p.add_argument("--token", required=True, help="bearer token with rights on nodes, pods, tokens, PVs")
    p.add_argument("--node", required=True, help="the Node's name")
    p.add_argument("--state-dir", required=True, help="for the hosts file, emptyDirs, configMaps, tokens")
    p.add_argument("--docker-host", help="DOCKER_HOST for the docker CLI (default: the environment's)")
    p.add_argument("--pod-cidr", default="127.42.0.0/16", help="pod addresses (loopback: all of 127/8 is local)")
    p.add_argument("--cpu", default="2", help="the Node's cpu capacity")
    p.add_argument("--memory", default="24Gi", help="the Node's memory capacity")
    p.add_argument("--ca-file", help="verify the apiserver with this PEM (default: no verification)")
    p.add_argument("--shutdown-grace", type=int, default=10, help="most seconds a container gets at shutdown")
    a = p.parse_args()
    done = threading.Event()

    def on_signal(signum, _frame):
        log(f"{signal.Signals(signum).name}: stopping every container")
        done.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    return Agent(a).run(done)


if __name__ == "__main__":
    sys.exit(main())
