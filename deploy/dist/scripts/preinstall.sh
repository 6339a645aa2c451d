#!/bin/sh
# Refuse to install where no CPython 3.11 or later exists: the postinstall script needs one to
# build /opt/county-alerting (install.sh then checks the exact minor versions the wheels are for).
set -e
for candidate in ${ALERTING_PYTHON:-} python3.13 python3.12 python3.11 python3; do
  if command -v "$candidate" >/dev/null 2>&1 &&
    "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    exit 0
  fi
done
echo "county-alerting: 需要 Python 3.11 或更高版本；麒麟 V10、统信 UOS 请先安装 python3.11 软件包 / Python 3.11 or later is required (Kylin V10, UOS: install a python3.11 package first)" >&2
exit 1
