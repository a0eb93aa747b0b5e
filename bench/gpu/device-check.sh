#!/usr/bin/env bash
# GPU device check, run on the lent GPU machine from the bundle that bench/gpu/pack.sh made
# (the build tree does not travel there). In the repository root:
#   bash bench/gpu/device-check.sh --bundle .gpu-bundle --out $OUT
# Steps, each recorded (pass/fail/skip) without stopping the later ones:
#   1. environment: nvidia-smi, python, torch, torch.cuda.is_available(), libraries resolve;
#   2. every CUDA GoogleTest (names with Cuda/CUDA/cuda) of the bundled test binaries;
#   3. one epoch of 1-layer TGN on Wikipedia with --device cuda and --device cpu: the test AP
#      of the two must agree within 0.01;
#   4. PyG's TGN (bench/pyg/pyg_tgn.py) on the same GPU: training events/s side by side.
# --cpu-only tests the script on a machine without a GPU: the CUDA tests must skip and the
# trainer must refuse --device cuda. Writes device-check.json, device-check.log, pyg.json and
# device-check-details.tar.gz (gtest JSON, trainer logs) to --out, prints a summary, and exits 1
# if a check failed (goals not met do not fail it), 2 on bad usage. docs/performance.md.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: bench/gpu/device-check.sh [options]
  --bundle DIR             bundle made by bench/gpu/pack.sh (default: .gpu-bundle)
  --out DIR                where results go (default: $OUT if set, else a new temp dir)
  --cpu-only               no GPU here: CUDA tests must skip, `--device cuda` must be refused
  --python PY              python with torch, sklearn and torch_geometric (default: python3)
  --skip-pyg               leave out the PyG comparison
  --max-train-batches K    train on the first K batches of the epoch only (quick runs)
Environment: DEVICE_CHECK_BUDGET_S (default 500) caps the whole run; each step's timeout is
cut to what is left of it.
EOF
}
usage_error() { echo "device-check: $*" >&2; echo "device-check: see --help" >&2; exit 2; }

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
py_ld_library_path=${LD_LIBRARY_PATH-}  # the machine's own, for Python (see step 1)
bundle=.gpu-bundle
out=${OUT:-}
cpu_only=0
py=python3
skip_pyg=0
max_batches=
while [ $# -gt 0 ]; do
  case $1 in
    --bundle|--out|--python|--max-train-batches)
      [ $# -ge 2 ] && [ -n "$2" ] || usage_error "$1 needs a value"
      case $1 in
        --bundle) bundle=$2 ;;
        --out) out=$2 ;;
        --python) py=$2 ;;
        --max-train-batches) max_batches=$2 ;;
      esac
      shift 2 ;;
    --cpu-only) cpu_only=1; shift ;;
    --skip-pyg) skip_pyg=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage_error "unknown option '$1'" ;;
  esac
done
if [ -n "$max_batches" ] && ! [[ $max_batches =~ ^[1-9][0-9]*$ ]]; then
  usage_error "--max-train-batches: '$max_batches' is not a positive integer"
fi
[ -d "$bundle" ] || usage_error "--bundle: directory '$bundle' not found (make it here with bench/gpu/pack.sh, then carry it)"
bundle=$(cd "$bundle" && pwd)
for f in bin/disttgl-trainer manifest.txt wikipedia.csv; do
  [ -e "$bundle/$f" ] || usage_error "--bundle: '$bundle/$f' missing; re-run bench/gpu/pack.sh"
done
for f in "$bundle"/bin/* "$bundle"/tests/*; do  # in case a copy dropped the executable bits
  [ -x "$f" ] || chmod u+x "$f"
done
command -v "$py" >/dev/null || usage_error "--python: '$py' not found or not executable"
py=$(command -v "$py")
# A relative path must survive the cd below; the venv's symlink is kept, not resolved.
if [[ $py == */* ]]; then py=$(cd "$(dirname "$py")" && pwd)/$(basename "$py"); fi
budget=${DEVICE_CHECK_BUDGET_S:-500}
[[ $budget =~ ^[0-9]+$ ]] || usage_error "DEVICE_CHECK_BUDGET_S: '$budget' is not a number of seconds"
if [ -z "$out" ]; then out=$(mktemp -d /tmp/device-check.XXXXXX); fi
mkdir -p "$out"
out=$(cd "$out" && pwd)
cd "$root"  # bench/pyg/pyg_tgn.py is found relative to the repository root

work=$(mktemp -d /tmp/device-check-work.XXXXXX)
trap 'rm -rf "$work"' EXIT
results=$work/results.json
data=$bundle/wikipedia.csv
trainer=$bundle/bin/disttgl-trainer
export PYTHONUNBUFFERED=1  # PyG's progress reaches the log as it happens
cores=$(nproc)
gpu_threads=$((cores < 8 ? cores : 8))
cpu_threads=$((cores < 16 ? cores : 16))

# JSON reading and writing (stdlib only), kept in one place: `dc COMMAND ...`.
cat >"$work/dc.py" <<'PYEOF'
import json, os, re, sys

results, cmd, args = sys.argv[1], sys.argv[2], sys.argv[3:]
with open(results) as f:
    d = json.load(f)


def save():
    with open(results + ".tmp", "w") as f:
        json.dump(d, f, indent=2)
    os.replace(results + ".tmp", results)


def put(key, value):
    node = d
    *head, last = key.split(".")
    for k in head:
        node = node.setdefault(k, {})
    node[last] = value


def get(key):
    node = d
    for k in key.split("."):
        if not isinstance(node, dict) or k not in node:
            return None
        node = node[k]
    return node


def check(name, status, detail):
    d["checks"] = [c for c in d["checks"] if c["name"] != name]
    d["checks"].append({"name": name, "status": status, "detail": detail})
    print(f"[{status.upper()}] {name}: {detail}", flush=True)


def read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def ran_out(rc, seconds):  # rc -1: run_step had no time left to start it
    if rc == -1:
        return "not run: out of the time budget"
    return f"timed out after {seconds} s" if rc in (124, 137) else f"exit code {rc}"


def last_line(log):  # the last line that looks like an error, else the last line
    try:
        with open(log, errors="replace") as f:
            lines = [l.strip() for l in f if l.strip()]
    except OSError:
        return ""
    errors = [l for l in lines if re.search(r"error|not expected|Traceback|fatal|what\(\)", l, re.I)]
    return (errors or lines or [""])[-1][:200]


if cmd == "set":  # set KEY VALUE [str|int|num|json]
    kind = args[2] if len(args) > 2 else "str"
    put(args[0], {"str": str, "int": int, "num": float, "json": json.loads}[kind](args[1]))
elif cmd == "get":  # get KEY: prints the value ('' if absent; lists one item a line)
    v = get(args[0])
    print("\n".join(map(str, v)) if isinstance(v, list) else ("" if v is None else v))
    sys.exit(0)
elif cmd == "check":  # check NAME pass|fail|skip DETAIL
    check(*args)
elif cmd == "gtest":  # gtest NAME JSON RC SECONDS GPU(0|1): counts one test binary's CUDA tests
    name, path, rc, secs, gpu = args[0], args[1], int(args[2]), args[3], args[4] == "1"
    g = read_json(path)
    counts = {"passed": 0, "failed": 0, "skipped": 0, "failed_tests": [], "skipped_tests": []}
    for suite in (g or {}).get("testsuites", []):
        for t in suite.get("testsuite", []):
            full = f"{suite['name']}.{t['name']}"
            if t.get("failures"):
                counts["failed"] += 1
                counts["failed_tests"].append(full)
            elif t.get("result") == "SKIPPED":
                counts["skipped"] += 1
                counts["skipped_tests"].append(full)
            else:
                counts["passed"] += 1
    counts.update(rc=rc, seconds=float(secs))
    put(f"cuda_tests.{name}", counts)
    n = counts["passed"] + counts["failed"] + counts["skipped"]
    what = f"{counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped"
    if rc == -1:
        check(f"cuda_tests:{name}", "fail", ran_out(rc, secs))
    elif g is None:
        check(f"cuda_tests:{name}", "fail", f"no gtest JSON ({ran_out(rc, secs)}): crashed or did not start; see the log")
    elif counts["failed"] or rc != 0:
        check(f"cuda_tests:{name}", "fail", f"{what} ({ran_out(rc, secs)}); failed: {', '.join(counts['failed_tests'])}")
    elif n == 0:
        check(f"cuda_tests:{name}", "pass", "no CUDA tests in this binary")
    elif counts["skipped"] and gpu:
        check(f"cuda_tests:{name}", "fail", f"{what}: a skipped CUDA test means the GPU was not seen")
    elif counts["skipped"]:
        check(f"cuda_tests:{name}", "skip", f"{what}: expected without a GPU")
    else:
        check(f"cuda_tests:{name}", "pass", what)
elif cmd == "train":  # train NAME RUN_DIR RC SECONDS LOG: a trainer run's summary.json, metrics.jsonl
    name, run, rc, secs, log = args[0], args[1], int(args[2]), args[3], args[4]
    s = read_json(os.path.join(run, "summary.json"))
    r = {"rc": rc, "seconds": float(secs)}
    if s is not None:
        r.update(test_ap=s.get("test", {}).get("ap"), test_auc=s.get("test", {}).get("auc"),
                 train_events_per_second=s.get("train_events_per_second"))
        try:
            with open(os.path.join(run, "metrics.jsonl")) as f:
                epoch = json.loads(f.readline())
            r.update(train_seconds=epoch.get("train_seconds"), stage_seconds=epoch.get("stage_seconds"))
        except (OSError, ValueError):
            pass
    put(f"training.{name}", r)
    if rc == 0 and r.get("test_ap") is not None and r.get("train_events_per_second") is not None:
        check(f"train:{name}", "pass", f"test AP {r['test_ap']:.4f}, {r['train_events_per_second']:,.0f} train events/s")
    elif rc == -1:
        check(f"train:{name}", "fail", ran_out(rc, secs))
    else:
        check(f"train:{name}", "fail", f"{ran_out(rc, secs)}{'' if s else ', no summary.json'}: {last_line(log)}")
elif cmd == "ap":  # ap A B TOL: |AP_A - AP_B| <= TOL
    a, b, tol = get(f"training.{args[0]}.test_ap"), get(f"training.{args[1]}.test_ap"), float(args[2])
    name = f"ap_{args[0]}_vs_{args[1]}"
    if a is None or b is None:
        check(name, "fail", "a training run gave no test AP")
    else:
        diff = abs(a - b)
        put(f"ap_difference.{args[0]}_vs_{args[1]}", diff)
        check(name, "pass" if diff <= tol else "fail",
              f"|{a:.4f} - {b:.4f}| = {diff:.4f} (at most {tol})")
elif cmd == "pyg":  # pyg JSON RC SECONDS LOG
    path, rc, secs, log = args[0], int(args[1]), args[2], args[3]
    p = read_json(path)
    r = {"rc": rc, "seconds": float(secs)}
    if p is not None:
        r.update({k: p.get(k) for k in ("events_per_second", "epoch_seconds", "stage_seconds",
                                         "torch_version", "pyg_version", "config")})
    put("pyg", r)
    if rc == 0 and r.get("events_per_second") is not None:
        check("pyg", "pass", f"{r['events_per_second']:,.0f} train events/s")
    elif rc == -1:
        check("pyg", "fail", ran_out(rc, secs))
    else:
        check("pyg", "fail", f"{ran_out(rc, secs)}{'' if p else ', no JSON'}: {last_line(log)}")
elif cmd == "goals":  # goals RUN SHORT(0|1): throughput goals (not checks: they don't fail the run)
    ours = get(f"training.{args[0]}.train_events_per_second")
    pyg = get("pyg.events_per_second")
    ratio = ours / pyg if ours and pyg else None
    d["throughput"] = {"disttgl_events_per_second": ours, "pyg_events_per_second": pyg,
                       "ratio": ratio, "disttgl_run": args[0]}
    why = "n/a: shortened run (--max-train-batches)" if args[1] == "1" else None
    if args[0] != "gpu":
        why = "n/a: cpu-only"
    def goal(name, value, target, fmt):
        status = why or ("n/a: no value" if value is None else ("met" if value >= target else "not met"))
        d["goals"].append({"name": name, "value": value, "target": target, "status": status})
        shown = "-" if value is None else format(value, fmt)
        print(f"[GOAL] {name}: {shown} (target {format(target, fmt)}): {status}", flush=True)
    goal(f"disttgl train events/s ({args[0]})", ours, 50000, ",.0f")
    goal(f"disttgl / PyG TGN, same device ({args[0]})", ratio, 3.0, ".2f")
elif cmd == "summary":  # prints the table; exits 1 if a check failed
    print("\n== device check summary ==")
    e = d.get("env", {})
    print(f"device: {e.get('gpu') or 'no GPU'} | torch {e.get('torch')} | python {e.get('python')} "
          f"| {d.get('mode')} | {e.get('cores')} cores")
    w = max(len(c["name"]) for c in d["checks"]) if d["checks"] else 10
    for c in d["checks"]:
        print(f"  {c['name']:<{w}}  {c['status']:<4}  {c['detail']}")
    for g in d["goals"]:
        v = g["value"]
        num = (lambda x: f"{x:,.0f}" if x >= 100 else f"{x:.2f}")
        shown = "-" if v is None else num(v)
        print(f"  goal: {g['name']}: {shown} (target {num(g['target'])}): {g['status']}")
    failed = [c["name"] for c in d["checks"] if c["status"] == "fail"]
    d["passed"] = not failed
    print(f"result: {'FAILED: ' + ', '.join(failed) if failed else 'all checks passed'}")
    save()
    sys.exit(1 if failed else 0)
else:
    sys.exit(f"dc.py: unknown command {cmd}")
save()
PYEOF
echo '{"checks": [], "goals": []}' >"$results"
# A failure of the helper itself is reported and makes the run fail, without stopping it.
internal_errors=0
dc() {
  LD_LIBRARY_PATH=$py_ld_library_path "$py" "$work/dc.py" "$results" "$@" && return 0
  echo "device-check: internal error in: dc $*" >&2
  internal_errors=$((internal_errors + 1))
}

# Seconds a step may run: its own limit, cut to what is left of the budget (20 s kept for the
# summary), so that the whole run ends before the device call's timeout.
step_limit() {
  local left=$((budget - SECONDS - 20))
  echo $(($1 < left ? $1 : left))
}

# run_step LOG LIMIT CMD...: runs CMD under `timeout`, its output to LOG and to this log; sets
# step_rc (-1: not started, no time left) and step_s; never aborts the script.
run_step() {
  local log=$1 limit=$2 start=$SECONDS
  shift 2
  step_rc=0
  if [ "$limit" -lt 5 ]; then
    echo "device-check: out of time (budget ${budget} s) for: $*" | tee "$log"
    step_rc=-1 step_s=0
    return 0
  fi
  echo "+ timeout $limit $*"
  timeout -k 10 "$limit" "$@" >"$log" 2>&1 || step_rc=$?
  step_s=$((SECONDS - start))
  sed 's/^/    /' "$log"
  echo "  (exit code $step_rc, $step_s s)"
}

main() {
  local gpu=$((1 - cpu_only)) t
  echo "== device check: $(date -u +%Y-%m-%dT%H:%M:%SZ), mode: $([ $gpu = 1 ] && echo gpu || echo cpu-only)"
  dc set mode "$([ $gpu = 1 ] && echo gpu || echo cpu-only)"
  dc set started_at "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  dc set options "{\"max_train_batches\": ${max_batches:-null}, \"skip_pyg\": $skip_pyg, \"budget_s\": $budget}" json

  echo "== 1. environment"
  local manifest
  manifest=$("$py" -c 'import json, sys; print(json.dumps(dict(l.rstrip("\n").split("=", 1) for l in open(sys.argv[1]) if "=" in l)))' "$bundle/manifest.txt")
  dc set bundle "$manifest" json
  sed 's/^/    /' "$bundle/manifest.txt"
  if command -v nvidia-smi >/dev/null; then
    nvidia-smi 2>&1 | sed 's/^/    /' || true
    dc set env.nvidia_smi "$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 || true)"
  else
    echo "    nvidia-smi: not found"
    dc set env.nvidia_smi "not found"
  fi
  local probe
  probe=$("$py" - 2>"$work/probe.err" <<'EOF' | tail -n1
import glob, json, os, sys
info = {"python": sys.version.split()[0], "python_path": sys.executable}
try:
    import torch
    here = os.path.dirname(torch.__file__)
    info.update(torch=torch.__version__, torch_cuda=torch.version.cuda,
                torch_lib=os.path.join(here, "lib"),
                nvidia_libs=sorted(glob.glob(os.path.join(os.path.dirname(here), "nvidia", "*", "lib"))),
                cuda_available=torch.cuda.is_available())
    if info["cuda_available"]:
        info["gpu"] = torch.cuda.get_device_name(0)
except Exception as e:  # recorded: the checks below then fail with this reason
    info["torch_error"] = repr(e)
print(json.dumps(info))
EOF
  ) || true
  sed 's/^/    /' "$work/probe.err"
  echo "    $probe"
  [[ $probe == "{"* ]] || probe='{}'  # torch crashed the interpreter: probe.err says why
  dc set env "$probe" json
  dc set env.cores "$cores" int
  dc set env.kernel "$(uname -r)"
  dc set env.loadavg "$(cut -d' ' -f1-3 /proc/loadavg)"
  local torch_lib torch_version cuda_ok
  torch_lib=$(dc get env.torch_lib)
  torch_version=$(dc get env.torch)
  cuda_ok=$(dc get env.cuda_available)
  if [ -z "$torch_version" ]; then
    dc check python_torch fail "$py cannot import torch: $(dc get env.torch_error)"
  elif [ "$torch_version" != "$(dc get bundle.torch_version)" ]; then
    dc check python_torch fail "torch $torch_version here, the bundle was built against $(dc get bundle.torch_version)"
  else
    dc check python_torch pass "$py: torch $torch_version"
  fi
  if [ $gpu = 1 ]; then
    if [ "$cuda_ok" = True ]; then dc check cuda_visible pass "$(dc get env.gpu)"
    else dc check cuda_visible fail "torch.cuda.is_available() is $cuda_ok"; fi
  fi
  # torch's own libraries (and the CUDA ones of its nvidia wheels, which the binaries also
  # link directly) come from this machine's torch; the rest from the bundle. The existing
  # path is kept last: it may hold the driver's libcuda.
  local nvidia_libs
  nvidia_libs=$(dc get env.nvidia_libs | paste -sd:)
  # Python (dc.py, PyG) keeps the machine's own path: the bundle's Debian libraries must not
  # shadow the libraries its modules were built against.
  py_ld_library_path=${LD_LIBRARY_PATH-}
  export LD_LIBRARY_PATH=$bundle/lib${torch_lib:+:$torch_lib}${nvidia_libs:+:$nvidia_libs}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  echo "    LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
  dc set env.ld_library_path "$LD_LIBRARY_PATH"
  local missing=
  if command -v ldd >/dev/null; then
    for f in "$bundle"/bin/* "$bundle"/tests/*; do
      missing+=$(ldd "$f" 2>&1 | awk -v f="${f#"$bundle"/}" '/not found/ { printf "%s: %s; ", f, $1 }')
    done
    if [ -z "$missing" ]; then dc check libraries pass "every bundled binary resolves its libraries"
    else dc check libraries fail "unresolved: $missing"; fi
  else
    dc check libraries skip "no ldd here; the steps below show any loader error"
  fi

  # The test binaries have their build's paths compiled in (DISTTGL_TRAINER_BIN,
  # DISTTGL_SOURCE_DIR): on the GPU machine, link the missing ones to the bundle and this tree.
  if [ $gpu = 1 ]; then
    local baked target
    # The source dir first: linking the trainer's path creates its parent folders, which
    # would make a missing source dir look present.
    for pair in "baked_source_dir:$root" "baked_shared_dir:$bundle/shared" \
                "baked_trainer_bin:$trainer"; do
      baked=$(dc get "bundle.${pair%%:*}")
      target=${pair#*:}
      if [ -n "$baked" ] && [ ! -e "$baked" ]; then
        mkdir -p "$(dirname "$baked")" && ln -s "$target" "$baked" \
          && echo "    linked $baked -> $target" || echo "    could not link $baked -> $target"
      fi
    done
  fi

  echo "== 2. CUDA tests"
  mkdir -p "$work/gtest"
  local tests_end=$((SECONDS + 180)) bin name  # train_device_test trains 9 short runs
  for bin in "$bundle"/tests/*; do
    name=$(basename "$bin")
    t=$(step_limit $((tests_end - SECONDS)))
    rm -f "$work/gtest/$name.json"
    run_step "$work/gtest/$name.log" "$t" "$bin" --gtest_filter='*Cuda*:*CUDA*:*cuda*' \
      --gtest_output="json:$work/gtest/$name.json"
    dc gtest "$name" "$work/gtest/$name.json" "$step_rc" "$step_s" "$gpu"
  done
  if [ $gpu = 1 ]; then
    local ran
    ran=$(LD_LIBRARY_PATH=$py_ld_library_path "$py" -c 'import json, sys; print(sum(t["passed"] for t in json.load(open(sys.argv[1])).get("cuda_tests", {}).values()))' "$results")
    if [ "$ran" -gt 0 ]; then dc check cuda_tests_ran pass "$ran CUDA tests passed in all"
    else dc check cuda_tests_ran fail "no CUDA test passed"; fi
  fi

  echo "== 3. one epoch of TGN (trainer's default config) on Wikipedia"
  local has_device=1
  # The --device option is new; say so plainly if this trainer predates it.
  local help
  help=$("$trainer" train --help 2>&1 || true)
  [[ $help == *--device* ]] || has_device=0
  dc set trainer_has_device_option "$has_device" int
  [ $has_device = 1 ] || echo "    note: this trainer has no --device option; CPU runs go without it"
  local common=(train --data "$data" --epochs 1 --seed 0)
  [ -z "$max_batches" ] || common+=(--max-train-batches "$max_batches")
  # Accuracy comparisons run without dropout (bench/gpu/tgn-no-dropout.yaml says why); the
  # throughput run uses the default config.
  local nodrop=(--config "$root/bench/gpu/tgn-no-dropout.yaml")
  if [ $gpu = 1 ]; then
    run_step "$work/train-gpu.log" "$(step_limit 150)" "$trainer" "${common[@]}" \
      --output "$work/train-gpu" --device cuda --threads "$gpu_threads"
    dc train gpu "$work/train-gpu" "$step_rc" "$step_s" "$work/train-gpu.log"
    run_step "$work/train-gpu-nodrop.log" "$(step_limit 150)" "$trainer" "${common[@]}" \
      "${nodrop[@]}" --output "$work/train-gpu-nodrop" --device cuda --threads "$gpu_threads"
    dc train gpu_nodrop "$work/train-gpu-nodrop" "$step_rc" "$step_s" "$work/train-gpu-nodrop.log"
  fi
  local cpu_device=()
  [ $has_device = 0 ] || cpu_device=(--device cpu)
  run_step "$work/train-cpu.log" "$(step_limit 150)" "$trainer" "${common[@]}" "${nodrop[@]}" \
    --output "$work/train-cpu" "${cpu_device[@]}" --threads "$cpu_threads"
  dc train cpu_nodrop "$work/train-cpu" "$step_rc" "$step_s" "$work/train-cpu.log"
  if [ $gpu = 1 ]; then
    dc ap gpu_nodrop cpu_nodrop 0.01
    # bf16 autocast: its accuracy effect (same seed, batches and config as gpu_nodrop).
    run_step "$work/train-gpu-bf16.log" "$(step_limit 150)" "$trainer" "${common[@]}" \
      "${nodrop[@]}" --output "$work/train-gpu-bf16" --device cuda --precision bf16 \
      --threads "$gpu_threads"
    dc train gpu_bf16_nodrop "$work/train-gpu-bf16" "$step_rc" "$step_s" "$work/train-gpu-bf16.log"
    dc ap gpu_bf16_nodrop gpu_nodrop 0.02
    # Stage breakdown: the device synchronised at stage boundaries (slower than the run above).
    run_step "$work/train-gpu-profiled.log" "$(step_limit 150)" "$trainer" "${common[@]}" \
      --output "$work/train-gpu-profiled" --device cuda --profile-stages --threads "$gpu_threads"
    dc train gpu_profiled "$work/train-gpu-profiled" "$step_rc" "$step_s" "$work/train-gpu-profiled.log"
  elif [ "$cuda_ok" = True ]; then
    dc check cuda_refused skip "this machine has a GPU: --cpu-only cannot check the refusal"
  else
    # Without a GPU, --device cuda must stop at once: exit code 2, a message naming CUDA.
    run_step "$work/train-cuda-refused.log" "$(step_limit 60)" "$trainer" "${common[@]}" \
      --output "$work/train-cuda-refused" --device cuda --threads "$cpu_threads"
    if grep -qE 'not expected|unknown option|extra arguments' "$work/train-cuda-refused.log"; then
      dc check cuda_refused fail "the trainer does not know --device yet: $(head -c 200 "$work/train-cuda-refused.log" | tr '\n' ' ')"
    elif [ "$step_rc" = 2 ] && grep -qi cuda "$work/train-cuda-refused.log"; then
      dc check cuda_refused pass "exit code 2: $(grep -i -m1 cuda "$work/train-cuda-refused.log" | head -c 200)"
    else
      dc check cuda_refused fail "exit code $step_rc (expected 2 and a message naming CUDA)"
    fi
  fi

  echo "== 4. PyG TGN, same device"
  if [ $skip_pyg = 1 ]; then
    dc check pyg skip "--skip-pyg"
  elif ! LD_LIBRARY_PATH=$py_ld_library_path "$py" -c 'import torch_geometric, sklearn' 2>"$work/pyg-import.log"; then
    dc check pyg fail "$py cannot import torch_geometric and sklearn: $(tail -n1 "$work/pyg-import.log")"
  else
    local pyg_device=cuda pyg_batches=$max_batches
    if [ $gpu = 0 ]; then pyg_device=cpu pyg_batches=${max_batches:-20}; fi
    local pyg_args=(bench/pyg/pyg_tgn.py --device "$pyg_device" --epochs 1 --no-eval --seed 0
      --threads "$([ $gpu = 1 ] && echo "$gpu_threads" || echo "$cpu_threads")"
      --json "$out/pyg.json" --data "$data")
    [ -z "$pyg_batches" ] || pyg_args+=(--max-train-batches "$pyg_batches")
    rm -f "$out/pyg.json"
    run_step "$work/pyg.log" "$(step_limit 150)" env LD_LIBRARY_PATH="$py_ld_library_path" "$py" "${pyg_args[@]}"
    dc pyg "$out/pyg.json" "$step_rc" "$step_s" "$work/pyg.log"
  fi
  dc goals "$([ $gpu = 1 ] && echo gpu || echo cpu_nodrop)" "$([ -n "$max_batches" ] && echo 1 || echo 0)"

  dc set finished_at "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  dc set seconds "$SECONDS" int
  # Details in one file: the device call brings back at most 8 files.
  tar -czf "$out/device-check-details.tar.gz" -C "$work" --exclude='*.pt' --exclude=dc.py \
    --exclude='results.json*' . || true
  local rc=0
  LD_LIBRARY_PATH=$py_ld_library_path "$py" "$work/dc.py" "$results" summary || rc=$?
  if [ "$internal_errors" -gt 0 ]; then
    echo "device-check: $internal_errors internal error(s) above; results incomplete"
    rc=1
  fi
  cp "$results" "$out/device-check.json"
  echo "results: $out (device-check.json, device-check.log, device-check-details.tar.gz)"
  return $rc
}

rc=0
main 2>&1 | tee "$out/device-check.log" || rc=$?
exit $rc
