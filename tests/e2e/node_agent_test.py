#!/usr/bin/env python3
"""node_agent.py against a real control plane (etcd, kube-apiserver, kube-scheduler) and the real
Docker daemon: the Node registers Ready, the scheduler binds pods to it and the agent runs them.
Checked: exit codes and phases, $(VAR) and downward-API env, hostPath and emptyDir volumes,
runAsUser, runAsNonRoot refusal, a missing image, pod names through the shared hosts file and a TCP
connection between pods, a TCP readiness probe, CPU/memory limits, a restart (OnFailure), the
service-account token and ca.crt (kubectl authenticates with them), deletion within the grace
period, and SIGTERM (no container left, Node deleted, only the saved container logs left).

Usage: node_agent_test.py REPO_ROOT     (exit 77: skipped - not root, no docker, no base image)
The image is disttgl/base:bookworm-local unless DISTTGL_E2E_BASE_IMAGE names another.
"""
import ipaddress
import json
import os
import random
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "k8s"))
from control_plane import ControlPlane  # noqa: E402

IMAGE = os.environ.get("DISTTGL_E2E_BASE_IMAGE", "disttgl/base:bookworm-local")
NODE = "e2e-node"
CIDR = ipaddress.ip_network("127.42.0.0/16")
T0 = time.time()


def say(msg):
    print(f"[{time.time() - T0:6.1f} s] {msg}", flush=True)


class Fail(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Fail(msg)


def skip(msg):
    print("SKIP: " + msg, flush=True)
    sys.exit(77)


def docker(*args, check_rc=True):
    r = subprocess.run(["docker", *args], capture_output=True, text=True)
    if check_rc and r.returncode != 0:
        raise Fail(f"docker {' '.join(args)}: {r.stderr.strip()}")
    return r.stdout.strip()


class Api:
    def __init__(self, cp):
        self.cp, self.ctx = cp, ssl._create_unverified_context()

    def get(self, path):
        req = urllib.request.Request(self.cp.server + path, headers={"Authorization": "Bearer " + self.cp.token})
        try:
            with urllib.request.urlopen(req, context=self.ctx, timeout=10) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as e:
            if e.code == 404:
                return None
            raise

    def pod(self, name):
        return self.get(f"/api/v1/namespaces/default/pods/{name}")


def wait(what, fn, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.3)
    raise Fail(f"timed out after {timeout} s waiting for {what}")


def cond(pod, kind):
    return next((c for c in (pod.get("status") or {}).get("conditions") or [] if c["type"] == kind), {})


def cstatus(pod):
    return ((pod or {}).get("status", {}).get("containerStatuses") or [{}])[0]


def pod(name, command, restart="Never", env=(), volumes=(), mounts=(), image=IMAGE, **spec):
    c = {"name": "main", "image": image, "command": command, "env": list(env), "volumeMounts": list(mounts)}
    c.update(spec.pop("container", {}))
    s = {"restartPolicy": restart, "containers": [c], "volumes": list(volumes), "terminationGracePeriodSeconds": 5}
    s.update(spec)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"}, "spec": s}


def run(tmp, cp, dhost):
    api = Api(cp)
    out = os.path.join(tmp, "out")
    os.makedirs(out)
    os.chmod(out, 0o777)  # pods run as uid 10001 too
    state = os.path.join(tmp, "state")
    port = random.randint(20000, 29999)
    with open(os.path.join(out, "b.sh"), "w") as f:  # a file: no $(VAR) expansion of the shell's $(...)
        f.write(f"""
for i in $(seq 1 150); do getent hosts a.sub > /out/b-hosts && break; sleep 0.2; done
for i in $(seq 1 150); do
  line=$(timeout 2 bash -c 'exec 3<>/dev/tcp/a.sub/{port} && head -n1 <&3' 2>/dev/null) && [ -n "$line" ] && break
  sleep 0.2
done
echo "$line" > /out/b-got
d=/var/run/secrets/kubernetes.io/serviceaccount
test -s $d/token && test -s $d/ca.crt && cat $d/namespace > /out/b-ns
echo "$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT" > /out/b-svc
getent hosts no-such-pod.sub > /dev/null; echo $? > /out/b-miss
grep '^nameserver' /etc/resolv.conf > /out/b-dns
""")
    cp.kubectl("create", "serviceaccount", "default")  # no controller-manager creates it

    log = open(os.path.join(tmp, "agent.log"), "w")
    agent = subprocess.Popen([sys.executable, os.path.join(HERE, "node_agent.py"), "--server", cp.server,
                              "--token", cp.token, "--node", NODE, "--state-dir", state, "--docker-host", dhost,
                              "--pod-cidr", str(CIDR), "--cpu", "2", "--memory", "8Gi"],
                             stdout=log, stderr=subprocess.STDOUT)
    try:
        _run(api, cp, agent, out, state, port)
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.wait()
        for cid in docker("ps", "-aq", "--filter", f"label=disttgl-node-agent={NODE}", check_rc=False).split():
            docker("rm", "-f", cid, check_rc=False)


def _run(api, cp, agent, out, state, port):
    t = time.time()
    node = wait("the Node to be Ready", lambda: (lambda n: n if n and cond(n, "Ready").get("status") == "True"
                                                  else None)(api.get(f"/api/v1/nodes/{NODE}")), 30)
    say(f"node Ready {time.time() - t:.1f} s after the agent started")
    check(node["metadata"]["labels"].get("kubernetes.io/hostname") == NODE, "hostname label")
    check(node["status"]["allocatable"] == {"cpu": "2", "memory": "8Gi", "pods": "110"}, f"allocatable {node['status']}")
    check(not node["spec"].get("taints") and not node["spec"].get("unschedulable"), "node schedulable")
    check({"type": "InternalIP", "address": "127.0.0.1"} in node["status"]["addresses"], "InternalIP")
    beat0 = cond(node, "Ready")["lastHeartbeatTime"]
    hosts = os.path.join(state, "hosts")
    inode = os.stat(hosts).st_ino

    listener = ("$SIG{TERM}=sub{exit 0}; my $s=IO::Socket::INET->new(LocalAddr=>$ENV{POD_IP},LocalPort=>%d,"
                "Listen=>8,ReuseAddr=>1) or die \"listen: $!\"; while(my $c=$s->accept){print $c \"hello\\n\"; "
                "close $c}" % port)
    hp = {"name": "out", "hostPath": {"path": out, "type": "Directory"}}
    pod_ip_env = {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}
    no_token = {"automountServiceAccountToken": False}
    pods = [
        pod("exit3", ["bash", "-c", "echo $(MY_IP) > /out/ip; echo '$$(MY_IP)' > /out/escaped; exit 3"],
            env=[{"name": "MY_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}],
            volumes=[hp], mounts=[{"name": "out", "mountPath": "/out"}], **no_token),
        pod("user", ["bash", "-c", "id -u > /scratch/who && echo $(cat /cfg/d/app.conf) $(PW) $(CPUS) > /scratch/cfg "
                     "&& test $(id -g) = 10002"], securityContext={"runAsUser": 10001, "runAsGroup": 10002},
            volumes=[{"name": "scratch", "emptyDir": {}},
                     {"name": "cfg", "configMap": {"name": "cfg", "items": [{"key": "conf", "path": "d/app.conf"}]}}],
            mounts=[{"name": "scratch", "mountPath": "/scratch"}, {"name": "cfg", "mountPath": "/cfg"}],
            env=[{"name": "PW", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "pw"}}},
                 {"name": "CPUS", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}}],
            container={"resources": {"limits": {"cpu": "1500m"}}}, **no_token),
        pod("nonroot", ["true"], securityContext={"runAsNonRoot": True}, **no_token),
        pod("two", ["true"], container={"name": "one"}, **no_token),
        pod("ghost", ["true"], serviceAccountName="ghost"),
        pod("noimage", ["true"], image="disttgl/no-such-image:never", **no_token),
        pod("a", ["bash", "-c", 'sleep 4; exec perl -MIO::Socket::INET -e "$0"', listener], restart="Always",
            env=[pod_ip_env], hostname="a", subdomain="sub",
            container={"readinessProbe": {"tcpSocket": {"port": "listen"}, "periodSeconds": 1},
                       "ports": [{"name": "listen", "containerPort": port}],
                       "resources": {"limits": {"cpu": "500m", "memory": "64Mi"}}}),
        pod("b", ["bash", "/work/b.sh"], hostname="b", subdomain="sub", volumes=[hp],
            mounts=[{"name": "out", "mountPath": "/out"}, {"name": "out", "mountPath": "/work", "readOnly": True}]),
        pod("flaky", ["bash", "-c", "n=$(cat /s/n 2>/dev/null || echo 0); echo $((n+1)) > /s/n; exit $((n == 0))"],
            restart="OnFailure", volumes=[{"name": "s", "emptyDir": {}}], mounts=[{"name": "s", "mountPath": "/s"}],
            **no_token),
        pod("victim", ["bash", "-c", 'trap "" TERM; while :; do sleep 1; done'], restart="Always",
            terminationGracePeriodSeconds=3, **no_token),
    ]
    two = next(p for p in pods if p["metadata"]["name"] == "two")["spec"]["containers"]
    two.append(dict(two[0], name="two"))
    cp.kubectl("create", "configmap", "cfg", "--from-literal=conf=from-configmap")
    cp.kubectl("create", "secret", "generic", "sec", "--from-literal=pw=from-secret")
    t = time.time()
    cp.kubectl("create", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": pods}))

    # exit3: Failed with exit code 3; its podIP from the CIDR, and $(MY_IP) expanded to it.
    p = wait("exit3 to fail", lambda: (lambda p: p if p and p["status"].get("phase") == "Failed" else None)(
        api.pod("exit3")), 40)
    say(f"exit3 Failed {time.time() - t:.1f} s after creation")
    term = cstatus(p)["state"].get("terminated", {})
    check(term.get("exitCode") == 3 and term.get("reason") == "Error", f"exit3 terminated: {term}")
    ip = p["status"]["podIP"]
    check(ipaddress.ip_address(ip) in CIDR and p["status"]["podIPs"] == [{"ip": ip}], f"exit3 podIP {ip}")
    check(p["spec"]["nodeName"] == NODE and p["status"]["hostIP"] == "127.0.0.1", "exit3 node and hostIP")
    check(open(os.path.join(out, "ip")).read() == ip + "\n", "exit3 /out/ip is its podIP")
    check(open(os.path.join(out, "escaped")).read() == "$(MY_IP)\n", "$$ escapes $(MY_IP)")
    check(cstatus(p)["containerID"].startswith("docker://"), "containerID")

    # user: runs as 10001:10002 and writes into its emptyDir (in the agent's state dir).
    p = wait("user to succeed", lambda: (lambda p: p if p and p["status"].get("phase") == "Succeeded" else None)(
        api.pod("user")), 30)
    who = os.path.join(state, "pods", p["metadata"]["uid"], "volumes", "scratch", "who")
    check(open(who).read() == "10001\n", f"emptyDir file {who}")
    got = open(os.path.join(os.path.dirname(who), "cfg")).read()
    check(got == "from-configmap from-secret 2\n", f"configMap item, secretKeyRef, limits.cpu rounded up: {got!r}")
    check(cstatus(p)["state"]["terminated"]["reason"] == "Completed", "user Completed")
    say("user Succeeded as uid 10001")

    # nonroot and noimage stay Pending, with the kubelet's reasons.
    for name, reason, text in (("nonroot", "CreateContainerConfigError", "runAsNonRoot and image will run as root"),
                               ("noimage", "ErrImageNeverPull", "disttgl/no-such-image:never"),
                               ("two", "Unsupported", "Warning: node-agent runs pods of exactly one container"),
                               ("ghost", "CreateContainerConfigError", 'serviceaccount "ghost" not found')):
        p = wait(f"{name} to wait with {reason}", lambda: (lambda p: p if cstatus(p).get("state", {}).get(
            "waiting", {}).get("reason") == reason else None)(api.pod(name)), 20)
        msg = cstatus(p)["state"]["waiting"]["message"]
        check(p["status"]["phase"] == "Pending" and text in msg, f"{name}: {p['status']}")
        say(f"{name} Pending: {reason}: {msg}")

    # a: Running at once, Ready only once it listens (4 s later); limits reach docker.
    seen_unready = []

    def a_ready():
        p = api.pod("a")
        if p and cstatus(p).get("state", {}).get("running") and cond(p, "Ready").get("status") == "False":
            seen_unready.append(time.time())
        return p if cond(p or {}, "Ready").get("status") == "True" else None
    p = wait("a to be Ready", a_ready, 40)
    started = cstatus(p)["state"]["running"]["startedAt"]
    ready_at = cond(p, "Ready")["lastTransitionTime"]
    lag = time.mktime(time.strptime(ready_at, "%Y-%m-%dT%H:%M:%SZ")) - time.mktime(time.strptime(started, "%Y-%m-%dT%H:%M:%SZ"))
    check(lag >= 3, f"a Ready {lag} s after its start, but it listens only after 4 s")
    check(cond(p, "ContainersReady")["status"] == "True" and cstatus(p)["ready"] and cstatus(p)["started"], "a ready")
    say(f"a Ready {lag:.0f} s after its start (seen Running and unready: {bool(seen_unready)})")
    hc = json.loads(docker("inspect", cstatus(p)["containerID"][len("docker://"):]))[0]["HostConfig"]
    check(hc["NanoCpus"] == 500_000_000 and hc["Memory"] == 64 << 20 and hc["NetworkMode"] == "host", f"a limits {hc}")
    a_ip = p["status"]["podIP"]

    # b: resolves a.sub to a's podIP through the hosts file and talks to a over TCP; its token works.
    p = wait("b to succeed", lambda: (lambda p: p if p and p["status"].get("phase") in ("Succeeded", "Failed")
                                      else None)(api.pod("b")), 40)
    check(p["status"]["phase"] == "Succeeded", f"b: {p['status']}")
    got = open(os.path.join(out, "b-hosts")).read().split()
    check(got[:2] == [a_ip, "a.sub"], f"b resolves a.sub to a's IP {a_ip}: {got}")
    got = open(os.path.join(out, "b-got")).read()
    check(got == "hello\n", f"b got hello from a over TCP: {got!r}")
    check(open(os.path.join(out, "b-ns")).read() == "default", "token, ca.crt and namespace mounted")
    check(open(os.path.join(out, "b-svc")).read() == f"127.0.0.1:{cp.port}\n", "KUBERNETES_SERVICE_*")
    check(open(os.path.join(out, "b-miss")).read() == "2\n", "an unknown name does not resolve")
    check(open(os.path.join(out, "b-dns")).read() == "nameserver 127.0.0.1\n", "DNS stays on loopback")
    text = open(hosts).read()
    check(os.stat(hosts).st_ino == inode and f"{a_ip}\ta.sub a.sub.default.svc a.sub.default.svc.cluster.local a\n" in text,
          f"hosts file rewritten in place:\n{text}")
    sa = os.path.join(state, "pods", p["metadata"]["uid"], "sa")
    token = open(os.path.join(sa, "token")).read()
    who = subprocess.run([os.path.join(cp.bin, "kubectl"), "--kubeconfig=/dev/null", "--server", cp.server,
                          "--certificate-authority", os.path.join(sa, "ca.crt"), "--token", token,
                          "auth", "whoami", "-o", "json"], capture_output=True, text=True)
    check(who.returncode == 0, f"kubectl with the pod's token and ca.crt: {who.stderr}")
    user = json.loads(who.stdout)["status"]["userInfo"]["username"]
    check(user == "system:serviceaccount:default:default", f"token names {user}")
    say(f"b resolved a.sub to {a_ip}, talked to it; its token is {user} (verified against its ca.crt)")

    # flaky: exit 1, restarted (OnFailure), exit 0.
    p = wait("flaky to succeed", lambda: (lambda p: p if p and p["status"].get("phase") == "Succeeded" else None)(
        api.pod("flaky")), 40)
    cs = cstatus(p)
    check(cs["restartCount"] == 1 and cs["lastState"]["terminated"]["exitCode"] == 1, f"flaky: {cs}")
    say("flaky Succeeded after 1 restart")

    # victim ignores SIGTERM: deleted in its 3 s grace period plus a little, container gone.
    p = wait("victim to run", lambda: (lambda p: p if cstatus(p).get("state", {}).get("running") else None)(
        api.pod("victim")), 30)
    t = time.time()
    cp.kubectl("delete", "pod", "victim", "--wait=true", "--timeout=30s")
    took = time.time() - t
    check(2.5 <= took <= 3 + 5, f"deleting victim took {took:.1f} s (grace 3 s)")
    check(api.pod("victim") is None, "victim deleted")
    left = docker("ps", "-aq", "--filter", f"label=io.kubernetes.pod.uid={p['metadata']['uid']}")
    check(left == "" and not os.path.exists(os.path.join(state, "pods", p["metadata"]["uid"])), "victim cleaned")
    say(f"victim deleted in {took:.1f} s (grace 3 s)")

    node = wait("a heartbeat (every 10 s)", lambda: (lambda n: n if cond(n, "Ready")["lastHeartbeatTime"] != beat0
                                                     else None)(api.get(f"/api/v1/nodes/{NODE}")), 15)
    say(f"heartbeat: Ready lastHeartbeatTime {beat0} -> {cond(node, 'Ready')['lastHeartbeatTime']}")

    # SIGTERM: all containers gone, the Node deleted, nothing but the saved logs in the state dir.
    t = time.time()
    agent.send_signal(signal.SIGTERM)
    rc = agent.wait(40)
    check(rc == 0, f"agent exit {rc}")
    check(docker("ps", "-aq", "--filter", f"label=disttgl-node-agent={NODE}") == "", "containers left")
    check(api.get(f"/api/v1/nodes/{NODE}") is None, "node deleted")
    check(os.listdir(state) in ([], ["logs"]), f"state dir left: {os.listdir(state)}")
    logs = os.listdir(os.path.join(state, "logs")) if os.path.isdir(os.path.join(state, "logs")) else []
    check(any(n.startswith("default_exit3_") for n in logs), f"no saved log of pod exit3: {logs}")
    say(f"SIGTERM: agent exited 0 in {time.time() - t:.1f} s, no container left, node deleted")


def main():
    root = os.path.abspath(sys.argv[1])
    if os.geteuid() != 0:
        skip("not root (runs Docker containers)")
    if not shutil.which("docker"):
        skip("no docker CLI")
    dhost = os.environ.get("DOCKER_HOST") or "unix:///run/disttgl-docker/docker.sock"
    os.environ["DOCKER_HOST"] = dhost
    started = False
    if subprocess.run(["docker", "info"], capture_output=True).returncode != 0:
        if not shutil.which("dockerd"):
            skip("no dockerd (scripts/setup-docker.sh)")
        r = subprocess.run([os.path.join(root, "scripts", "docker-daemon.sh"), "start"], capture_output=True, text=True)
        if r.returncode != 0:
            skip(f"dockerd did not start: {r.stderr.strip()}")
        lines = r.stdout.split()
        dhost, started = lines[0].split("=", 1)[1], "started" in lines[1:]
        os.environ["DOCKER_HOST"] = dhost
    tmp = tempfile.mkdtemp(prefix="disttgl-node-agent-")
    try:
        if subprocess.run(["docker", "image", "inspect", IMAGE], capture_output=True).returncode != 0:
            skip(f"no image {IMAGE} (scripts/build-images.sh)")
        t = time.time()
        with ControlPlane(root, scheduler=True) as cp:
            say(f"control plane up in {time.time() - t:.1f} s")
            try:
                run(tmp, cp, dhost)
            except Exception as e:  # noqa: BLE001 - any failure: show the agent's log
                log = os.path.join(tmp, "agent.log")
                print(f"FAIL: {e}\n--- agent log ---\n{open(log).read() if os.path.exists(log) else ''}", flush=True)
                return 1
        say("PASS")
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if started:
            subprocess.run([os.path.join(root, "scripts", "docker-daemon.sh"), "stop"])


if __name__ == "__main__":
    sys.exit(main())
