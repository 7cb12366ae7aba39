#!/usr/bin/env bash
# Installs what the tests need, idempotently, into .tools/ (gitignored) or from Debian:
#   Azurite (npm azurite@3.37.0), the OpenAI Node SDK (npm openai@6.30.1, a real client for the retry tests),
#   Prometheus + promtool + amtool (Debian), the Bicep CLI (NuGet).
# Prints nothing but progress; safe to run on every test run.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
AZURITE_VERSION=3.37.0
OPENAI_NODE_VERSION=6.30.1

if [[ ! -x "$ROOT/.tools/node_modules/.bin/azurite-table" ]] \
   || ! grep -q "\"version\": \"$AZURITE_VERSION\"" "$ROOT/.tools/node_modules/azurite/package.json" 2>/dev/null; then
  echo "install-tools: Azurite $AZURITE_VERSION from npm"
  mkdir -p "$ROOT/.tools"
  npm install --prefix "$ROOT/.tools" --no-audit --no-fund --loglevel=error "azurite@$AZURITE_VERSION" >/dev/null
fi

if ! grep -q "\"version\": \"$OPENAI_NODE_VERSION\"" "$ROOT/.tools/node_modules/openai/package.json" 2>/dev/null; then
  echo "install-tools: OpenAI Node SDK $OPENAI_NODE_VERSION from npm"
  mkdir -p "$ROOT/.tools"
  npm install --prefix "$ROOT/.tools" --no-audit --no-fund --loglevel=error "openai@$OPENAI_NODE_VERSION" >/dev/null
fi

if ! command -v promtool >/dev/null || ! command -v prometheus >/dev/null || ! command -v amtool >/dev/null; then
  echo "install-tools: prometheus, promtool, amtool from Debian"
  SUDO=""
  if [[ "$(id -u)" != "0" ]]; then SUDO="sudo"; fi
  # Keep the packages' services from starting (and taking :9090/:9093) where a service manager exists.
  POLICY=/usr/sbin/policy-rc.d
  ADDED_POLICY=0
  if [[ ! -e "$POLICY" ]]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$POLICY" >/dev/null && $SUDO chmod +x "$POLICY" && ADDED_POLICY=1
  fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq prometheus prometheus-alertmanager >/dev/null
  if [[ "$ADDED_POLICY" == "1" ]]; then $SUDO rm -f "$POLICY"; fi
fi

bash "$ROOT/.ci/install-bicep.sh" >/dev/null
echo "install-tools: azurite-table, prometheus $(prometheus --version 2>&1 | head -1 | awk '{print $3}'), bicep $(cat "$ROOT/.tools/bicep/version") ready"
