#!/usr/bin/env bash
# Makes sure Debian's chromium is installed for the browser tests (Playwright drives /usr/bin/chromium).
set -euo pipefail
[ -x /usr/bin/chromium ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "[chromium] /usr/bin/chromium is missing; run: sudo apt-get install chromium" >&2
  exit 1
fi
echo "[chromium] installing Debian's chromium" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
apt-get install -y -qq chromium >&2
