#!/usr/bin/env bash
# Fills every empty `..._PASSWORD=` line of a compose .env file (default infra/.env) with a fresh
# random password, each its own: 48 hex digits after a letter (nats-server parses a password it
# reads from the environment as configuration, so it must start with a letter), and an empty
# `S1C_API_TOKEN=` line with a fresh bearer token for the health API and the gateway (64 hex
# digits). Lines that already have a value are left alone, so running it again changes nothing.
set -euo pipefail
file="${1:-$(dirname "$0")/../.env}"
[ -f "$file" ] || { echo "no such file: $file (cp infra/.env.example infra/.env first)" >&2; exit 1; }
tmp="$(mktemp)"
trap 'rm -f "$tmp"' EXIT
filled=0
tokens=0
while IFS= read -r line || [ -n "$line" ]; do
  if [[ "$line" =~ ^([A-Z0-9_]*PASSWORD)=$ ]]; then
    printf '%s=p%s\n' "${BASH_REMATCH[1]}" "$(openssl rand -hex 24)"
    filled=$((filled + 1))
  elif [[ "$line" =~ ^(S1C_API_TOKEN)=$ ]]; then
    printf '%s=%s\n' "${BASH_REMATCH[1]}" "$(openssl rand -hex 32)"
    tokens=$((tokens + 1))
  else
    printf '%s\n' "$line"
  fi
done <"$file" >"$tmp"
cat "$tmp" >"$file"
echo "generated $filled password(s) and $tokens API token(s) in $file"
