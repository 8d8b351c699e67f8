#!/usr/bin/env bash
# Builds etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kube-proxy, kubelet and kubectl from the Go module proxy,
# once per (release, go.sum) key, into a cache outside the work tree. Prints the binary directory.
# Reuses a complete cache entry; publishes a new one atomically (rename of <key>.partial).
set -euo pipefail
export GOTOOLCHAIN=local CGO_ENABLED=0
cd "$(dirname "$0")"
command -v go >/dev/null || { echo "kubebins: no Go toolchain on PATH; install Go >= $(awk '$1=="go"{print $2}' go.mod) (Debian: golang-go is too old; use the machine's Go)" >&2; exit 2; }
K=$(go list -m -f '{{.Version}}' k8s.io/kubernetes); K=${K#v}
E=$(go list -m -f '{{.Version}}' go.etcd.io/etcd/server/v3)
GOV=$(go env GOVERSION); GOMINOR=$(echo "$GOV" | cut -d. -f1-2)
SUM=$(sha256sum go.sum | cut -c1-12)
KEY="k8s-v$K-etcd-$E-$GOMINOR-$SUM"
ROOT=${CAUSEWAY_KUBEBIN:-$HOME/.cache/causeway/kubebin}
OUT="$ROOT/$KEY"
BINS="etcd kube-apiserver kube-controller-manager kube-scheduler kube-proxy kubelet kubectl"
complete=1
for c in $BINS; do [ -x "$OUT/$c" ] || complete=0; done
if [ $complete = 1 ]; then echo "$OUT"; exit 0; fi
echo "kubebins: building Kubernetes v$K and etcd $E with $GOV into $OUT (cold build: 10-25 min on 2 cores)" >&2
echo "kubebins: downloading modules" >&2
go mod download || { echo "kubebins: 'go mod download' failed: a module is not served by the Go module proxy; see the error above" >&2; exit 3; }
M=${K#1.}; M=${M%%.*}; LD="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  LD="$LD -X $p.gitVersion=v$K -X $p.gitMajor=1 -X $p.gitMinor=$M -X $p.gitTreeState=clean"
done
TMP="$OUT.partial"; rm -rf "$TMP"; mkdir -p "$TMP"
for c in $BINS; do
  echo "kubebins: building $c" >&2
  if [ "$c" = etcd ]; then
    go build -trimpath -ldflags="-s -w" -o "$TMP/etcd" go.etcd.io/etcd/server/v3
  else
    go build -trimpath -ldflags="$LD" -o "$TMP/$c" "k8s.io/kubernetes/cmd/$c"
  fi
done
rm -rf "$OUT"; mv "$TMP" "$OUT"
echo "kubebins: done" >&2
echo "$OUT"
