#!/usr/bin/env bash
# nfpm (builds the .deb and .rpm from deploy/dist/nfpm.yaml): built once from source with Go into
# ~/.cache/alerting/bin, then reused. Prints the binary's path on stdout; progress goes to stderr.
set -euo pipefail
VERSION=2.45.2
BIN="${ALERTING_TOOLS_BIN:-$HOME/.cache/alerting/bin}"
NFPM="$BIN/nfpm"
mkdir -p "$BIN"
# Several checkouts may ask at once: one builds, the others wait for it.
exec 9>"$BIN/.nfpm.lock"
flock 9
# A binary from `go install` reports "dev" as its version; its module version is in the build info.
if ! { [ -x "$NFPM" ] && go version -m "$NFPM" 2>/dev/null | grep -qE "^\s+mod\s+\S+\s+v$VERSION\s"; }; then
  command -v go >/dev/null || { echo "nfpm.sh: Go is needed to build nfpm ($VERSION)" >&2; exit 1; }
  echo "nfpm.sh: building nfpm $VERSION with go install (a few minutes, once)" >&2
  GOBIN="$BIN" GOFLAGS=-mod=mod go install "github.com/goreleaser/nfpm/v2/cmd/nfpm@v$VERSION" >&2
fi
echo "$NFPM"
