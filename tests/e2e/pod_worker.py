"""One pod's lifecycle on the node agent's node (see node_agent.py): the `docker run` arguments (env with
$(VAR) expansion and the downward API, volumes, the service-account token, security context, resources),
readiness probes, exits and restarts, status reports, teardown with saved logs, and the final deletion.
Standard library only.
"""
import datetime
import math
import os
import re
import shutil
import socket
import ssl
import subprocess
import threading
import time
import traceback
import urllib.error
import urllib.request
from decimal import Decimal

from kube_client import ApiError, docker_time, log, now, quantity

SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
HOST_IP = "127.0.0.1"
CONFIG = "CreateContainerConfigError"


def expand(s, env):
    """Kubernetes' $(VAR) expansion: `$$` is a literal `$`, an undefined $(X) stays as written."""
    return re.sub(r"\$\$|\$\(([^)]+)\)", lambda m: "$" if m.group(0) == "$$" else env.get(m.group(1), m.group(0)), s)


class PodError(Exception):
    """Why a pod cannot start (yet): its container waits with this reason."""

    def __init__(self, reason, msg, permanent=False):
        super().__init__(msg)
        self.reason, self.permanent = reason, permanent


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
            elif kind == "Directory" and not os.path.isdir(path):  # as the kubelet: no mount
                raise PodError(CONFIG, f'hostPath type check failed: {path} is not a directory')
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
