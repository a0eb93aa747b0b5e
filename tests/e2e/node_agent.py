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
"""
import argparse
import base64
import datetime
import hashlib
import ipaddress
import json
import math
import os
import platform
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request
from decimal import Decimal

SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
HOST_IP = "127.0.0.1"
CONFIG = "CreateContainerConfigError"


def log(msg):
    print("node-agent: " + msg, file=sys.stderr, flush=True)


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def docker_time(s):
    # Docker's RFC 3339 has nanoseconds, the API wants seconds; "0001-..." means never.
    return None if not s or s.startswith("0001-") else s[:19] + "Z"


_SUFFIX = {"n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1)}
_SUFFIX.update({s: Decimal(10) ** (3 * i + 3) for i, s in enumerate("kMGTPE")})
_SUFFIX.update({s + "i": Decimal(2) ** (10 * i + 10) for i, s in enumerate("KMGTPE")})


def quantity(q):
    """A Kubernetes quantity ("500m", "2", "1Gi", "1e3") as a Decimal."""
    m = re.fullmatch(r"([+-]?(?:\d+\.?\d*|\.\d+))((?:[eE][+-]?\d+)?)([a-zA-Z]*)", str(q).strip())
    if not m or m.group(3) not in _SUFFIX:
        raise ValueError(f"bad quantity {q!r}")
    return Decimal(m.group(1) + m.group(2)) * _SUFFIX[m.group(3)]


def expand(s, env):
    """Kubernetes' $(VAR) expansion: `$$` is a literal `$`, an undefined $(X) stays as written."""
    return re.sub(r"\$\$|\$\(([^)]+)\)", lambda m: "$" if m.group(0) == "$$" else env.get(m.group(1), m.group(0)), s)


class PodError(Exception):
    """Why a pod cannot start (yet): its container waits with this reason."""

    def __init__(self, reason, msg, permanent=False):
        super().__init__(msg)
        self.reason, self.permanent = reason, permanent


class ApiError(Exception):
    def __init__(self, code, text):
        super().__init__(f"HTTP {code}: {text[:300]}")
        self.code = code


class Api:
    def __init__(self, server, token, ca_file):
        self.server, self.token = server.rstrip("/"), token
        self.ctx = ssl.create_default_context(cafile=ca_file)
        if not ca_file:  # test apiservers serve a self-signed cert
            self.ctx.check_hostname, self.ctx.verify_mode = False, ssl.CERT_NONE

    def open(self, method, path, body=None, ctype="application/json", timeout=30):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.server + path, method=method, data=data, headers={
            "Authorization": "Bearer " + self.token, "Accept": "application/json", "Content-Type": ctype})
        try:
            return urllib.request.urlopen(req, context=self.ctx, timeout=timeout)
        except urllib.error.HTTPError as e:
            raise ApiError(e.code, e.read().decode(errors="replace")) from None

    def call(self, method, path, body=None, missing_ok=False):
        ctype = "application/merge-patch+json" if method == "PATCH" else "application/json"
        try:
            with self.open(method, path, body, ctype) as r:
                raw = r.read()
        except ApiError as e:
            if missing_ok and e.code == 404:
                return None
            raise
        return json.loads(raw) if raw else {}


class Worker(threading.Thread):
    """Owns one bound pod: starts its container, reports its status, probes, restarts, deletes it."""

    def __init__(self, agent, pod):
        super().__init__(daemon=True)
        m, status = pod["metadata"], pod.get("status") or {}
        self.ag, self.pod, self.uid, self.ns, self.name = agent, pod, m["uid"], m["namespace"], m["name"]
        self.key, self.dir = f"{self.ns}/{self.name}", os.path.join(agent.state, "pods", m["uid"])
        self.cv = threading.Condition()
        self.kick = self.removed = self.exited = self.running = self.ready = False
        self.terminal = status.get("phase") in ("Succeeded", "Failed")  # never run a finished pod again
        self.cid = self.image_id = self.started_at = self.last_term = self.sent = self.error = self.token_at = None
        self.start_time = status.get("startTime")
        self.restarts, self.backoff, self.restart_at, self.retry_at = 0, 1, None, 0
        self.probe_at, self.probe_ok, self.probe_fail = 0, 0, 0
        # Keep the scheduler's PodScheduled time; ours change only when their status does.
        self.ltt = {c["type"]: (c["status"], c.get("lastTransitionTime")) for c in status.get("conditions") or []}

    def update(self, pod=None, removed=False):
        with self.cv:
            self.pod, self.removed, self.kick = pod or self.pod, self.removed or removed, True
            self.cv.notify()

    def run(self):
        while True:
            with self.cv:
                pod, removed = self.pod, self.removed
            stopping = self.ag.stopping.is_set()
            if stopping or removed or pod["metadata"].get("deletionTimestamp"):
                grace = pod["metadata"].get("deletionGracePeriodSeconds")
                grace = pod["spec"].get("terminationGracePeriodSeconds", 30) if grace is None else grace
                try:
                    self.teardown(min(grace, self.ag.a.shutdown_grace) if stopping else grace)
                    if not stopping and not removed:
                        self.finish_delete()
                finally:
                    self.ag.worker_done(self)
                return
            try:
                wait = self.step(pod)
            except Exception:  # a bug must not orphan the pod: log it, try again later
                log(f"pod {self.key}: internal error:\n{traceback.format_exc()}")
                wait = 5
            with self.cv:
                if not self.kick:
                    self.cv.wait(wait)
                self.kick = False

    def step(self, pod):
        """One pass over the pod; returns how long nothing needs doing."""
        if self.terminal:
            return 60
        c = pod["spec"]["containers"][0]
        if self.cid is None:
            if time.time() < self.retry_at:
                return self.retry_at - time.time()
            try:
                return self.launch(pod, c) or 0.2
            except (ApiError, OSError) as e:  # the apiserver or dockerd is away: no status to report
                if repr(e) != self.error:
                    log(f"pod {self.key} cannot start yet: {e!r}")
                self.retry_at, self.error = time.time() + 2, repr(e)
                return 2
            except PodError as e:
                self.retry_at = time.time() + (3600 if e.permanent else 5)  # a ConfigMap, an image may come
                if str(e) != self.error:
                    log(f"pod {self.key} cannot start: {e.reason}: {e}")
                    self.error = str(e)
                self.report(pod, "Pending", {"waiting": {"reason": e.reason, "message": str(e)}},
                            **({"reason": "Unsupported", "message": str(e)} if e.permanent else {}))
                return 5
        if self.exited:
            self.handle_exit(pod)
        if self.restart_at and time.time() >= self.restart_at:
            self.restart(pod, c)
            if self.cid is None:  # it was gone: launch a new one now
                return 0.2
        due = [time.time() + 30] + ([self.restart_at] if self.restart_at else [])
        if self.running and c.get("readinessProbe"):
            due.append(self.readiness(pod, c, c["readinessProbe"]))
        if self.token_at:
            if time.time() >= self.token_at:
                self.refresh_token(pod)
            due.append(self.token_at)
        return max(0.2, min(due) - time.time())

    # --- starting -------------------------------------------------------------------------------
    def launch(self, pod, c):
        spec, ag = pod["spec"], self.ag
        if len(spec["containers"]) != 1 or spec.get("initContainers"):
            raise PodError("Unsupported", f"Warning: node-agent runs pods of exactly one container and no init "
                           f"containers; this one has {len(spec['containers'])} and "
                           f"{len(spec.get('initContainers') or [])}", permanent=True)
        self.start_time = self.start_time or now()
        info = ag.inspect("image", c["image"], strict=True)
        if info is None:
            raise PodError("ErrImageNeverPull", f'Container image "{c["image"]}" is not present on node {ag.node} '
                           "and node-agent never pulls: build or load it there")
        ip = ag.pod_ip(self.uid)
        env = self.environment(pod, c, ip)
        args = ["run", "-d", "--name", f"k8s_{self.ns}_{self.name}_{self.uid[:8]}", "--network", "host",
                "--hostname", (spec.get("hostname") or self.name)[:63], "--label", f"disttgl-node-agent={ag.node}",
                "--label", f"io.kubernetes.pod.uid={self.uid}", "--label", f"io.kubernetes.pod.name={self.name}",
                "--label", f"io.kubernetes.pod.namespace={self.ns}", "--label", f"io.kubernetes.container.name={c['name']}",
                "--stop-timeout", str(spec.get("terminationGracePeriodSeconds", 30)),
                "--mount", f"type=bind,source={ag.hosts_path},target=/etc/hosts,readonly",
                "--mount", f"type=bind,source={ag.resolv_path},target=/etc/resolv.conf,readonly"]
        args += self.security(pod, c, info) + self.mounts(pod, c) + self.sa_mount(pod, c)
        limits = (c.get("resources") or {}).get("limits") or {}
        if "cpu" in limits:  # docker refuses more CPUs than the host has
            args += ["--cpus", str(min(quantity(limits["cpu"]), Decimal(os.cpu_count())))]
        if "memory" in limits:
            args += ["--memory", str(int(quantity(limits["memory"])))]
        if c.get("workingDir"):
            args += ["--workdir", c["workingDir"]]
        for k, v in env.items():
            args += ["--env", f"{k}={v}"]
        command, cargs = ([expand(x, env) for x in c.get(k) or []] for k in ("command", "args"))
        args += (["--entrypoint", command[0], c["image"]] + command[1:] if command else [c["image"]]) + cargs
        self.image_id = "docker://" + info["Id"]
        rc, out, err = ag.docker(*args)
        made = ag.docker("ps", "-aq", "--no-trunc", "--filter", f"label=io.kubernetes.pod.uid={self.uid}")[1]
        if not made:  # refused before it existed: retry later
            raise PodError("CreateContainerError", f"docker run: {err or out}")
        self.cid, self.running = made.split()[0], True  # when the start failed, the waiter sees it exited
        st = (ag.inspect("container", self.cid) or {}).get("State", {})
        self.started_at = docker_time(st.get("StartedAt")) or now()
        self.arm(c)
        log(f"started pod {self.key} as {self.cid[:12]} ip {ip}" if rc == 0 else
            f"pod {self.key}: container {self.cid[:12]} failed to start: {err.splitlines()[0] if err else rc}")
        self.report_running(pod)

    def arm(self, c):
        """After a (re)start: readiness from scratch, and a `docker wait` thread for the exit."""
        self.ready = not c.get("readinessProbe")  # no probe: ready once running
        self.probe_ok = self.probe_fail = 0
        self.probe_at = time.time() + (c.get("readinessProbe") or {}).get("initialDelaySeconds", 0)
        cid = self.cid

        def wait():
            if self.ag.docker("wait", cid, timeout=None)[0] != 0:
                time.sleep(1)  # dockerd trouble: handle_exit checks the state
            with self.cv:
                if self.cid == cid:
                    self.exited = self.kick = True
                    self.cv.notify()
        threading.Thread(target=wait, daemon=True).start()

    def environment(self, pod, c, ip):
        port = str(self.ag.api_port)  # the apiserver is on loopback, like the pods
        env = {"KUBERNETES_SERVICE_HOST": HOST_IP, "KUBERNETES_SERVICE_PORT": port,
               "KUBERNETES_SERVICE_PORT_HTTPS": port, "KUBERNETES_PORT": f"tcp://{HOST_IP}:{port}"}
        for e in c.get("env") or []:
            v = self.value_from(pod, c, e["valueFrom"], ip) if "valueFrom" in e else expand(e.get("value", ""), env)
            if v is not None:
                env[e["name"]] = v
        return env

    def value_from(self, pod, c, vf, ip):
        if "fieldRef" in vf:
            path, meta = vf["fieldRef"]["fieldPath"], pod["metadata"]
            m = re.fullmatch(r"metadata\.(labels|annotations)\['(.*)'\]", path)
            if m:
                return (meta.get(m.group(1)) or {}).get(m.group(2), "")
            fields = {"metadata.name": self.name, "metadata.namespace": self.ns, "metadata.uid": self.uid,
                      "spec.nodeName": self.ag.node, "spec.serviceAccountName": pod["spec"].get("serviceAccountName") or "default",
                      "status.podIP": ip, "status.podIPs": ip, "status.hostIP": HOST_IP, "status.hostIPs": HOST_IP}
            if path not in fields:
                raise PodError(CONFIG, f"unsupported fieldRef {path}")
            return fields[path]
        if "resourceFieldRef" in vf:
            ref = vf["resourceFieldRef"]
            kind, _, res = ref["resource"].partition(".")
            have = ((c.get("resources") or {}).get(kind) or {}).get(res)
            if have is None:  # like the kubelet: an unset limit is the node's allocatable
                have = {"cpu": self.ag.a.cpu, "memory": self.ag.a.memory}.get(res, "0") if kind == "limits" else "0"
            div = quantity(ref.get("divisor") or "1") or 1  # the apiserver defaults it to "0", meaning 1
            return str(math.ceil(quantity(have) / div))  # cpu: whole cores
        for key, kind in (("configMapKeyRef", "configmaps"), ("secretKeyRef", "secrets")):
            if key in vf:
                ref = vf[key]
                data = self.ag.source_data(self.ns, kind, ref["name"], ref.get("optional"))
                if ref["key"] in data:
                    return data[ref["key"]].decode(errors="replace")
                if ref.get("optional"):
                    return None
                raise PodError(CONFIG, f"couldn't find key {ref['key']} in {kind[:-1]} {self.ns}/{ref['name']}")
        raise PodError(CONFIG, f"unsupported valueFrom {sorted(vf)}")

    def security(self, pod, c, info):
        psc, csc = pod["spec"].get("securityContext") or {}, c.get("securityContext") or {}
        uid, gid, nonroot = (csc.get(k, psc.get(k)) for k in ("runAsUser", "runAsGroup", "runAsNonRoot"))
        image_user = (info.get("Config", {}).get("User") or "").split(":")[0]
        where = f'(pod: "{self.name}_{self.ns}({self.uid})", container: {c["name"]})'
        if nonroot and uid == 0:
            raise PodError(CONFIG, f"container's runAsUser breaks non-root policy {where}")
        if nonroot and uid is None and image_user in ("", "root", "0"):
            raise PodError(CONFIG, f"container has runAsNonRoot and image will run as root {where}")
        if nonroot and uid is None and not image_user.isdigit():
            raise PodError(CONFIG, f"container has runAsNonRoot and image has non-numeric user ({image_user}), "
                           f"cannot verify user is non-root {where}")
        args = []
        if uid is not None or gid is not None:
            user = str(uid) if uid is not None else (image_user or "0")
            args += ["--user", user if gid is None else f"{user}:{gid}"]
        for g in (psc.get("supplementalGroups") or []) + ([psc["fsGroup"]] if "fsGroup" in psc else []):
            args += ["--group-add", str(g)]
        caps = csc.get("capabilities") or {}
        args += [x for cap in caps.get("drop") or [] for x in ("--cap-drop", cap)]
        args += [x for cap in caps.get("add") or [] for x in ("--cap-add", cap)]
        args += ["--privileged"] if csc.get("privileged") else []
        args += ["--read-only"] if csc.get("readOnlyRootFilesystem") else []
        args += ["--security-opt", "no-new-privileges"] if csc.get("allowPrivilegeEscalation") is False else []
        return args

    def mounts(self, pod, c):
        vols, paths, args = {v["name"]: v for v in pod["spec"].get("volumes") or []}, {}, []
        for m in c.get("volumeMounts") or []:
            name = m["name"]
            if name not in vols:
                raise PodError(CONFIG, f'volumeMount "{name}" names no volume of the pod')
            src, ro = paths.setdefault(name, self.volume(vols[name]))
            if m.get("subPath"):
                sub = os.path.normpath(m["subPath"])
                if sub.startswith("..") or os.path.isabs(sub):
                    raise PodError(CONFIG, f"subPath {m['subPath']!r} leaves its volume")
                src = os.path.join(src, sub)
                os.makedirs(src, 0o777, exist_ok=True) if not os.path.exists(src) else None
            if "," in src + m["mountPath"]:  # --mount is comma-separated
                raise PodError(CONFIG, f"a comma in mount {src} -> {m['mountPath']} is unsupported")
            ro = ",readonly" if ro or m.get("readOnly") else ""
            args += ["--mount", f"type=bind,source={src},target={m['mountPath']}{ro}"]
        return args

    def volume(self, v):
        """(host path, read-only) of a pod volume; emptyDir, configMap and secret files live in the state dir."""
        d = os.path.join(self.dir, "volumes", v["name"])
        if "hostPath" in v:
            path, kind = v["hostPath"]["path"], v["hostPath"].get("type", "")
            if kind == "FileOrCreate" and not os.path.exists(path):
                os.makedirs(os.path.dirname(path), 0o755, exist_ok=True)
                open(path, "a").close()
            elif kind in ("", "DirectoryOrCreate"):
                os.makedirs(path, 0o755, exist_ok=True)
            return path, False
        if "emptyDir" in v:
            os.makedirs(d, exist_ok=True)
            os.chmod(d, 0o777)  # the images run as non-root users
            return d, False
        if "configMap" in v or "secret" in v:
            src, kind = (v["configMap"], "configmaps") if "configMap" in v else (v["secret"], "secrets")
            name = src.get("name") or src.get("secretName")
            data = self.ag.source_data(self.ns, kind, name, src.get("optional"))
            shutil.rmtree(d, ignore_errors=True)
            os.makedirs(d, 0o755)
            for it in src.get("items") or [{"key": k, "path": k} for k in data]:
                if it["key"] not in data and not src.get("optional"):
                    raise PodError(CONFIG, f'volume "{v["name"]}": no key {it["key"]} in {kind[:-1]} {name}')
                f = os.path.join(d, it["path"])
                os.makedirs(os.path.dirname(f), 0o755, exist_ok=True)
                with open(f, "wb") as out:
                    out.write(data.get(it["key"], b""))
                os.chmod(f, it.get("mode", src.get("defaultMode", 0o644)))
            return d, True
        if "persistentVolumeClaim" in v:
            pvc = v["persistentVolumeClaim"]
            return self.ag.claim_path(self.ns, pvc["claimName"]), bool(pvc.get("readOnly"))
        raise PodError(CONFIG, f'volume "{v["name"]}": node-agent does not support {sorted(set(v) - {"name"})} volumes '
                       "(only hostPath, emptyDir, configMap, secret, persistentVolumeClaim of a hostPath PV)")

    def sa_mount(self, pod, c):
        spec = pod["spec"]
        auto = spec.get("automountServiceAccountToken")
        if auto is False or any(m.get("mountPath") == SA_DIR for m in c.get("volumeMounts") or []):
            return []
        sa = spec.get("serviceAccountName") or "default"
        obj = self.ag.api.call("GET", f"/api/v1/namespaces/{self.ns}/serviceaccounts/{sa}", missing_ok=True)
        if obj is None:
            raise PodError(CONFIG, f'serviceaccount "{sa}" not found in namespace {self.ns} (no controller-manager '
                           "creates it here: create it, or set automountServiceAccountToken: false)")
        if auto is None and obj.get("automountServiceAccountToken") is False:
            return []
        os.makedirs(os.path.join(self.dir, "sa"), exist_ok=True)
        for name, text in (("ca.crt", self.ag.ca_pem()), ("namespace", self.ns)):
            with open(os.path.join(self.dir, "sa", name), "w") as f:
                f.write(text)
        self.refresh_token(pod)
        return ["--mount", f"type=bind,source={self.dir}/sa,target={SA_DIR},readonly"]

    def refresh_token(self, pod):
        sa = pod["spec"].get("serviceAccountName") or "default"
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"expirationSeconds": 3600}}
        if pod["spec"].get("serviceAccountName"):  # the apiserver binds only to a pod that names its account
            body["spec"]["boundObjectRef"] = {"apiVersion": "v1", "kind": "Pod", "name": self.name, "uid": self.uid}
        try:
            token = self.ag.api.call("POST", f"/api/v1/namespaces/{self.ns}/serviceaccounts/{sa}/token",
                                     body)["status"]["token"]
        except (ApiError, OSError) as e:
            if self.cid is None:
                raise PodError(CONFIG, f"token request for serviceaccount {sa}: {e}")
            log(f"pod {self.key}: token refresh failed, retrying in 60 s: {e}")
            self.token_at = time.time() + 60
            return
        path = os.path.join(self.dir, "sa", "token")
        with open(path + ".tmp", "w") as f:  # the directory is mounted, so a rename shows through
            f.write(token)
        os.chmod(path + ".tmp", 0o644)
        os.replace(path + ".tmp", path)
        self.token_at = time.time() + 1800  # the token lives 1 h

    # --- running --------------------------------------------------------------------------------
    def readiness(self, pod, c, p):
        if time.time() >= self.probe_at:
            ok = self.probe(c, p)
            self.probe_at = time.time() + p.get("periodSeconds", 10)
            self.probe_ok, self.probe_fail = (self.probe_ok + 1, 0) if ok else (0, self.probe_fail + 1)
            if (not self.ready and self.probe_ok >= p.get("successThreshold", 1)) or \
                    (self.ready and self.probe_fail >= p.get("failureThreshold", 3)):
                self.ready = not self.ready
                log(f"pod {self.key} is {'ready' if self.ready else 'not ready'}")
                self.report_running(pod)
        return self.probe_at

    def probe(self, c, p):
        timeout = p.get("timeoutSeconds", 1)
        try:
            if "exec" in p:  # docker exec alone takes a while on a busy host
                return self.ag.docker("exec", self.cid, *p["exec"]["command"], timeout=max(timeout, 5))[0] == 0
            kind = "tcpSocket" if "tcpSocket" in p else "httpGet"
            port, host = p[kind]["port"], p[kind].get("host") or self.ag.pod_ip(self.uid)
            if not str(port).isdigit():  # a named container port
                port = next(x["containerPort"] for x in c.get("ports") or [] if x.get("name") == port)
            if kind == "tcpSocket":
                socket.create_connection((host, int(port)), timeout=timeout).close()
                return True
            g = p[kind]
            req = urllib.request.Request(f"{g.get('scheme', 'HTTP').lower()}://{host}:{port}{g.get('path', '/')}",
                                         headers={h["name"]: h["value"] for h in g.get("httpHeaders") or []})
            try:  # like the kubelet: no TLS verification, 2xx and 3xx succeed
                with urllib.request.urlopen(req, timeout=timeout, context=ssl._create_unverified_context()) as r:
                    return 200 <= r.status < 400
            except urllib.error.HTTPError as e:
                return 200 <= e.code < 400
        except (OSError, KeyError, StopIteration, ValueError):
            return False

    def handle_exit(self, pod):
        self.exited = False
        st = (self.ag.inspect("container", self.cid) or {}).get("State", {})
        if st.get("Running"):  # `docker wait` failed, the container still runs
            return self.arm(pod["spec"]["containers"][0])
        self.running = self.ready = False
        code = st.get("ExitCode", 128)
        reason = "StartError" if st.get("Error") else "OOMKilled" if st.get("OOMKilled") else \
            "Completed" if code == 0 else "Error"
        term = {"exitCode": code, "reason": reason, "startedAt": docker_time(st.get("StartedAt")) or self.started_at,
                "finishedAt": docker_time(st.get("FinishedAt")) or now(), "containerID": "docker://" + self.cid}
        if st.get("Error"):
            term["message"] = st["Error"]
        log(f"pod {self.key}: container {self.cid[:12]} exited with {code} ({reason})")
        policy = pod["spec"].get("restartPolicy", "Always")
        if policy == "Never" or (policy == "OnFailure" and code == 0):
            self.terminal = True
            phase = "Succeeded" if code == 0 else "Failed"
            log(f"pod {self.key} {phase}")
            return self.report(pod, phase, {"terminated": term})
        started = datetime.datetime.strptime(term["startedAt"], "%Y-%m-%dT%H:%M:%SZ")
        if time.time() - started.replace(tzinfo=datetime.timezone.utc).timestamp() > 60:
            self.backoff = 1  # it ran a while: no crash loop
        self.last_term, self.restart_at = term, time.time() + self.backoff
        msg = f"back-off {self.backoff}s restarting failed container={pod['spec']['containers'][0]['name']}"
        self.backoff = min(self.backoff * 2, 30)
        self.report(pod, "Running", {"waiting": {"reason": "CrashLoopBackOff", "message": msg}})

    def restart(self, pod, c):
        self.restart_at, self.restarts = None, self.restarts + 1
        if self.ag.inspect("container", self.cid) is None:  # removed behind our back: the next step runs a new one
            log(f"pod {self.key}: container {self.cid[:12]} is gone, creating another")
            self.cid = None
            return
        rc, _, err = self.ag.docker("start", self.cid)
        st = (self.ag.inspect("container", self.cid) or {}).get("State", {})
        self.started_at, self.running = docker_time(st.get("StartedAt")) or now(), True
        self.arm(c)
        log(f"restarted pod {self.key} ({self.cid[:12]}, restart {self.restarts})" +
            (f": {err.splitlines()[0]}" if rc and err else ""))
        self.report_running(pod)

    def report_running(self, pod):
        self.report(pod, "Running", {"running": {"startedAt": self.started_at}}, ready=self.ready)

    def report(self, pod, phase, state, ready=False, reason=None, message=None):
        c, ip = pod["spec"]["containers"][0], self.ag.pod_ip(self.uid)
        why = None if ready else "PodCompleted" if phase in ("Succeeded", "Failed") else "ContainersNotReady"
        conds = [self.cond("PodScheduled", True), self.cond("Initialized", True),
                 self.cond("ContainersReady", ready, why), self.cond("Ready", ready, why)]
        cs = {"name": c["name"], "image": c["image"], "imageID": self.image_id or "", "ready": ready,
              "started": "running" in state, "restartCount": self.restarts, "state": state,
              "lastState": {"terminated": self.last_term} if self.last_term else {}}
        if self.cid:
            cs["containerID"] = "docker://" + self.cid
        st = {"phase": phase, "hostIP": HOST_IP, "hostIPs": [{"ip": HOST_IP}], "startTime": self.start_time,
              "podIP": ip, "podIPs": [{"ip": ip}] if ip else None, "conditions": conds,
              "containerStatuses": [cs], "reason": reason, "message": message}  # None: a merge patch deletes
        if st != self.sent:
            try:
                self.ag.api.call("PATCH", f"/api/v1/namespaces/{self.ns}/pods/{self.name}/status", {"status": st})
                self.sent = st
            except (ApiError, OSError) as e:
                log(f"pod {self.key}: status update failed: {e}")

    def cond(self, kind, ok, reason=None):
        status = "True" if ok else "False"
        if self.ltt.get(kind, (None,))[0] != status or not self.ltt[kind][1]:
            self.ltt[kind] = (status, now())
        d = {"type": kind, "status": status, "lastProbeTime": None, "lastTransitionTime": self.ltt[kind][1]}
        return dict(d, reason=reason) if reason else d

    # --- stopping -------------------------------------------------------------------------------
    def teardown(self, grace):
        with self.cv:
            cid, self.cid = self.cid, None  # the waiter's exit is no news now
        ids = self.ag.docker("ps", "-aq", "--no-trunc", "--filter", f"label=io.kubernetes.pod.uid={self.uid}")[1]
        for i in set(ids.split()) | ({cid} if cid else set()):
            t0 = time.time()
            self.ag.docker("stop", "-t", str(grace), i, timeout=grace + 60)
            self.save_logs(i)
            self.ag.docker("rm", "-f", "-v", i)
            log(f"pod {self.key}: stopped and removed container {i[:12]} in {time.time() - t0:.1f} s")
        shutil.rmtree(self.dir, ignore_errors=True)

    def save_logs(self, cid):
        """The container's output, kept after it is removed (like the kubelet's /var/log/pods):
        STATE/logs/<namespace>_<pod>_<container id>.log."""
        out = os.path.join(self.ag.state, "logs")
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, f"{self.ns}_{self.name}_{cid[:12]}.log"), "w") as f:
            subprocess.run(["docker", "logs", cid], stdout=f, stderr=subprocess.STDOUT, env=self.ag.denv, timeout=60)

    def finish_delete(self):
        """Like the kubelet once the containers are gone: delete the pod for good."""
        body = {"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0, "preconditions": {"uid": self.uid}}
        for attempt in range(5):
            try:
                self.ag.api.call("DELETE", f"/api/v1/namespaces/{self.ns}/pods/{self.name}", body)
                return log(f"deleted pod {self.key}")
            except ApiError as e:
                if e.code in (404, 409):  # gone already, or a new pod of that name
                    return
                log(f"pod {self.key}: delete failed: {e}")
            except OSError as e:
                log(f"pod {self.key}: delete failed: {e}")
            time.sleep(1 + attempt)


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
        os.makedirs(pv["spec"]["hostPath"]["path"], 0o755, exist_ok=True)
        return pv["spec"]["hostPath"]["path"]

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
