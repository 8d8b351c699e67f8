#!/usr/bin/env bash
# Regenerates go.mod/go.sum of the CoreDNS wrapper module (lab-notes §9), the reference for
# `causeway-bench dns`. Run only when changing the pinned release; the result is committed (it is
# this tool's lockfile). Own module: CoreDNS pins client-go and etcd versions that must not meet
# tools/kubebins' or tools/mcs-servicecontroller's in one build list.
#
# Pinned to v1.14.7 (`go 1.25.0`), the release lab-notes §9 names. The proxy also serves v1.15.0,
# whose `go 1.26.0` line the local Go 1.26 satisfies as well; moving to it means `gen.sh v1.15.0`
# and a rerun of `causeway-bench dns`. CoreDNS has no replace directives, and since 1.12.2 its
# built-in kubernetes plugin has the `multicluster` option, so no external plugin is needed.
set -euo pipefail
export GOTOOLCHAIN=local
V=${1:-v1.14.7}
cd "$(dirname "$0")"
rm -f go.mod go.sum
go mod init causeway.invalid/coredns
CMOD=$(go mod download -json "github.com/coredns/coredns@$V" | sed -n 's/^\s*"GoMod": "\(.*\)",$/\1/p')
# Same go line as the release (tool lines need >= 1.24 anyway); never the local patch release.
go mod edit -go="$(awk '$1=="go"{print $2}' "$CMOD")"
# Always an explicit version: a bare path would mean @upgrade. Never `go get -u` here.
go get -tool "github.com/coredns/coredns@$V"
go mod tidy
go mod download
