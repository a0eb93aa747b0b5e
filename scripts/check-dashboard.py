#!/usr/bin/env python3
"""Check a Grafana dashboard's Prometheus queries (stdlib only).

Usage: check-dashboard.py DASHBOARD.json [--promtool PATH] [--exposition FILE ...]
                          [--prometheus URL [--min-series N]] [--rate-interval 1m]
                          [--job NAME] [--var NAME=VALUE ...]

Always: every target's datasource (its own, else its panel's) must be {"uid": "${datasource}"},
no other "uid" may appear below the dashboard's own, and the `datasource` and `job` template
variables must exist. Then each query, with Grafana variables substituted, must pass
`promtool check rules` (it is written as a recording rule). --exposition: every metric name a
query reads must appear in one of the /metrics text files. --prometheus: each query, run as an
instant query, must return at least --min-series series.

Variable substitution (Grafana does this before Prometheus sees a query, so we must too):
$__rate_interval, $__interval and $__range (also as ${...}) become --rate-interval; $job becomes
--job; any other dashboard variable becomes `.*` inside a regex matcher (=~ or !~, which is what
"All" amounts to) and --var's value, else "placeholder", elsewhere. An unknown variable fails.
Other scripts can import load_queries() and substitute() (importlib, the file name has a dash).
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request

DS_UIDS = ("${datasource}", "$datasource")
INTERVALS = ("__rate_interval", "__interval", "__range")
VAR_RE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]")
REGEX_MATCHER_RE = re.compile(r'([=!]~\s*")((?:[^"\\]|\\.)*)(")')
HIST_SUFFIXES = {"histogram": ("_bucket", "_sum", "_count", "_created"),
                 "summary": ("_sum", "_count", "_created"), "counter": ("_total", "_created")}
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or",
            "unless", "offset", "Inf", "NaN", "inf", "nan", "atan2"}


class CheckError(Exception):
    pass


class Unreachable(CheckError):
    pass  # stops the --prometheus loop: one message, not one per query


def load_dashboard(path):
    try:
        with open(path, encoding="utf-8") as f:
            dash = json.load(f)
    except OSError as e:
        raise CheckError(f"{path}: cannot read: {e.strerror}")
    except UnicodeDecodeError as e:
        raise CheckError(f"{path}: not UTF-8 text: {e}")
    except json.JSONDecodeError as e:
        raise CheckError(f"{path}: not valid JSON: {e}")
    if not isinstance(dash, dict):
        raise CheckError(f"{path}: a dashboard is a JSON object, this is {type(dash).__name__}")
    return dash


def walk_panels(panels):
    # Rows keep their children in "panels" (collapsed) or list them after themselves (expanded).
    for p in panels or []:
        yield p
        yield from walk_panels(p.get("panels"))


def load_queries(path, dashboard=None):
    """[(panel_title, expr)] for every target with an expr, rows' children included."""
    dash = dashboard if dashboard is not None else load_dashboard(path)
    return [(p.get("title", f"panel {p.get('id')}"), t["expr"])
            for p in walk_panels(dash.get("panels")) for t in p.get("targets") or [] if t.get("expr")]


def check_datasources(dash):
    errors = []
    names = {v.get("name") for v in dash.get("templating", {}).get("list", [])}
    errors += [f"template variable `{n}` is missing" for n in ("datasource", "job") if n not in names]

    def uid_of(ds):
        return ds.get("uid") if isinstance(ds, dict) else ds

    for p in walk_panels(dash.get("panels")):
        for t in p.get("targets") or []:
            uid = uid_of(t.get("datasource") or p.get("datasource"))
            if uid not in DS_UIDS:
                errors.append(f"panel {p.get('title')!r} target {t.get('refId')}: datasource uid "
                              f"{uid!r}, want \"${{datasource}}\"")

    # A hard-coded uid anywhere else (variables, annotations, links) breaks an import too.
    def walk(node, where):
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "uid" and where and v not in DS_UIDS:
                    errors.append(f"{'/'.join(where)}: hard-coded uid {v!r}")
                walk(v, where + [str(node.get("title") or node.get("name") or k)])
        elif isinstance(node, list):
            for v in node:
                walk(v, where)
    walk(dash, [])
    return sorted(set(errors), key=errors.index)


def substitute(expr, variables, rate_interval="1m", overrides=None):
    """expr with Grafana variables replaced; raises CheckError on an unknown variable."""
    overrides = overrides or {}

    def repl(in_regex):
        def f(m):
            name = m.group(1) or m.group(2) or m.group(3)
            if name in INTERVALS:
                return rate_interval
            if name not in variables and name not in overrides:
                raise CheckError(f"unknown variable ${name} in {expr!r}")
            if name in overrides:
                return overrides[name]
            return ".*" if in_regex else "placeholder"
        return f

    expr = REGEX_MATCHER_RE.sub(lambda m: m[1] + VAR_RE.sub(repl(True), m[2]) + m[3], expr)
    return VAR_RE.sub(repl(False), expr)


def metric_names(expr):
    """Metric names a PromQL expression reads (a lexical approximation, good for dashboards)."""
    names = set(re.findall(r'__name__\s*=\s*"([^"]+)"', expr))
    s = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    s = re.sub(r"\{[^}]*\}|\[[^\]]*\]", " ", s)  # label matchers, ranges and subqueries
    s = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", s)
    for m in re.finditer(r"(?<![\w.:])([a-zA-Z_:][\w:]*)(\s*\()?", s):
        if not m.group(2) and m.group(1) not in KEYWORDS:
            names.add(m.group(1))
    return names


def read_expositions(paths):
    samples, types = set(), {}
    for path in paths:
        try:
            with open(path) as f:
                for line in f:
                    line = line.strip()
                    if line.startswith("# TYPE "):
                        parts = line.split()
                        if len(parts) >= 4:
                            types[parts[2]] = parts[3]
                    elif line and not line.startswith("#"):
                        samples.add(re.split(r"[{\s]", line, 1)[0])
        except OSError as e:
            raise CheckError(f"{path}: cannot read: {e.strerror}")
    return samples, types


def exposed(name, samples, types):
    if name in samples or (name in types and types[name] not in ("histogram", "summary")):
        return True
    # A histogram family `x` exposes x_bucket/x_sum/x_count; OpenMetrics counters x_total.
    return any(name == fam + suf for fam, kind in types.items() for suf in HIST_SUFFIXES.get(kind, ()))


def run_promtool(promtool, queries):
    rules = {"groups": [{"name": f"{title} #{i}", "rules": [{"record": f"check:q{i}", "expr": e}]}
                        for i, (title, e) in enumerate(queries)]}
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as f:
        json.dump(rules, f)  # JSON is YAML, so no yaml module is needed
    try:
        r = subprocess.run([promtool, "check", "rules", f.name], capture_output=True, text=True)
    except OSError as e:
        raise CheckError(f"cannot run {promtool}: {e.strerror}")
    finally:
        os.unlink(f.name)
    if r.returncode == 0:
        return []
    errors = [f"panel {queries[int(m[1])][0]!r}: {m[2]}\n    expr: {queries[int(m[1])][1]}"
              for m in re.finditer(r'"check:q(\d+)": (.*)', r.stdout + r.stderr)]
    return errors or [f"promtool check rules failed:\n{r.stdout}{r.stderr}"]


def query_prometheus(url, expr, timeout=30):
    q = url.rstrip("/") + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    try:
        with urllib.request.urlopen(q, timeout=timeout) as r:
            body = json.load(r)
    except urllib.error.HTTPError as e:  # Prometheus puts its reason in the JSON body
        try:
            body = json.load(e)
        except ValueError:
            raise Unreachable(f"HTTP {e.code} from {url}")
    except (urllib.error.URLError, OSError, ValueError) as e:
        raise Unreachable(f"cannot query {url}: {e}")
    if body.get("status") != "success":
        raise CheckError(f"{body.get('errorType')}: {body.get('error')}")
    data = body["data"]
    return len(data["result"]) if data["resultType"] in ("vector", "matrix") else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dashboard")
    ap.add_argument("--promtool", default="promtool")
    ap.add_argument("--exposition", nargs="+", default=[], metavar="FILE")
    ap.add_argument("--prometheus", metavar="URL")
    ap.add_argument("--min-series", type=int, default=1)
    ap.add_argument("--rate-interval", default="1m", help="for $__rate_interval etc. (30s for short runs)")
    ap.add_argument("--job", default="disttgl")
    ap.add_argument("--var", action="append", default=[], metavar="NAME=VALUE")
    ap.add_argument("--skip", metavar="REGEX",
                    help="with --prometheus: do not require series from queries matching REGEX "
                         "(e.g. the launcher's on Kubernetes, where no launcher runs); they are listed")
    a = ap.parse_args()
    try:
        dash = load_dashboard(a.dashboard)
        bad = [v for v in a.var if "=" not in v]
        if bad:
            raise CheckError(f"--var: {bad[0]!r} is not NAME=VALUE")
        # Values go inside PromQL string literals: escape what would end or break them.
        overrides = {k: v.replace("\\", "\\\\").replace('"', '\\"')
                     for k, v in (x.split("=", 1) for x in a.var)}
        overrides["job"] = a.job.replace("\\", "\\\\").replace('"', '\\"')
        variables = {v.get("name") for v in dash.get("templating", {}).get("list", [])}
        raw = load_queries(a.dashboard, dash)
        if not raw:
            raise CheckError(f"{a.dashboard}: no queries found")
        errors = check_datasources(dash)
        queries = []
        for title, e in raw:
            try:
                queries.append((title, substitute(e, variables, a.rate_interval, overrides)))
            except CheckError as err:
                errors.append(f"panel {title!r}: {err}")
        errors += run_promtool(a.promtool, queries)
        if a.exposition:
            samples, types = read_expositions(a.exposition)
            errors += [f"panel {t!r}: metric {n} is in no exposition file"
                       for t, e in queries for n in sorted(metric_names(e)) if not exposed(n, samples, types)]
        skipped = []
        if a.prometheus and not errors:
            try:
                skip = re.compile(a.skip) if a.skip else None
            except re.error as err:
                raise CheckError(f"--skip: {a.skip!r} is not a regular expression ({err})")
            for title, e in queries:
                if skip and skip.search(e):
                    skipped.append(title)
                    continue
                try:
                    n = query_prometheus(a.prometheus, e)
                    if n < a.min_series:
                        errors.append(f"panel {title!r}: {n} series (< {a.min_series})\n    expr: {e}")
                except Unreachable:
                    raise
                except CheckError as err:
                    errors.append(f"panel {title!r}: {err}\n    expr: {e}")
    except CheckError as err:
        errors = [str(err)]
    except (AttributeError, TypeError, KeyError) as err:
        # A JSON document of the wrong shape (panels that are not a list, a numeric expr...).
        errors = [f"not a Grafana dashboard of the expected shape ({type(err).__name__}: {err})"]
    if errors:
        errors = list(dict.fromkeys(errors))  # several targets of a panel often share a fault
        print(f"{a.dashboard}: {len(errors)} problem(s):", *errors, sep="\n  ", file=sys.stderr)
        return 1
    panels = sum(1 for p in walk_panels(dash.get("panels")) if any(t.get("expr") for t in p.get("targets") or []))
    if skipped:
        print(f"not required to return series (--skip): {', '.join(dict.fromkeys(skipped))}")
    print(f"checked {len(queries)} queries in {panels} panels: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
