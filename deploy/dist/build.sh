#!/usr/bin/env bash
# `make dist`: the offline bundle for plain servers, in dist/ (or $DIST_DIR):
#   county-alerting-VERSION-ARCH-wheelhouse/   the project and its locked runtime dependencies as wheels
#   county_alerting_VERSION_DEBARCH.deb, county-alerting-VERSION.ARCH.rpm   (nfpm, deploy/dist/nfpm.yaml)
#   county-alerting-VERSION-ARCH.tar.gz        wheelhouse + install.sh + units + examples, for the rest
# The wheels are for this machine's CPU architecture (build on aarch64 for Kunpeng or Phytium
# servers), glibc 2.28 or later, and the CPython minor versions in $DIST_PYTHONS.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
VENV=${VENV:-$ROOT/.venv}
OUT=${DIST_DIR:-$ROOT/dist}
cd "$ROOT"
PY="$VENV/bin/python"
VERSION=$("$PY" -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')
ARCH=$(uname -m)
case "$ARCH" in
  x86_64) PKG_ARCH=amd64 ;;
  aarch64) PKG_ARCH=arm64 ;;
  *) echo "build.sh: no packages for $ARCH (aiokafka publishes wheels for x86_64 and aarch64 only)" >&2; exit 1 ;;
esac
BUILD_PY=$("$PY" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
PYTHONS=${DIST_PYTHONS:-3.11 3.12 3.13}
NAME="county-alerting-$VERSION-$ARCH"
STAGE="$OUT/build/$NAME"
WHEELHOUSE="$STAGE/wheelhouse"
started=$(date +%s)

"$VENV/bin/uv" lock --check --offline
rm -rf "$OUT/build" "$OUT/$NAME"* "$OUT"/county-alerting[_-]"$VERSION"*
mkdir -p "$WHEELHOUSE"
# Runtime dependencies only (no dev extra), every version and hash from uv.lock.
"$VENV/bin/uv" export --frozen --quiet --no-dev --no-emit-project --format requirements-txt \
  -o "$OUT/build/requirements.txt"
# pip wheel turns a source-only package into a wheel, so the target needs no compiler. The project's
# own wheel is built from this checkout (its build backend, setuptools, comes from the index).
"$VENV/bin/pip" wheel --quiet --require-hashes --no-deps -r "$OUT/build/requirements.txt" -w "$WHEELHOUSE"
"$VENV/bin/pip" wheel --quiet --no-deps "$ROOT" -w "$WHEELHOUSE"
rm -rf "$ROOT/build"  # setuptools' scratch directory
# Binary wheels for every CPython in $PYTHONS that run on glibc 2.28 (Kylin V10, UOS 20, RHEL 8,
# openEuler): pip on this machine picked wheels for its own, newer glibc. Hash-checked like the rest;
# a package published only as source already has its (pure) wheel from the step above.
PLATFORMS="--platform manylinux1_$ARCH --platform manylinux2010_$ARCH --platform manylinux2014_$ARCH"
for glibc in 5 12 $(seq 17 28); do PLATFORMS="$PLATFORMS --platform manylinux_2_${glibc}_$ARCH"; done
for version in $PYTHONS; do
  tag="cp${version/./}"
  rm -rf "$OUT/build/download"
  # shellcheck disable=SC2086  # PLATFORMS is a list of options
  "$VENV/bin/pip" download --quiet --require-hashes --no-deps --python-version "$version" \
    --implementation cp --abi "$tag" --abi abi3 --abi none $PLATFORMS \
    -r "$OUT/build/requirements.txt" -d "$OUT/build/download"
  cp -n "$OUT"/build/download/*.whl "$WHEELHOUSE/"
done
echo "$PYTHONS" > "$WHEELHOUSE/PYTHON_VERSIONS"
echo "$VERSION" > "$WHEELHOUSE/VERSION"

cp deploy/dist/install.sh "$STAGE/install.sh"
mkdir -p "$STAGE/systemd" "$STAGE/etc"
cp deploy/systemd/*.service "$STAGE/systemd/"
cp deploy/dist/alerting.env deploy/dist/migrate.env "$STAGE/etc/"
cp deploy/policy.example.toml "$STAGE/etc/policy.toml"
cp deploy/roster.example.csv "$STAGE/etc/roster.example.csv"
cp README.md "$STAGE/README.md"

cp -r deploy/dist/scripts "$OUT/build/scripts"

NFPM=$(deploy/local/nfpm.sh)
export DIST_VERSION="$VERSION" DIST_ARCH="$PKG_ARCH"
for packager in deb rpm; do
  (cd "$STAGE" && "$NFPM" package --config "$ROOT/deploy/dist/nfpm.yaml" --packager "$packager" --target "$OUT/") >&2
done

cp -r "$WHEELHOUSE" "$OUT/$NAME-wheelhouse"
tar -C "$OUT/build" -czf "$OUT/$NAME.tar.gz" "$NAME"
rm -rf "$OUT/build"
echo "build.sh: dist/ built in $(($(date +%s) - started)) s:" >&2
(cd "$OUT" && du -sh -- *"$VERSION"* >&2)
