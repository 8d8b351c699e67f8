#!/usr/bin/env bash
# Builds CoreDNS from the Go module proxy, once per (version, Go minor, go.sum) key, into a cache
# outside the work tree, and prints the binary's path. Reuses a complete cache entry; publishes a
# new one atomically (rename of <key>.partial).
#
#   tools/coredns/build.sh           v1.14.7 (this directory's module): `causeway-bench dns`'s
#                                    reference and the current CoreDNS of the stub-zone test
#   tools/coredns/build.sh v1.8.0    v1.8.0 (the v1.8.0/ module): the CoreDNS that kubeadm 1.21 and
#                                    RKE1's Kubernetes 1.21 deploy, for the same stub-zone test
set -euo pipefail
export GOTOOLCHAIN=local CGO_ENABLED=0
cd "$(dirname "$0")/${1:-.}"
[ -f go.mod ] || { echo "coredns: no wrapper module for '${1:-}' (known: default, v1.8.0)" >&2; exit 2; }
command -v go >/dev/null || { echo "coredns: no Go toolchain on PATH; install Go >= $(awk '$1=="go"{print $2}' go.mod)" >&2; exit 2; }
V=$(go list -m -f '{{.Version}}' github.com/coredns/coredns)
GOV=$(go env GOVERSION); GOMINOR=$(echo "$GOV" | cut -d. -f1-2)
SUM=$(sha256sum go.sum | cut -c1-12)
KEY="coredns-$V-$GOMINOR-$SUM"
ROOT=${CAUSEWAY_COREDNS:-$HOME/.cache/causeway/coredns}
OUT="$ROOT/$KEY"
if [ -x "$OUT/coredns" ]; then
  echo "$OUT/coredns"; exit 0
fi
echo "coredns: building github.com/coredns/coredns $V with $GOV into $OUT" >&2
go mod download || { echo "coredns: 'go mod download' failed: a module is not served by the Go module proxy; see the error above" >&2; exit 3; }
TMP="$OUT.partial"; rm -rf "$TMP"; mkdir -p "$TMP"
go build -trimpath -ldflags="-s -w" -o "$TMP/coredns" github.com/coredns/coredns
rm -rf "$OUT"; mv "$TMP" "$OUT"
echo "coredns: done" >&2
echo "$OUT/coredns"
