#!/usr/bin/env bash
# Builds helm (v3, helm.sh/helm/v3/cmd/helm) from the Go module proxy, once per (version, Go
# minor, go.sum) key, into a cache outside the work tree, and prints the binary's path. Reuses a
# complete cache entry; publishes a new one atomically (rename of <key>.partial). Never a
# prebuilt download. Used by tools/helm/render-deploy.sh (deploy/ from charts/causeway) and the
# chart test (crates/causeway-cli/tests/chart.rs).
#
# The ldflags are those of helm's own Makefile: the version `helm version` prints, and the
# Kubernetes version of the client-go it was built with as the default capabilities of
# `helm template`/`helm lint` (without them helm assumes Kubernetes 1.20).
set -euo pipefail
export GOTOOLCHAIN=local CGO_ENABLED=0
cd "$(dirname "$0")"
command -v go >/dev/null || { echo "helm: no Go toolchain on PATH; install Go >= $(awk '$1=="go"{print $2}' go.mod)" >&2; exit 2; }
V=$(go list -m -f '{{.Version}}' helm.sh/helm/v3)
K8S=$(go list -m -f '{{.Version}}' k8s.io/client-go)   # v0.<minor>.<patch>
K8S_MINOR=$(echo "$K8S" | cut -d. -f2)
GOMINOR=$(go env GOVERSION | cut -d. -f1-2)
SUM=$(sha256sum go.sum | cut -c1-12)
KEY="helm-$V-$GOMINOR-$SUM"
ROOT=${CAUSEWAY_HELM:-$HOME/.cache/causeway/helm}
OUT="$ROOT/$KEY"
if [ -x "$OUT/helm" ]; then
  echo "$OUT/helm"; exit 0
fi
echo "helm: building helm.sh/helm/v3 $V with $(go env GOVERSION) into $OUT (about 2 min on 2 cores)" >&2
go mod download || { echo "helm: 'go mod download' failed: a module is not served by the Go module proxy; see the error above" >&2; exit 3; }
TMP="$OUT.partial"; rm -rf "$TMP"; mkdir -p "$TMP"
LD="-s -w -X helm.sh/helm/v3/internal/version.version=$V -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
for p in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
  LD="$LD -X $p.k8sVersionMajor=1 -X $p.k8sVersionMinor=$K8S_MINOR"
done
go build -trimpath -ldflags="$LD" -o "$TMP/helm" helm.sh/helm/v3/cmd/helm
rm -rf "$OUT"; mv "$TMP" "$OUT"
echo "helm: done" >&2
echo "$OUT/helm"
