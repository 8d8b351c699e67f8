#!/usr/bin/env bash
# Renders deploy/ from the chart (charts/causeway): `helm template` with tools/helm/deploy-values.yaml
# into namespace causeway-system, one file per template (deploy/<component>/<template>), the
# netpeer uninstall DaemonSet (netpeer/cleanup.yaml) from a second pass with
# netpeer.enabled=false and netpeer.cleanup.enabled=true, and the chart's CRDs to
# deploy/crds/. The chart is the source of truth; deploy/ is committed for `kubectl apply -f`
# users and the tests that read it, and crates/causeway-cli/tests/chart.rs fails when it drifts.
#
#   tools/helm/render-deploy.sh          rewrite deploy/
#   tools/helm/render-deploy.sh DIR      render into DIR instead (the drift test)
# Hand-written files in deploy/ (deploy/dns/coredns.md) are not touched.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-deploy}
HELM=${HELM:-$(bash tools/helm/build.sh)}
CHART=charts/causeway
VALUES=tools/helm/deploy-values.yaml
NS=causeway-system
TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT
"$HELM" template causeway "$CHART" -n "$NS" -f "$VALUES" --output-dir "$TMP/main" >/dev/null
mkdir -p "$TMP/main/causeway/templates/netpeer"
"$HELM" template causeway "$CHART" -n "$NS" -f "$VALUES" \
  --set netpeer.enabled=false --set netpeer.cleanup.enabled=true \
  --show-only templates/netpeer/cleanup.yaml >"$TMP/main/causeway/templates/netpeer/cleanup.yaml"
HEADER="# Generated from charts/causeway by tools/helm/render-deploy.sh: do not edit (change the chart
# or tools/helm/deploy-values.yaml and run the script)."
for dir in controller dns netpeer crds; do
  mkdir -p "$OUT/$dir"
  find "$OUT/$dir" -maxdepth 1 -name '*.yaml' -delete
done
for f in "$TMP"/main/causeway/templates/*/*.yaml; do
  rel=${f#"$TMP"/main/causeway/templates/}
  { echo "$HEADER"; cat "$f"; } >"$OUT/$rel"
done
{ echo "$HEADER"; cat "$CHART"/crds/causeway-crds.yaml; } >"$OUT/crds/causeway-crds.yaml"
