#!/usr/bin/env bash
# The record path with storage a network hop away, and under throttling (issue 26): the local host (Release) in front
# of the fast fake upstream, its records awaited in Azurite behind `Probe storage-proxy`, which adds a round-trip
# delay and can answer 503 ServerBusy / 500 OperationTimedOut (after committing). Everything on 127.0.0.1; every
# process is stopped on exit and every run is bounded.
#
#   tests/Benchmarks/storage.sh                       # ≈ 4 min on 2 cores; rows on stdout and in results/storage.md
#
# Settings (environment):
#   BENCH_DURATION=10            seconds per wrk run
#   BENCH_STORAGE_DELAYS="0 12"  round-trip delays (ms) in front of Azurite
#   BENCH_STORAGE_SETTINGS="default serial"
#                                default: the writer as it ships; serial: one commit at a time, no timer
#                                (Storage__MaxCommitsInFlight=1, the old writer with CommitIntervalMs=0); paced: the old
#                                default (MaxCommitsInFlight=1, CommitIntervalMs=50); inflightN: MaxCommitsInFlight=N
#   BENCH_FAULTS=1               also the fault run: 10 % ServerBusy, 10 % OperationTimedOut after commit, 16 connections
#   BENCH_STORAGE_HOP=tcp        how a delay is added: tcp (`Probe tcp-delay`, bytes passed on late, nothing parsed) or
#                                http (`Probe storage-proxy`, which parses and re-sends each request: its own CPU and
#                                a few ms of its own); the fault run always uses storage-proxy
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BENCH="$ROOT/tests/Benchmarks"
TOOLS="$ROOT/.tools"
DURATION="${BENCH_DURATION:-10}"
DELAYS="${BENCH_STORAGE_DELAYS:-0 12}"
SETTINGS="${BENCH_STORAGE_SETTINGS:-default serial}"
# shellcheck source=hosts.sh
source "$BENCH/hosts.sh" # AZURITE_KEY, stop_all, wait_for, http_ok, http_any
log() { printf '[storage %s] %s\n' "$(date +%T)" "$*" >&2; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/llm-storage.XXXXXX")"
PIDS=()
trap 'stop_all 50; if [[ "${BENCH_KEEP:-0}" == 1 ]]; then log "work folder kept: $WORK"; else rm -rf "$WORK"; fi' EXIT
trap 'exit 130' INT TERM

command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
bash "$ROOT/.ci/install-tools.sh" >/dev/null
for project in functions/LlmFunctions.Local tests/Benchmarks/LlmFunctions.Benchmarks.Upstream tests/Benchmarks/LlmFunctions.Benchmarks.Probe; do
  dotnet build "$ROOT/$project" -c Release -nologo -v quiet -clp:ErrorsOnly >"$WORK/build.log" 2>&1 || { cat "$WORK/build.log" >&2; exit 1; }
done
UPSTREAM_DLL="$ROOT/tests/Benchmarks/LlmFunctions.Benchmarks.Upstream/bin/Release/net10.0/LlmFunctions.Benchmarks.Upstream.dll"
PROBE_DLL="$ROOT/tests/Benchmarks/LlmFunctions.Benchmarks.Probe/bin/Release/net10.0/LlmFunctions.Benchmarks.Probe.dll"
probe() { dotnet "$PROBE_DLL" "$@"; }

mapfile -t PORTS < <(probe free-ports 4)
UP_PORT=${PORTS[0]}; AZ_PORT=${PORTS[1]}; SP_PORT=${PORTS[2]}; PX_PORT=${PORTS[3]}
COUNTER="$WORK/upstream.count"
dotnet "$UPSTREAM_DLL" --port "$UP_PORT" --words 20 --counter-file "$COUNTER" >"$WORK/upstream.log" 2>&1 &
PIDS+=($!)
wait_for upstream 30 http_any "http://127.0.0.1:$UP_PORT/v1/models"

run_setting() { # name delay_ms busy_pct timeout_pct conns... ; prints rows
  local name=$1 delay=$2 busy=$3 timeout=$4; shift 4
  local env_extra=()
  case "$name" in
    serial) env_extra=(Storage__MaxCommitsInFlight=1 Storage__CommitIntervalMs=0) ;;
    paced) env_extra=(Storage__MaxCommitsInFlight=1 Storage__CommitIntervalMs=50) ;;
    inflight*) env_extra=(Storage__MaxCommitsInFlight="${name#inflight}") ;;
  esac
  local az_log="$WORK/azurite.log"
  "$TOOLS/node_modules/.bin/azurite-table" --inMemoryPersistence --tableHost 127.0.0.1 --tablePort "$AZ_PORT" --silent \
    --skipApiVersionCheck --disableProductStyleUrl --loose --disableTelemetry >"$az_log" 2>&1 &
  local az=$!; PIDS+=("$az")
  wait_for Azurite 30 http_any "http://127.0.0.1:$AZ_PORT/devstoreaccount1/Tables"
  local table_port=$AZ_PORT sp=""
  if [[ "$busy" != 0 || "$timeout" != 0 || ( "$delay" != 0 && "${BENCH_STORAGE_HOP:-tcp}" == http ) ]]; then
    dotnet "$PROBE_DLL" storage-proxy --port "$SP_PORT" --to "http://127.0.0.1:$AZ_PORT" --delay-ms "$delay" --busy-pct "$busy" \
      --timeout-pct "$timeout" --seconds 600 >"$WORK/storage-proxy.out" 2>"$WORK/storage-proxy.log" &
    sp=$!; PIDS+=("$sp")
    table_port=$SP_PORT
    wait_for storage-proxy 30 http_any "http://127.0.0.1:$SP_PORT/devstoreaccount1/Tables"
  elif [[ "$delay" != 0 ]]; then
    # A delay alone: bytes passed on half a round trip late each way, no HTTP parsed in between.
    dotnet "$PROBE_DLL" tcp-delay --port "$SP_PORT" --to "http://127.0.0.1:$AZ_PORT" --delay-ms "$delay" --seconds 600 \
      >"$WORK/storage-proxy.out" 2>"$WORK/storage-proxy.log" &
    sp=$!; PIDS+=("$sp")
    table_port=$SP_PORT
    wait_for tcp-delay 30 http_any "http://127.0.0.1:$SP_PORT/devstoreaccount1/Tables"
  fi
  local connection="DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=$AZURITE_KEY;TableEndpoint=http://127.0.0.1:$table_port/devstoreaccount1;"
  (cd "$ROOT/functions/LlmFunctions.Local/bin/Release/net10.0" && exec env "${env_extra[@]}" \
    Upstream__BaseUrl="http://127.0.0.1:$UP_PORT/v1" Upstream__ApiKey=bench Clients__bench__Key=sk-bench \
    Storage__ConnectionString="$connection" Storage__SpoolDirectory="$WORK/spool-$name-$delay" \
    Budgets__Schedule="0 0 0 1 1 *" Logging__LogLevel__Default=Warning \
    dotnet LlmFunctions.Local.dll --urls "http://127.0.0.1:$PX_PORT") >"$WORK/proxy.log" 2>&1 &
  local px=$!; PIDS+=("$px")
  wait_for proxy 60 http_ok "http://127.0.0.1:$PX_PORT/health"
  local setting_start; setting_start=$(cat "$COUNTER")
  timeout 40 wrk -t1 -c8 -d5s -s "$BENCH/wrk/chat.lua" "http://127.0.0.1:$PX_PORT/v1/chat/completions" >/dev/null # warm-up
  for conns in "$@"; do
    local w0 u0 out line
    w0=$(curl -s "http://127.0.0.1:$PX_PORT/health" | sed -n 's/.*"storageWrites":\([0-9]*\).*/\1/p'); u0=$(cat "$COUNTER")
    out=$(timeout $((DURATION + 30)) wrk -t1 -c"$conns" -d"${DURATION}s" --timeout 10s --latency -s "$BENCH/wrk/chat.lua" \
      "http://127.0.0.1:$PX_PORT/v1/chat/completions")
    sleep 0.5
    line=$(grep '^WRK_RESULT' <<<"$out")
    local requests duration p50 non2xx writes calls
    requests=$(sed -n 's/.* requests=\([0-9]*\).*/\1/p' <<<"$line"); duration=$(sed -n 's/.* duration_us=\([0-9]*\).*/\1/p' <<<"$line")
    p50=$(sed -n 's/.* p50_us=\([0-9.]*\).*/\1/p' <<<"$line"); non2xx=$(sed -n 's/.* non2xx=\([0-9]*\).*/\1/p' <<<"$line")
    writes=$(( $(curl -s "http://127.0.0.1:$PX_PORT/health" | sed -n 's/.*"storageWrites":\([0-9]*\).*/\1/p') - w0 - 1 ))
    calls=$(( $(cat "$COUNTER") - u0 ))
    printf '| %s | %s ms | %s %s | %s | %.0f | %.1f | %.2f | %s | %s |\n' "$name" "$delay" "$conns" \
      "$([[ "$busy$timeout" != 00 ]] && echo "($busy % busy, $timeout % timed out)")" "$requests" \
      "$(awk -v r="$requests" -v d="$duration" 'BEGIN { print r / (d / 1e6) }')" "$(awk -v v="$p50" 'BEGIN { print v / 1000 }')" \
      "$(awk -v w="$writes" -v c="$calls" 'BEGIN { print (c > 0 ? w / c : 0) }')" "$non2xx" \
      "$(grep -c 'GroupCommitWriter\[2002\]' "$WORK/proxy.log" || true)"
  done
  if [[ "$busy" != 0 || "$timeout" != 0 ]]; then
    # Every answered call's record in the table once, and how long that took after the load stopped.
    local expected stored start=$SECONDS
    local direct="DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=$AZURITE_KEY;TableEndpoint=http://127.0.0.1:$AZ_PORT/devstoreaccount1;"
    expected=$(( $(cat "$COUNTER") - setting_start ))
    for _ in $(seq 120); do
      stored=$(probe count-records --connection "$direct" | head -1)
      [[ "$stored" -ge "$expected" ]] && break
      sleep 1
    done
    local distinct
    distinct=$(probe count-records --by RowKey --connection "$direct" | tail -n +2 | wc -l)
    log "faults: upstream answered $expected calls; $stored records ($distinct distinct call ids) in the table $((SECONDS - start)) s after the load; $(curl -s "http://127.0.0.1:$PX_PORT/health")"
    printf '| faults | records | %s records, %s distinct, for %s upstream calls, %s s after the load | | | | | | |\n' "$stored" "$distinct" "$expected" "$((SECONDS - start))"
  fi
  grep -hA1 -E '(warn|fail|crit): ' "$WORK/proxy.log" | grep -vE '^(--|warn|fail|crit)' | sed -E 's/[0-9a-f]{32}/<id>/g' | sort | uniq -c \
    | sed 's/^/  proxy log: /' >&2 || true
  kill -TERM "$px" "$az" ${sp:+"$sp"} 2>/dev/null || true
  wait "$px" "$az" ${sp:+"$sp"} 2>/dev/null || true
  [[ -n "$sp" ]] && cat "$WORK/storage-proxy.out" >&2
  return 0
}

{
  echo "storage benchmark $(date -u +%FT%TZ), commit $(git -C "$ROOT" rev-parse --short HEAD), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $DURATION s per run"
  echo
  echo "| writer | storage RTT | connections | requests | req/s | P50 ms | storage writes / call | non-2xx | batches spooled so far |"
  echo "|---|---|---|---|---|---|---|---|---|"
  for delay in $DELAYS; do
    for setting in $SETTINGS; do
      run_setting "$setting" "$delay" 0 0 1 32
    done
  done
  if [[ "${BENCH_FAULTS:-1}" == 1 ]]; then run_setting default 0 10 10 16; fi
} | tee "$BENCH/results/storage.md"
