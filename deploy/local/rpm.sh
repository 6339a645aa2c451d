#!/usr/bin/env bash
# rpm (reads the .rpm that `make dist` builds: rpm -qp): Debian's package, installed once with apt-get.
# Prints the binary's path on stdout.
set -euo pipefail
if ! command -v rpm >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq rpm >&2 || { apt-get update -qq >&2 && apt-get install -y -qq rpm >&2; }
fi
command -v rpm
