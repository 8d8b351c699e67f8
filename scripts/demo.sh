#!/usr/bin/env bash
# A short walk-through of the lab (the full migration demo comes with the controller, dns and
# netpeer): two real clusters, causeway's CRDs, and a ServiceExport/ServiceImport in each.
set -euo pipefail
cd "$(dirname "$0")/.."
LAB=./target/debug/causeway-lab
KUBECTL="$(bash tools/kubebins/build.sh)/kubectl"
step() { printf '\n== %s\n' "$*"; }

step "The lab: two real Kubernetes clusters (etcd, kube-apiserver, kube-controller-manager)"
$LAB status
for i in 1 2; do
  KC=$($LAB kubeconfig $i)
  step "cluster $i: kube-system UID (its future cluster id) and the MCS CRDs"
  $KUBECTL --kubeconfig "$KC" get ns kube-system -o jsonpath='{.metadata.uid}{"\n"}'
  $KUBECTL --kubeconfig "$KC" get crd -l multicluster.x-k8s.io/release-version
  step "cluster $i: namespace demo with a ServiceExport and a ServiceImport"
  $KUBECTL --kubeconfig "$KC" create namespace demo --dry-run=client -o yaml | $KUBECTL --kubeconfig "$KC" apply -f - >/dev/null
  $KUBECTL --kubeconfig "$KC" apply -n demo -f - <<YAML
apiVersion: multicluster.x-k8s.io/v1beta1
kind: ServiceExport
metadata: {name: serve}
---
apiVersion: multicluster.x-k8s.io/v1beta1
kind: ServiceImport
metadata: {name: serve}
spec:
  type: ClusterSetIP
  ports: [{port: 80, protocol: TCP}]
YAML
  $KUBECTL --kubeconfig "$KC" get svcex,svcim -n demo
done
step "Explore"
echo "  $KUBECTL --kubeconfig \$($LAB kubeconfig 1) get svcim -A"
echo "  $LAB down    # removes every process, file and device the lab made"
