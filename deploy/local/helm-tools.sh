#!/usr/bin/env bash
# Builds the chart's check tools once into ~/.cache/alerting/bin and prints their paths, one a line:
# helm, helm-unittest, kubeconform. None of them is packaged by Debian, PyPI or npm; all three build
# from the Go module proxy with the Go toolchain on the machine. Re-running is a no-op when the
# binaries of the pinned versions are there.
set -euo pipefail

HELM_VERSION=v3.22.0
HELM_UNITTEST_VERSION=v1.1.2
KUBECONFORM_VERSION=v0.8.0
# helm's release builds stamp its version and the Kubernetes version it renders for by default (the
# minor of the client-go it is built with: 0.37 for helm 3.22, 0.36 for helm-unittest 1.1.2's helm
# 3.21). A plain `go install` leaves v1.20, which fails any chart that declares kubeVersion >= 1.25.
HELM_LDFLAGS="-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
HELM_LDFLAGS+=" -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=37"
HELM_LDFLAGS+=" -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=37"
UNITTEST_LDFLAGS="-X github.com/helm-unittest/helm-unittest/internal/build.version=$HELM_UNITTEST_VERSION"
UNITTEST_LDFLAGS+=" -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=36"

CACHE="${ALERTING_TOOLS_CACHE:-$HOME/.cache/alerting}"
BIN="$CACHE/bin"
mkdir -p "$BIN"
# One build at a time: parallel pytest sessions (or CI and a developer) share the cache.
exec 9>"$CACHE/helm-tools.lock"
flock 9

# A stamp file next to each binary records the version it was built from, so a bump rebuilds it.
built() { [[ -x "$BIN/$1" && "$(cat "$BIN/.$1.version" 2>/dev/null)" == "$2" ]]; }
stamp() { echo "$2" >"$BIN/.$1.version"; }

log() { echo "helm-tools: $*" >&2; }

needs_build() { ! built helm "$HELM_VERSION k8s-1.37" || ! built helm-unittest "$HELM_UNITTEST_VERSION k8s-1.36" \
  || ! built kubeconform "$KUBECONFORM_VERSION stamped"; }
if needs_build && ! command -v go >/dev/null; then
  log "需要 Go 工具链来构建 helm 等工具 / the Go toolchain (go 1.26 or GOTOOLCHAIN=auto) is needed to build helm, helm-unittest, kubeconform"
  exit 1
fi

if ! built helm "$HELM_VERSION k8s-1.37"; then
  log "building helm $HELM_VERSION (about 2 minutes)"
  GOBIN="$BIN" go install -ldflags "$HELM_LDFLAGS" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  stamp helm "$HELM_VERSION k8s-1.37"
fi

if ! built helm-unittest "$HELM_UNITTEST_VERSION k8s-1.36"; then
  # `go install ...@version` refuses a module whose go.mod has a replace directive; a scratch main
  # module that requires helm-unittest and declares the same replace builds it.
  log "building helm-unittest $HELM_UNITTEST_VERSION (about 1.5 minutes)"
  scratch="$CACHE/build/helm-unittest-$HELM_UNITTEST_VERSION"
  rm -rf "$scratch"
  mkdir -p "$scratch"
  (
    cd "$scratch"
    go mod init scratch.invalid/helm-unittest-build >/dev/null 2>&1
    go mod edit -replace=github.com/vmware-labs/yaml-jsonpath@v0.3.2=github.com/helm-unittest/yaml-jsonpath@v0.4.0
    go get "github.com/helm-unittest/helm-unittest/cmd/helm-unittest@$HELM_UNITTEST_VERSION" >&2
    GOBIN="$BIN" go install -ldflags "$UNITTEST_LDFLAGS" github.com/helm-unittest/helm-unittest/cmd/helm-unittest
  )
  stamp helm-unittest "$HELM_UNITTEST_VERSION k8s-1.36"
fi

if ! built kubeconform "$KUBECONFORM_VERSION stamped"; then
  log "building kubeconform $KUBECONFORM_VERSION"
  GOBIN="$BIN" go install -ldflags "-X main.version=$KUBECONFORM_VERSION" "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION"
  stamp kubeconform "$KUBECONFORM_VERSION stamped"
fi

echo "$BIN/helm"
echo "$BIN/helm-unittest"
echo "$BIN/kubeconform"
