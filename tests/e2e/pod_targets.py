#!/usr/bin/env python3
"""Prometheus scrape targets for the local cluster's pods, as a file_sd file: every Running pod
(in the given namespaces) with a container port named `metrics`, at its pod IP, labelled with its
namespace and pod name - what the chart's PodMonitor selects. Debian's Prometheus is built
without Kubernetes service discovery, so this process plays it: it lists the pods every
--period seconds and rewrites --output atomically when the set changes (Prometheus watches it).

    pod_targets.py --server URL --token TOKEN --output FILE [--namespace NS]... [--period 1]
"""
import argparse
import json
import os
import signal
import ssl
import sys
import time
import urllib.request


def targets(server, token, namespaces, ctx):
    out = []
    for ns in namespaces:
        req = urllib.request.Request(f"{server}/api/v1/namespaces/{ns}/pods",
                                     headers={"Authorization": "Bearer " + token})
        with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
            pods = json.load(r)["items"]
        for p in pods:
            ip = p.get("status", {}).get("podIP")
            if not ip or p["status"].get("phase") != "Running":
                continue
            for c in p["spec"].get("containers", []):
                for port in c.get("ports", []):
                    if port.get("name") == "metrics":
                        out.append({"targets": [f"{ip}:{port['containerPort']}"],
                                    "labels": {"namespace": ns, "pod": p["metadata"]["name"]}})
    return sorted(out, key=lambda t: t["targets"][0])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--server", required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--output", required=True)
    ap.add_argument("--namespace", action="append", default=[])
    ap.add_argument("--period", type=float, default=1.0)
    a = ap.parse_args()
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # the local apiserver's self-signed certificate
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    last = None
    while True:
        try:
            now = targets(a.server, a.token, a.namespace or ["default"], ctx)
            if now != last:
                tmp = a.output + ".tmp"
                with open(tmp, "w") as f:
                    json.dump(now, f, indent=1)
                os.replace(tmp, a.output)
                print(f"pod-targets: {len(now)} target(s): {[t['labels']['pod'] for t in now]}", flush=True)
                last = now
        except (OSError, ValueError, KeyError) as e:  # the API server restarting, a partial
            print(f"pod-targets: {e}", flush=True)        # answer: try again next period
        time.sleep(a.period)


if __name__ == "__main__":
    main()
