#!/usr/bin/env bash
# Installs what the project needs on a fresh Debian machine: nats-server, openssl and chromium (Debian's packages),
# FerretDB v1.24.2 (built with Go from the module proxy) and the npm dependencies.
# Idempotent: whatever is already installed is left alone.
set -euo pipefail

FERRETDB_VERSION=v1.24.2
FERRETDB_INSTALL_DIR=${FERRETDB_INSTALL_DIR:-/usr/local/bin}
cd "$(dirname "$0")/../.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
command -v nats-server >/dev/null 2>&1 || missing+=(nats-server)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
# The health dashboard's browser test drives Debian's Chromium (never a downloaded browser).
[ -x /usr/bin/chromium ] || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]} (Debian packages)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
echo "setup: $(nats-server --version)"

ferretdb_works() { "$1" --version >/dev/null 2>&1; }
existing=$(command -v ferretdb || true)
if [ -n "$existing" ] && ! ferretdb_works "$existing"; then
  echo "setup: $existing does not start (a plain \`go install\` build); replacing it" >&2
  rm -f "$existing" 2>/dev/null || true
  existing=""
fi
if [ -z "$existing" ] && ! ferretdb_works "$FERRETDB_INSTALL_DIR/ferretdb"; then
  command -v go >/dev/null 2>&1 || { echo "setup: Go is needed to build FerretDB (install golang)" >&2; exit 1; }
  echo "setup: building FerretDB $FERRETDB_VERSION with $(go version)"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  # `go install ...@v1.24.2` builds a binary that panics at start-up: the module lacks the
  # generated build/version/version.txt. Build from a copy of the module with that file.
  src=$(cd "$work" && GOFLAGS=-mod=mod go mod download -json "github.com/FerretDB/FerretDB@$FERRETDB_VERSION" | sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p')
  cp -r "$src" "$work/ferretdb" && chmod -R u+w "$work/ferretdb"
  echo "$FERRETDB_VERSION" > "$work/ferretdb/build/version/version.txt"
  if ! (cd "$work/ferretdb" && go build -trimpath -o "$work/ferretdb.bin" ./cmd/ferretdb); then
    echo "setup: retrying the FerretDB build with -checklinkname=0"
    (cd "$work/ferretdb" && go build -trimpath -ldflags=-checklinkname=0 -o "$work/ferretdb.bin" ./cmd/ferretdb)
  fi
  as_root install -m 0755 "$work/ferretdb.bin" "$FERRETDB_INSTALL_DIR/ferretdb"
fi
echo "setup: ferretdb $(command -v ferretdb || echo "$FERRETDB_INSTALL_DIR/ferretdb")"

if [ "${S1C_SETUP_SKIP_NPM:-}" != "1" ]; then
  echo "setup: installing npm dependencies"
  if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi
fi
echo "setup: done"
