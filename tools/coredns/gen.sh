#!/usr/bin/env bash
# Regenerates go.mod/go.sum of a CoreDNS wrapper module (lab-notes §9). Run only when changing a
# pinned release; the result is committed (it is the tool's lockfile). Own modules: CoreDNS pins
# client-go and etcd versions that must not meet tools/kubebins' or tools/mcs-servicecontroller's
# in one build list.
#
#   tools/coredns/gen.sh             v1.14.7 into tools/coredns (the release lab-notes §9 names;
#                                    its built-in kubernetes plugin has `multicluster`, 1.12.2+)
#   tools/coredns/gen.sh v1.8.0 v1.8.0   v1.8.0 into tools/coredns/v1.8.0 (Kubernetes 1.21's CoreDNS)
#
# The proxy also serves v1.15.0 (`go 1.26.0`); moving the default to it means `gen.sh v1.15.0`
# and a rerun of `causeway-bench dns`. CoreDNS has no replace directives.
set -euo pipefail
export GOTOOLCHAIN=local
V=${1:-v1.14.7}
DIR=${2:-.}
cd "$(dirname "$0")"
mkdir -p "$DIR" && cd "$DIR"
rm -f go.mod go.sum
go mod init causeway.invalid/coredns
CMOD=$(go mod download -json "github.com/coredns/coredns@$V" | sed -n 's/^\s*"GoMod": "\(.*\)",$/\1/p')
# The release's go line, but at least 1.24 (tool lines need it); never the local patch release.
GOLINE=$(awk '$1=="go"{print $2}' "$CMOD")
if [ "$(printf '%s\n1.24\n' "$GOLINE" | sort -V | head -1)" != "1.24" ]; then GOLINE=1.24; fi
go mod edit -go="$GOLINE"
# Always an explicit version: a bare path would mean @upgrade. Never `go get -u` here.
go get -tool "github.com/coredns/coredns@$V"
go mod tidy
go mod download
