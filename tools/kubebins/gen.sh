#!/usr/bin/env bash
# Regenerates go.mod/go.sum of the kubebins wrapper module for Kubernetes release $1.
# Run only when changing the pinned release; the result is committed (it is the lab's lockfile).
set -euo pipefail
export GOTOOLCHAIN=local
K=${1:?usage: gen.sh 1.36.3}; S=0.${K#1.}
cd "$(dirname "$0")"
rm -f go.mod go.sum
go mod init causeway.invalid/kubebins
KMOD=$(go mod download -json "k8s.io/kubernetes@v$K" | sed -n 's/^\s*"GoMod": "\(.*\)",$/\1/p')
go mod edit -go="$(awk '$1=="go"{print $2}' "$KMOD")"
awk '$1=="godebug" && $2!="(" {print $2}' "$KMOD" | while read -r kv; do go mod edit -godebug="$kv"; done
awk '$2=="=>" && $3 ~ /^\.\/staging\// {print $1}' "$KMOD" |
  while read -r m; do go mod edit -replace="$m=$m@v$S"; done
go get -tool "k8s.io/kubernetes/cmd/kube-apiserver@v$K" "k8s.io/kubernetes/cmd/kube-controller-manager@v$K" \
  "k8s.io/kubernetes/cmd/kube-proxy@v$K" "k8s.io/kubernetes/cmd/kubectl@v$K" \
  "k8s.io/kubernetes/cmd/kubelet@v$K" "k8s.io/kubernetes/cmd/kube-scheduler@v$K"
E=$(go list -m -f '{{.Version}}' go.etcd.io/etcd/server/v3)
go get -tool "go.etcd.io/etcd/server/v3@$E"
go mod tidy
go mod download
