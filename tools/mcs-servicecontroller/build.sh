#!/usr/bin/env bash
# Builds the upstream mcs-api servicecontroller (the reference for `causeway-bench imports`) from the
# Go module proxy, once per (versions, go.sum) key, into a cache outside the work tree. Prints the
# binary's path. Reuses a complete cache entry; publishes a new one atomically (rename of
# <key>.partial).
set -euo pipefail
export GOTOOLCHAIN=local CGO_ENABLED=0
cd "$(dirname "$0")"
command -v go >/dev/null || { echo "mcs-servicecontroller: no Go toolchain on PATH; install Go >= $(awk '$1=="go"{print $2}' go.mod)" >&2; exit 2; }
A=$(go list -m -f '{{.Version}}' sigs.k8s.io/mcs-api)
C=$(go list -m -f '{{.Version}}' sigs.k8s.io/mcs-api/controllers)
GOV=$(go env GOVERSION); GOMINOR=$(echo "$GOV" | cut -d. -f1-2)
SUM=$(sha256sum go.sum | cut -c1-12)
KEY="mcs-api-$A-controllers-$C-$GOMINOR-$SUM"
ROOT=${CAUSEWAY_MCS_SERVICECONTROLLER:-$HOME/.cache/causeway/mcs-servicecontroller}
OUT="$ROOT/$KEY"
if [ -x "$OUT/servicecontroller" ]; then
  echo "$OUT/servicecontroller"; exit 0
fi
echo "mcs-servicecontroller: building sigs.k8s.io/mcs-api/controllers $C (mcs-api $A) with $GOV into $OUT" >&2
go mod download || { echo "mcs-servicecontroller: 'go mod download' failed: a module is not served by the Go module proxy; see the error above" >&2; exit 3; }
TMP="$OUT.partial"; rm -rf "$TMP"; mkdir -p "$TMP"
go build -trimpath -ldflags="-s -w" -o "$TMP/servicecontroller" sigs.k8s.io/mcs-api/controllers/cmd/servicecontroller
rm -rf "$OUT"; mv "$TMP" "$OUT"
echo "mcs-servicecontroller: done" >&2
echo "$OUT/servicecontroller"
