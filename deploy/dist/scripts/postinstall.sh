#!/bin/sh
# After unpacking (deb: configure; rpm: %post): the system user, then /opt/county-alerting from the
# bundled wheelhouse, offline. The service is not started on a first install: its settings come first.
set -e
case "${1:-}" in
  configure | 1 | 2 | "") ;;
  *) exit 0 ;;  # deb abort-upgrade and the like: nothing to do
esac
getent group county-alerting >/dev/null || groupadd --system county-alerting
if ! getent passwd county-alerting >/dev/null; then
  nologin=/usr/sbin/nologin
  [ -x "$nologin" ] || nologin=/sbin/nologin
  useradd --system --gid county-alerting --home-dir /var/lib/county-alerting --no-create-home \
    --shell "$nologin" --comment "county alerting service" county-alerting
fi
/usr/share/county-alerting/install.sh --venv-only --prefix /opt/county-alerting
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload || true
  # An upgrade (deb: configure OLD-VERSION; rpm: $1 = 2) restarts a running service on the new code.
  if { [ "${1:-}" = configure ] && [ -n "${2:-}" ]; } || [ "${1:-}" = 2 ]; then
    systemctl try-restart county-alerting.service || true
  fi
fi
if [ -z "${2:-}" ] && [ "${1:-}" != 2 ]; then
  echo "county-alerting: 请编辑 /etc/county-alerting/alerting.env，然后 systemctl enable --now county-alerting / edit /etc/county-alerting/alerting.env, then: systemctl enable --now county-alerting"
fi
