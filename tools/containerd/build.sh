#!/usr/bin/env bash
# Builds containerd, its runc shim and ctr (v2, for the lab's kubelet nodes) from the Go module
# proxy, once per (release, go.sum) key, into a cache outside the work tree; prints the directory.
# runc and the CNI plugins come from Debian (`runc`, `containernetworking-plugins`).
set -euo pipefail
export GOTOOLCHAIN=local CGO_ENABLED=0
cd "$(dirname "$0")"
command -v go >/dev/null || { echo "containerd: no Go toolchain on PATH" >&2; exit 2; }
V=$(go list -m -f '{{.Version}}' github.com/containerd/containerd/v2)
GOMINOR=$(go env GOVERSION | cut -d. -f1-2)
SUM=$(sha256sum go.sum | cut -c1-12)
ROOT=${CAUSEWAY_KUBEBIN:-$HOME/.cache/causeway/kubebin}
OUT="$ROOT/containerd-$V-$GOMINOR-$SUM"
BINS="containerd containerd-shim-runc-v2 ctr"
complete=1
for c in $BINS; do [ -x "$OUT/$c" ] || complete=0; done
if [ $complete = 1 ]; then echo "$OUT"; exit 0; fi
echo "containerd: building containerd $V into $OUT (about 2 min on 2 cores)" >&2
go mod download
TMP="$OUT.partial"; rm -rf "$TMP"; mkdir -p "$TMP"
TAGS="no_btrfs no_devmapper no_zfs no_aufs"
LD="-s -w -X github.com/containerd/containerd/v2/version.Version=$V"
for c in $BINS; do
  echo "containerd: building $c" >&2
  go build -trimpath -tags "$TAGS" -ldflags="$LD" -o "$TMP/$c" "github.com/containerd/containerd/v2/cmd/$c"
done
rm -rf "$OUT"; mv "$TMP" "$OUT"
echo "containerd: done" >&2
echo "$OUT"
