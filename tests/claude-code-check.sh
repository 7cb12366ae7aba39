#!/usr/bin/env bash
# Claude Code (npm @anthropic-ai/claude-code) against the local proxy and the bundled simulator (issue 29): one
# prompt through `claude -p`, then how many calls it made to /v1/messages and what the proxy billed them, next to what
# Claude Code itself reports. A documented check, not a test: it needs the npm registry once (about 370 MB) and takes
# about a minute. It fails (non-zero) when Claude Code fails, or when the proxy recorded no /v1/messages call.
#
#   bash tests/claude-code-check.sh [--functions] ["prompt"]
#
# --functions runs the Functions app under the host emulator (.ci/start --functions) instead of the local host.
# CLAUDE=/path/to/claude uses an installed Claude Code instead of installing CLAUDE_CODE_VERSION into .tools/claude-code.
# ANTHROPIC_MODEL (default claude-sonnet-4-5) is the model it asks for; PORT, AZURITE_PORT, SIM_PORT move the ports.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
HOST_ARGS=()
if [[ "${1:-}" == "--functions" ]]; then
  HOST_ARGS=(--functions)
  shift
fi
VERSION="${CLAUDE_CODE_VERSION:-2.1.328}"
PROMPT="${1:-Say hello in five words}"
MODEL="${ANTHROPIC_MODEL:-claude-sonnet-4-5}"
export PORT="${PORT:-7181}" AZURITE_PORT="${AZURITE_PORT:-10112}" SIM_PORT="${SIM_PORT:-7182}"
STATE="$(mktemp -d /tmp/llmf-claude-code-XXXXXX)"
mkdir -p "$STATE/home"

CLAUDE="${CLAUDE:-}"
if [[ -z "$CLAUDE" ]]; then
  CLAUDE="$ROOT/.tools/claude-code/node_modules/.bin/claude"
  if [[ ! -x "$CLAUDE" ]]; then
    echo "Installing @anthropic-ai/claude-code@$VERSION into .tools/claude-code ..."
    npm install --prefix "$ROOT/.tools/claude-code" --no-audit --no-fund "@anthropic-ai/claude-code@$VERSION" >/dev/null
  fi
fi
echo "Claude Code     : $("$CLAUDE" --version)"

# The proxy on its own ports and state, with the simulator as both its OpenAI and its Anthropic upstream.
LLMF_STATE_DIR="$STATE" bash .ci/start "${HOST_ARGS[@]}" >"$STATE/start.log" 2>&1 &
START=$!
cleanup() {
  kill -TERM "$START" 2>/dev/null || true
  wait "$START" 2>/dev/null || true
}
trap cleanup EXIT
for _ in $(seq 1 240); do
  grep -q '^Ready' "$STATE/start.log" && break
  kill -0 "$START" 2>/dev/null || break
  sleep 0.5
done
grep -q '^Ready' "$STATE/start.log" || { tail -30 "$STATE/start.log"; echo "claude-code-check: the proxy did not start" >&2; exit 1; }

echo "Settings        : ANTHROPIC_BASE_URL=http://127.0.0.1:$PORT ANTHROPIC_API_KEY=sk-local-dev-key ANTHROPIC_MODEL=$MODEL"
echo "                  CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 HOME=$STATE/home"
echo "Prompt          : claude -p \"$PROMPT\" --output-format json"
code=0
HOME="$STATE/home" ANTHROPIC_BASE_URL="http://127.0.0.1:$PORT" ANTHROPIC_API_KEY=sk-local-dev-key ANTHROPIC_MODEL="$MODEL" \
  CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 timeout 300 "$CLAUDE" -p "$PROMPT" --output-format json \
  </dev/null >"$STATE/claude.json" 2>"$STATE/claude.err" || code=$?

# What Claude Code says, and what the proxy recorded (one log line per call: client, model, status, tokens, cost).
node -e '
  const fs = require("fs");
  let out = {};
  try { out = JSON.parse(fs.readFileSync(process.argv[1], "utf8")); } catch { }
  console.log("Claude Code says: result=" + JSON.stringify(out.result) + " num_turns=" + out.num_turns
    + " total_cost_usd=" + out.total_cost_usd + " is_error=" + out.is_error);
  if (out.modelUsage) console.log("                  modelUsage=" + JSON.stringify(out.modelUsage));
' "$STATE/claude.json"
sleep 1
CALLS="$(grep -hE 'Call [0-9a-f]+ client=' "$STATE"/*.log | sort -u || true)"
echo "Proxy recorded  :"
echo "$CALLS" | sed -E 's/^ +/                  /'
COUNT="$(echo "$CALLS" | grep -c 'client=' || true)"
TOTAL="$(echo "$CALLS" | sed -nE 's/.*cost=\$([0-9.]+) .*/\1/p' | awk '{ s += $1 } END { printf "%.6f", s }')"
echo "Calls           : $COUNT, billed \$$TOTAL in all"
METRICS="$(curl -s "http://127.0.0.1:$PORT/metrics" | grep -E '^api_requests_total\{[^}]*endpoint="/v1/messages' || true)"
echo "Metrics         :"
echo "$METRICS" | sed -E 's/^/                  /'
if [[ "$code" != 0 ]]; then
  echo "claude-code-check: claude exited $code; its stderr:" >&2
  head -c 2000 "$STATE/claude.err" >&2
  exit 1
fi
[[ "$COUNT" -gt 0 ]] || { echo "claude-code-check: the proxy recorded no call" >&2; exit 1; }
echo "State           : $STATE (host.log, claude.json)"
