#!/usr/bin/env bash
# Builds a real Kubernetes control plane for the operator's tests from Go modules (nothing but
# the module proxy is reachable; no release binaries): kube-apiserver, kube-scheduler and
# kube-controller-manager (Deployments and garbage collection for the end-to-end cluster) and
# kubectl from k8s.io/kubernetes, etcd from go.etcd.io/etcd/server/v3, kwok and helm. The
# binaries, the module cache and the build cache live in a cache shared by every checkout
# ($DISTTGL_CACHE/k8s-<pins>, default ~/.cache/disttgl); the checkout gets .deps/k8s/bin.
# Facts behind it: ../shared/reference/local-cluster-recipe.md. A second run takes seconds.
# Cold, on 2 cores: about 15 minutes (kube-apiserver alone about 8).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

K8S_VERSION=1.36.3
ETCD_VERSION=3.6.17
KWOK_VERSION=0.8.0
HELM_VERSION=4.3.2

log() { printf '[setup-k8s] %s\n' "$*"; }
GO_VERSION=1.26.8

# Go >= 1.26 builds Kubernetes 1.36. The machine's go when it is new enough, else Go's own
# toolchain module from the Go module proxy (golang.org/toolchain), unpacked into the cache.
go_ok() { command -v go > /dev/null && go version | grep -qE 'go1\.(2[6-9]|[3-9][0-9])'; }
if ! go_ok; then
  gocache=${DISTTGL_CACHE:-$HOME/.cache/disttgl}/go-toolchain-$GO_VERSION
  if [ ! -x "$gocache/go/bin/go" ]; then
    log "fetching Go $GO_VERSION (golang.org/toolchain from the module proxy)"
    mkdir -p "$gocache"
    curl -fsSL -o "$gocache/toolchain.zip" \
      "https://proxy.golang.org/golang.org/toolchain/@v/v0.0.1-go$GO_VERSION.linux-amd64.zip"
    python3 - "$gocache" << 'PY'
import os, sys, zipfile
dest = sys.argv[1]
prefix = "golang.org/toolchain@v0.0.1-go"
with zipfile.ZipFile(os.path.join(dest, "toolchain.zip")) as z:
    for info in z.infolist():
        rel = info.filename.split("/", 2)[-1] if info.filename.startswith(prefix) else None
        if not rel or info.is_dir():
            continue
        path = os.path.join(dest, "go", rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with z.open(info) as src, open(path, "wb") as out:
            out.write(src.read())
        os.chmod(path, (info.external_attr >> 16) & 0o777 or 0o644)
PY
    rm "$gocache/toolchain.zip"
  fi
  export PATH="$gocache/go/bin:$PATH"
  go_ok || { echo "setup-k8s: no usable Go >= 1.26 (tried $gocache/go)" >&2; exit 2; }
fi

cache=${DISTTGL_CACHE:-$HOME/.cache/disttgl}
dir="$cache/k8s-${K8S_VERSION}-etcd${ETCD_VERSION}-kwok${KWOK_VERSION}-helm${HELM_VERSION}"
bin="$dir/bin"
mkdir -p "$bin"
# One set of Go settings for every build: a changed flag changes every cache key.
export GOMODCACHE="$cache/go/mod" GOCACHE="$cache/go/build" GOFLAGS=-mod=mod CGO_ENABLED=0
export GOTOOLCHAIN=local

# k8s.io/kubernetes requires its staging modules at v0.0.0: a tools module replaces each with
# the matching published v0.<minor>.<patch>, listed from the release's own go.mod.
KUBE_COMMANDS=(kube-apiserver kube-scheduler kube-controller-manager kubectl)
build_kube() {
  local mod="$dir/src/kubernetes"
  if [ ! -f "$mod/go.mod" ]; then
    log "preparing the kubernetes tools module (v$K8S_VERSION)"
    rm -rf "$mod"
    mkdir -p "$mod"
    local gomod
    gomod=$(go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
    {
      echo "module disttgl.local/tools/kubernetes"
      echo
      echo "go 1.26.0"
      echo
      echo "require k8s.io/kubernetes v$K8S_VERSION"
      echo
      awk '/^\tk8s\.io\/[a-z0-9-]+ v0\.0\.0$/ {print $1}' "$gomod" | sort -u |
        sed "s#.*#replace & => & v0.${K8S_VERSION#1.}#"
    } > "$mod/go.mod.tmp"
    mv "$mod/go.mod.tmp" "$mod/go.mod"
  fi
  # The commands are imported by one file; a command added later re-tidies the module.
  local tools
  tools=$(printf 'package tools\n\nimport (\n'; printf '\t_ "k8s.io/kubernetes/cmd/%s"\n' "${KUBE_COMMANDS[@]}"; printf ')\n')
  if [ "$(cat "$mod/tools.go" 2> /dev/null)" != "$tools" ]; then
    printf '%s\n' "$tools" > "$mod/tools.go"
    (cd "$mod" && go mod tidy > /dev/null)
  fi
  local ldflags="-X k8s.io/component-base/version.gitVersion=v$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=${K8S_VERSION#1.}"
  ldflags=${ldflags%.*}  # gitMinor is the minor only ("36")
  for cmd in "${KUBE_COMMANDS[@]}"; do
    if [ ! -x "$bin/$cmd" ]; then
      log "building $cmd v$K8S_VERSION"
      (cd "$mod" && go build -ldflags "$ldflags" -o "$bin/$cmd.tmp" "k8s.io/kubernetes/cmd/$cmd")
      mv "$bin/$cmd.tmp" "$bin/$cmd"
    fi
  done
}

# etcd's go.mod has relative replaces, so `go install` fails: a tools module requires it.
build_etcd() {
  [ -x "$bin/etcd" ] && return
  local mod="$dir/src/etcd"
  log "building etcd v$ETCD_VERSION"
  rm -rf "$mod"
  mkdir -p "$mod"
  printf 'module disttgl.local/tools/etcd\n\ngo 1.26.0\n\nrequire go.etcd.io/etcd/server/v3 v%s\n' "$ETCD_VERSION" > "$mod/go.mod"
  printf 'package tools\n\nimport _ "go.etcd.io/etcd/server/v3"\n' > "$mod/tools.go"
  (cd "$mod" && go mod tidy > /dev/null && go build -o "$bin/etcd.tmp" go.etcd.io/etcd/server/v3)
  mv "$bin/etcd.tmp" "$bin/etcd"
}

install_tool() {  # install_tool NAME PACKAGE@VERSION
  [ -x "$bin/$1" ] && return
  log "building $1 ($2)"
  GOBIN="$bin" go install "$2"
}

build_kube
build_etcd
install_tool kwok "sigs.k8s.io/kwok/cmd/kwok@v$KWOK_VERSION"
install_tool helm "helm.sh/helm/v4/cmd/helm@v$HELM_VERSION"
# kwok's stock stages (node initialise and heartbeat, pod ready, delete) for the test harness.
stages="$dir/kwok-stages.yaml"
if [ ! -s "$stages" ]; then
  s="$GOMODCACHE/sigs.k8s.io/kwok@v$KWOK_VERSION/kustomize/stage"
  if [ ! -d "$s" ]; then
    (cd "$dir" && GOFLAGS= go mod download "sigs.k8s.io/kwok@v$KWOK_VERSION")
  fi
  for f in "$s"/node/fast/node-initialize.yaml "$s"/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
           "$s"/pod/fast/pod-ready.yaml "$s"/pod/fast/pod-delete.yaml; do
    cat "$f"
    printf '\n---\n'
  done > "$stages.tmp"
  mv "$stages.tmp" "$stages"
fi
mkdir -p .deps/k8s
ln -sfn "$bin" .deps/k8s/bin
ln -sfn "$stages" .deps/k8s/kwok-stages.yaml
log "control plane in .deps/k8s/bin: $(ls "$bin" | tr '\n' ' ')"
