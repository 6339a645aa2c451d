#!/usr/bin/env bash
# Makes sure Debian's chromium is installed for the browser tests (Playwright drives /usr/bin/chromium),
# with fonts-noto-cjk so that screenshots show Chinese instead of boxes.
set -euo pipefail
have_fonts() { [ -d /usr/share/fonts/opentype/noto ] && fc-list :lang=zh 2>/dev/null | grep -q .; }
[ -x /usr/bin/chromium ] && have_fonts && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "[chromium] chromium or fonts-noto-cjk is missing; run: sudo apt-get install chromium fonts-noto-cjk" >&2
  exit 1
fi
echo "[chromium] installing Debian's chromium and fonts-noto-cjk" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
apt-get install -y -qq chromium fonts-noto-cjk >&2
