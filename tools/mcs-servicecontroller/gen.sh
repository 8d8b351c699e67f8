#!/usr/bin/env bash
# Regenerates go.mod/go.sum of the mcs-servicecontroller wrapper module (lab-notes §9).
# Run only when changing the pinned versions; the result is committed (it is this tool's lockfile).
#
# Why a pseudo-version for the controllers module: sigs.k8s.io/mcs-api/controllers is a nested module
# whose release tags are the repository's plain `vX.Y.Z` tags, not `controllers/vX.Y.Z`, so the Go
# module proxy serves no `controllers@v0.5.0` (404). Only commit pseudo-versions exist, and of those
# only ones the checksum database knows can be fetched here. CONTROLLERS is the newest such one we
# found (2025-07-24); its code is what the v0.5.x tags ship under controllers/ for our purposes
# (v1alpha1 ServiceImport types, --metrics-addr, --enable-leader-election). The root module (API
# types) is pinned to the release MCS_API.
set -euo pipefail
export GOTOOLCHAIN=local
MCS_API=${1:-v0.5.0}
CONTROLLERS=${2:-v0.0.0-20250724073829-5b846203867b}
cd "$(dirname "$0")"
rm -f go.mod go.sum
go mod init causeway.invalid/mcs-servicecontroller
# `tool` lines need go >= 1.24; don't demand the local toolchain's patch release.
go mod edit -go=1.24.0
# The sub-module's `replace sigs.k8s.io/mcs-api => ..` is ignored in a dependency, so the root module
# must be required explicitly at a real version (a module, not a package: no -tool).
go get "sigs.k8s.io/mcs-api@$MCS_API"
go get -tool "sigs.k8s.io/mcs-api/controllers/cmd/servicecontroller@$CONTROLLERS"
go mod tidy
go mod download
