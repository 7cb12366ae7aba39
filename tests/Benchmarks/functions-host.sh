#!/usr/bin/env bash
# The Functions app under the host emulator against the local host (issue 14), one run on this machine:
#   1. cold start: launch to the first 200 on /v1/chat/completions, BENCH_STARTS times each (median, min, max);
#   2. added latency: wrk, non-streaming chat, 1 and 32 connections, BENCH_DURATION s each, after a warm-up.
# Both hosts share one Azurite and the fast fake upstream; records are written as users get them (awaited).
#
#   tests/Benchmarks/functions-host.sh            # ≈ 3 min; prints the table and writes results/functions-host.md
#
# Settings: BENCH_DURATION=10, BENCH_WARMUP=5, BENCH_STARTS=5.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BENCH="$ROOT/tests/Benchmarks"
DURATION="${BENCH_DURATION:-10}"
WARMUP="${BENCH_WARMUP:-5}"
STARTS="${BENCH_STARTS:-5}"
# shellcheck source=hosts.sh
source "$ROOT/tests/Benchmarks/hosts.sh"
log() { printf '[functions-host %s] %s\n' "$(date +%T)" "$*" >&2; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/llm-fhost.XXXXXX")"
HOSTS=()    # stopped first, gracefully (the emulator drains its worker), while storage still answers
SERVICES=() # Azurite and the upstream, stopped last
stop_host() { kill -TERM "$1" 2>/dev/null || return 0; for _ in $(seq 300); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done; kill -KILL "$1" 2>/dev/null || true; }
cleanup() {
  for p in "${HOSTS[@]}"; do stop_host "$p"; done
  for p in "${SERVICES[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

command -v wrk >/dev/null || { log "installing wrk"; apt-get install -y -qq wrk >/dev/null; }
bash "$ROOT/.ci/install-tools.sh" >/dev/null
log "building (Release)"
for p in functions/LlmFunctions functions/LlmFunctions.Local tests/LlmFunctions.FunctionsHost tests/Benchmarks/LlmFunctions.Benchmarks.Upstream; do
  dotnet build "$ROOT/$p" -c Release -nologo -v:q -clp:ErrorsOnly >/dev/null
done

AZ_PORT=$(free_port); UP_PORT=$(free_port)
"$ROOT/.tools/node_modules/.bin/azurite-table" --tableHost 127.0.0.1 --tablePort "$AZ_PORT" --inMemoryPersistence \
  --skipApiVersionCheck --disableProductStyleUrl --disableTelemetry >"$WORK/azurite.log" 2>&1 &
SERVICES+=($!)
dotnet "$ROOT/tests/Benchmarks/LlmFunctions.Benchmarks.Upstream/bin/Release/net10.0/LlmFunctions.Benchmarks.Upstream.dll" \
  --port "$UP_PORT" >"$WORK/upstream.log" 2>&1 &
SERVICES+=($!)
sleep 2

export Upstream__BaseUrl="http://127.0.0.1:$UP_PORT/v1" Upstream__ApiKey=bench Clients__bench__Key=sk-bench \
  Storage__ConnectionString="DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=$AZURITE_KEY;TableEndpoint=http://127.0.0.1:$AZ_PORT/devstoreaccount1;" \
  Budgets__Schedule="0 0 0 1 1 *" Logging__LogLevel__Default=Warning DOTNET_TieredPGO=0
BODY='{"model":"gpt-4.1-mini","messages":[{"role":"user","content":"Say hello in one short sentence."}]}'

# start_host KIND PORT -> starts it in the background, sets HOST_PID and adds it to HOSTS
start_host() {
  export Storage__SpoolDirectory="$WORK/spool-$1-$2"
  launch_host "$1" "$2" "$WORK/$1.log"
  HOST_PID=$!
  HOSTS+=($HOST_PID)
}

# 1. Cold start to the first 200.
declare -A START_MS
for kind in local functions; do
  times=()
  for i in $(seq "$STARTS"); do
    port=$(free_port)
    t0=$(date +%s%N)
    start_host "$kind" "$port"
    for _ in $(seq 600); do
      code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/v1/chat/completions" -H 'Authorization: Bearer sk-bench' \
        -H 'Content-Type: application/json' -d "$BODY" || true)
      [[ "$code" == 200 ]] && break
      sleep 0.02
    done
    [[ "$code" == 200 ]] || { log "$kind never answered 200 (last $code); log: $WORK/$kind.log"; tail -20 "$WORK/$kind.log" >&2; exit 1; }
    times+=($(( ($(date +%s%N) - t0) / 1000000 )))
    stop_host "$HOST_PID"
  done
  sorted=($(printf '%s\n' "${times[@]}" | sort -n))
  START_MS[$kind]="${sorted[$((STARTS / 2))]} (${sorted[0]}–${sorted[-1]})"
  log "$kind cold start to first 200: ${times[*]} ms"
done

# 2. Latency under wrk, both hosts running side by side (only the measured one gets traffic).
LP=$(free_port); FP=$(free_port)
start_host local "$LP"
start_host functions "$FP"
for port in "$LP" "$FP"; do
  for _ in $(seq 300); do curl -fs "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break; sleep 0.1; done
done
export BENCH_AUTH="Bearer sk-bench"
ROWS=()
for kind in local functions; do
  port=$LP; [[ $kind == functions ]] && port=$FP
  timeout $((WARMUP + 30)) wrk -t1 -c8 -d"${WARMUP}s" -s "$BENCH/wrk/chat.lua" "http://127.0.0.1:$port/v1/chat/completions" >/dev/null
  for conns in 1 32; do
    out=$(timeout $((DURATION + 30)) wrk -t1 -c"$conns" -d"${DURATION}s" --timeout 10s -s "$BENCH/wrk/chat.lua" "http://127.0.0.1:$port/v1/chat/completions" | grep WRK_RESULT)
    eval "$(echo "$out" | sed 's/^WRK_RESULT //')"
    rps=$(awk -v r="$requests" -v d="$duration_us" 'BEGIN { printf "%.0f", r / (d / 1e6) }')
    ROWS+=("$(printf '| %s | %s | %s | %.2f | %.2f | %s |' "$kind" "$conns" "$rps" "$(awk -v v="$p50_us" 'BEGIN{print v/1000}')" "$(awk -v v="$p99_us" 'BEGIN{print v/1000}')" "$non2xx")")
    log "$kind c=$conns: $rps req/s, P50 ${p50_us} us, P99 ${p99_us} us, non-2xx $non2xx"
  done
done

{
  echo "# Functions host emulator vs local host ($(date -u +%F), $(nproc) cores, commit $(git -C "$ROOT" rev-parse --short HEAD))"
  echo
  echo "Cold start, launch to the first 200 on a chat call (ms, median (min–max) of $STARTS):"
  echo
  echo "| host | cold start |"
  echo "|---|---|"
  echo "| local | ${START_MS[local]} |"
  echo "| functions (emulator + worker) | ${START_MS[functions]} |"
  echo
  echo "wrk -t1, non-streaming chat, ${DURATION} s per row, records awaited in Azurite:"
  echo
  echo "| host | connections | req/s | P50 ms | P99 ms | non-2xx |"
  echo "|---|---|---|---|---|---|"
  printf '%s\n' "${ROWS[@]}"
} | tee "$BENCH/results/functions-host.md"
