#!/bin/sh
# Installs the service from the wheelhouse beside this script, without the network:
#   sudo ./install.sh              a plain server: system user, /opt/county-alerting, the systemd
#                                  units and /etc/county-alerting (existing settings are kept)
#   install.sh --venv-only [--prefix DIR]   only the virtual environment (the .deb/.rpm call this)
# Needs CPython 3.11 or later, of a minor version the wheelhouse was built for (PYTHON_VERSIONS),
# with its venv module; ALERTING_PYTHON names the interpreter if it is not found on PATH.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
WHEELHOUSE="$HERE/wheelhouse"
PREFIX=/opt/county-alerting
VENV_ONLY=no
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) PREFIX=$2; shift 2 ;;
    --venv-only) VENV_ONLY=yes; shift ;;
    *) echo "install.sh: 未知参数 / unknown argument: $1" >&2; exit 2 ;;
  esac
done
VERSION=$(cat "$WHEELHOUSE/VERSION")
SUPPORTED=$(cat "$WHEELHOUSE/PYTHON_VERSIONS")

PYTHON=""
for candidate in ${ALERTING_PYTHON:-} python3.13 python3.12 python3.11 python3; do
  command -v "$candidate" >/dev/null 2>&1 || continue
  minor=$("$candidate" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null) || continue
  for wanted in $SUPPORTED; do
    if [ "$minor" = "$wanted" ]; then PYTHON=$(command -v "$candidate"); break 2; fi
  done
done
if [ -z "$PYTHON" ]; then
  echo "install.sh: 未找到可用的 Python（需要 CPython $SUPPORTED，且含 venv 模块）；麒麟 V10、统信 UOS 自带的 python3 版本过低，请先安装 python3.11 软件包，或用 ALERTING_PYTHON 指定解释器 / no usable Python found: CPython $SUPPORTED with its venv module is needed (Kylin V10 and UOS ship an older python3: install a python3.11 package first, or name the interpreter in ALERTING_PYTHON)" >&2
  exit 1
fi

# A fresh environment each time: an upgrade leaves nothing of the old version behind. It is built in
# place (a venv cannot be moved: its scripts name their interpreter by path).
rm -rf "$PREFIX"
if ! "$PYTHON" -m venv "$PREFIX"; then
  echo "install.sh: $PYTHON -m venv 失败：请安装该 Python 的 venv 软件包（如 python3.11-venv） / $PYTHON -m venv failed: install its venv package (e.g. python3.11-venv)" >&2
  exit 1
fi
PIP_NO_INDEX=1 PIP_DISABLE_PIP_VERSION_CHECK=1 "$PREFIX/bin/pip" install --quiet --no-index \
  --no-cache-dir --find-links "$WHEELHOUSE" "county-alerting==$VERSION"
echo "install.sh: $("$PREFIX/bin/alerting" --version) in $PREFIX ($PYTHON)" >&2
[ "$VENV_ONLY" = yes ] && exit 0

# A plain server without deb/rpm: what the packages would lay down.
getent group county-alerting >/dev/null || groupadd --system county-alerting
getent passwd county-alerting >/dev/null || useradd --system --gid county-alerting \
  --home-dir /var/lib/county-alerting --no-create-home --shell /sbin/nologin county-alerting
install -d -m 0755 /etc/county-alerting
for file in alerting.env migrate.env; do
  [ -e "/etc/county-alerting/$file" ] || install -m 0600 "$HERE/etc/$file" "/etc/county-alerting/$file"
done
for file in policy.toml roster.example.csv; do
  [ -e "/etc/county-alerting/$file" ] || install -m 0644 "$HERE/etc/$file" "/etc/county-alerting/$file"
done
install -m 0644 "$HERE"/systemd/*.service /etc/systemd/system/
if [ -d /run/systemd/system ]; then systemctl daemon-reload; fi
echo "install.sh: 请编辑 /etc/county-alerting/alerting.env，然后 systemctl enable --now county-alerting / edit /etc/county-alerting/alerting.env, then: systemctl enable --now county-alerting" >&2
