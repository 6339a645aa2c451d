#!/usr/bin/env bash
# Obtains promtool (checks and unit-tests the Prometheus rules in deploy/monitoring/) once, into
# ~/.cache/alerting/bin, and prints its path. Installs nothing system-wide.
#
# First choice: Debian's `prometheus` package, downloaded (not installed) and unpacked, taking only
# usr/bin/promtool. Otherwise `go install` of promtool (several minutes).
set -euo pipefail

cache=${XDG_CACHE_HOME:-$HOME/.cache}/alerting
bin=$cache/bin
target=$bin/promtool
GO_VERSION=${PROMTOOL_GO_VERSION:-v0.316.0}  # module version of Prometheus v3.x
log() { echo "[promtool] $*" >&2; }

works() { [ -x "$target" ] && "$target" --version >/dev/null 2>&1; }

mkdir -p "$bin"
exec 9>"$bin/.promtool.lock"
flock 9  # two test sessions starting together build it once
if works; then
  echo "$target"
  exit 0
fi

from_debian() {
  command -v apt-get >/dev/null && command -v dpkg >/dev/null || return 1
  local scratch
  scratch=$(mktemp -d)
  chmod 755 "$scratch"  # apt downloads as its own user
  trap 'rm -rf "$scratch"' RETURN
  if ! (cd "$scratch" && apt-get download -q prometheus >&2); then
    [ "$(id -u)" = 0 ] || return 1
    log "refreshing the package lists"
    apt-get update -qq >&2
    (cd "$scratch" && apt-get download -q prometheus >&2) || return 1
  fi
  dpkg -x "$scratch"/prometheus_*.deb "$scratch/root"
  install -m 0755 "$scratch/root/usr/bin/promtool" "$target.new"
  mv "$target.new" "$target"
}

from_go() {
  command -v go >/dev/null || return 1
  log "building promtool $GO_VERSION with go install (several minutes)"
  GOBIN=$bin go install "github.com/prometheus/prometheus/cmd/promtool@$GO_VERSION" >&2
}

if from_debian && works; then
  log "promtool from Debian's prometheus package"
elif from_go && works; then
  log "promtool built with go install"
else
  log "promtool could not be obtained (neither apt-get download prometheus nor go install worked)"
  exit 1
fi
echo "$target"
