"""The node agent's small Kubernetes API client (bearer token over HTTPS, JSON and merge patches) and
its helpers: the log line, timestamps as the API writes them, Kubernetes quantities. Standard library only.
"""
import datetime
import json
import re
import ssl
import sys
import urllib.error
import urllib.request
from decimal import Decimal


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
