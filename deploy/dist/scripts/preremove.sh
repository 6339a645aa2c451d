#!/bin/sh
# Before removal (deb: remove; rpm: %preun with $1 = 0): stop the service and delete the virtual
# environment the postinstall script built (no package owns its files). An upgrade keeps both; the
# data in /var/lib/county-alerting and the settings in /etc/county-alerting stay in any case.
set -e
case "${1:-}" in
  remove | 0) ;;
  *) exit 0 ;;
esac
if [ -d /run/systemd/system ]; then
  systemctl disable --now county-alerting.service >/dev/null 2>&1 || true
fi
rm -rf /opt/county-alerting
