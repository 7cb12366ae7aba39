#!/usr/bin/env bash
# Side-by-side benchmark (issue 8): the fake OpenAI upstream called directly, through the LlmFunctions proxy
# (Release, records on, Azurite), and through the Portkey gateway (npm), all on 127.0.0.1, in one run.
#
#   tests/Benchmarks/run.sh
#
# Installs what is missing (wrk from Debian, Azurite and Portkey from npm into .tools/), builds in Release,
# starts everything on free loopback ports, drives each target with wrk (non-streaming and streaming, 1 and 32
# connections), measures time to the first streamed byte, peak RSS (also with 1,000 streams open at once), storage
# transactions per call and the record count, then prints the table and writes it to
# tests/Benchmarks/results/latest.md.
#
# Settings (environment):
#   BENCH_DURATION=10        seconds per wrk run (each run is also killed after DURATION + 30 s)
#   BENCH_WARMUP=10          seconds of warm-up per mode (json, stream) before a target is measured: a fresh .NET
#                            process JIT-compiles for its first seconds (its tiered compilation thread took half
#                            the proxy's CPU samples 3-8 s after start), and node does too
#   BENCH_TTFB_REQUESTS=300  sequential streaming requests for the first-byte figure (bounded to 30 s)
#   BENCH_STREAMS=1000       streams held open at once for the memory figure (the upstream paces 20 chunks 250 ms
#                            apart, so each lasts ≈ 5 s); 0 skips it
#   BENCH_WORDS=20           words per fake completion (non-streaming body / stream chunks)
#   BENCH_TARGETS="direct llmfunctions llmfunctions-journal llmfunctions-queued portkey"
#                            llmfunctions: records awaited in the table before each handler returns (the default,
#                            and always on Functions); llmfunctions-journal: Storage__LocalJournal=true (awaited
#                            in the fsync'd local journal, the table write follows; long-lived hosts);
#                            llmfunctions-queued: Storage__AwaitRecordWrite=false (group commit after the handler
#                            returned, for long-lived hosts). Each proxy setting gets a fresh Azurite.
#   BENCH_PROFILE=1          after the measured runs, one more 32-connection run of the proxy under
#                            perf (with DOTNET_PerfMapEnabled=1) and dotnet-counters; output in results/profile/
#   BENCH_NICE=-10           nice value for every process of the benchmark (as root; 0 to disable), so that
#                            other work on the machine disturbs the measurement less; the same for all targets
#   BENCH_KEEP=1             keep the work folder (logs, wrk output) and print its path
#   BENCH_CHECK=1            exit 1 when a goal of the targets table is missed (each is printed as 'goal missed: …');
#                            for use by hand and in reviews, not in CI (benchmarks are not timed tests)
#   BENCH_PROXY_ENV="K=V ..." extra environment for the proxy (for example DOTNET_GCgen0size=0x1000000)
#   BENCH_ROLLUP=0           moves the local host's budget rollup (Budgets__Schedule, every minute) to once a year,
#                            so that none lands in a measured run: on Azurite each rollup reads the minute or two
#                            of unfolded records, tens of thousands under this load, for seconds of Azurite's CPU
#                            (a diagnostic; the default, 1, measures what a user of the local host gets)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BENCH="$ROOT/tests/Benchmarks"
TOOLS="$ROOT/.tools"
DURATION="${BENCH_DURATION:-10}"
TTFB_REQUESTS="${BENCH_TTFB_REQUESTS:-300}"
WARMUP="${BENCH_WARMUP:-10}"
STREAMS="${BENCH_STREAMS:-1000}"
WORDS="${BENCH_WORDS:-20}"
TARGETS="${BENCH_TARGETS:-direct llmfunctions llmfunctions-journal llmfunctions-queued portkey}"
AZURITE_VERSION=3.37.0
PORTKEY_VERSION=1.15.2
# shellcheck source=hosts.sh
source "$BENCH/hosts.sh" # AZURITE_KEY, stop_all, wait_for, http_ok, http_any

NICE="${BENCH_NICE:--10}"
if [[ "$(id -u)" != 0 && "$NICE" -lt 0 ]]; then NICE=0; fi
RUN=(nice -n "$NICE")

log() { printf '[bench %s] %s\n' "$(date +%T)" "$*" >&2; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/llm-bench.XXXXXX")"
PIDS=()

stop_pid() { # TERM, up to 10 s, then KILL
  kill -TERM "$1" 2>/dev/null || return 0
  for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$1" 2>/dev/null || true
}

cleanup() {
  stop_all 50
  if [[ "${BENCH_KEEP:-0}" == 1 ]]; then log "work folder kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------------------------------------------------
# 1. Tools: wrk (Debian), Azurite and Portkey (npm, into .tools/), the Release builds.
# ---------------------------------------------------------------------------------------------------------
SUDO=""
if [[ "$(id -u)" != 0 ]]; then SUDO="sudo"; fi
if ! command -v wrk >/dev/null; then
  log "installing wrk from Debian"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq wrk >/dev/null
fi

if [[ ! -x "$TOOLS/node_modules/.bin/azurite-table" ]] \
   || ! grep -q "\"version\": \"$AZURITE_VERSION\"" "$TOOLS/node_modules/azurite/package.json" 2>/dev/null; then
  log "installing Azurite $AZURITE_VERSION from npm into .tools"
  mkdir -p "$TOOLS"
  npm install --prefix "$TOOLS" --no-audit --no-fund --loglevel=error "azurite@$AZURITE_VERSION" >/dev/null
fi

PORTKEY_DIR="$TOOLS/portkey"
if ! grep -q "\"version\": \"$PORTKEY_VERSION\"" "$PORTKEY_DIR/node_modules/@portkey-ai/gateway/package.json" 2>/dev/null \
   || ! grep -q '"version": "2.1.9"' "$PORTKEY_DIR/node_modules/@hono/node-server/package.json" 2>/dev/null \
   || ! cmp -s "$BENCH/portkey/package.json" "$PORTKEY_DIR/package.json"; then
  log "installing the Portkey gateway $PORTKEY_VERSION (with @hono/node-server 2.1.9) from npm into .tools/portkey"
  mkdir -p "$PORTKEY_DIR"
  cp "$BENCH/portkey/package.json" "$PORTKEY_DIR/package.json"
  (cd "$PORTKEY_DIR" && npm install --no-audit --no-fund --loglevel=error >/dev/null)
fi

log "building in Release"
for project in functions/LlmFunctions.Local \
               tests/Benchmarks/LlmFunctions.Benchmarks.Upstream \
               tests/Benchmarks/LlmFunctions.Benchmarks.Probe; do
  dotnet build "$ROOT/$project" -c Release -nologo -v quiet -clp:ErrorsOnly >"$WORK/build.log" 2>&1 \
    || { cat "$WORK/build.log" >&2; exit 1; }
done
LOCAL_DIR="$ROOT/functions/LlmFunctions.Local/bin/Release/net10.0"
UPSTREAM_DLL="$ROOT/tests/Benchmarks/LlmFunctions.Benchmarks.Upstream/bin/Release/net10.0/LlmFunctions.Benchmarks.Upstream.dll"
PROBE_DLL="$ROOT/tests/Benchmarks/LlmFunctions.Benchmarks.Probe/bin/Release/net10.0/LlmFunctions.Benchmarks.Probe.dll"
probe() { dotnet "$PROBE_DLL" "$@"; }

# ---------------------------------------------------------------------------------------------------------
# 2. Start the fast upstream, Azurite, the proxy and Portkey, each on its own free loopback port.
# ---------------------------------------------------------------------------------------------------------
mapfile -t PORTS < <(probe free-ports 4)
UP_PORT=${PORTS[0]}; AZ_PORT=${PORTS[1]}; PX_PORT=${PORTS[2]}; PK_PORT=${PORTS[3]}
UP_URL="http://127.0.0.1:$UP_PORT/v1"
CONNECTION="DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=$AZURITE_KEY;TableEndpoint=http://127.0.0.1:$AZ_PORT/devstoreaccount1;"
COUNTER="$WORK/upstream.count"

log "fast upstream on 127.0.0.1:$UP_PORT"
"${RUN[@]}" dotnet "$UPSTREAM_DLL" --port "$UP_PORT" --words "$WORDS" --counter-file "$COUNTER" >"$WORK/upstream.log" 2>&1 &
UP_PID=$!; PIDS+=("$UP_PID")
wait_for "upstream" 30 http_any "$UP_URL/models"

AZ_PID=""
AZ_LOG=""
start_azurite() { # log name; a fresh in-memory Azurite for each proxy setting, so each starts from empty tables
  if [[ -n "$AZ_PID" ]]; then stop_pid "$AZ_PID"; fi
  AZ_LOG="$WORK/azurite-$1.log"
  # Not --silent: its access log (one line per request) is how storage transactions are counted.
  "${RUN[@]}" "$TOOLS/node_modules/.bin/azurite-table" --inMemoryPersistence --tableHost 127.0.0.1 --tablePort "$AZ_PORT" \
    --skipApiVersionCheck --disableProductStyleUrl --loose --disableTelemetry >"$AZ_LOG" 2>&1 &
  AZ_PID=$!; PIDS+=("$AZ_PID")
  wait_for "Azurite" 30 grep -q "successfully started" "$AZ_LOG"
}

PX_PID=""
start_proxy() { # extra env assignments...
  if [[ -n "$PX_PID" ]]; then stop_pid "$PX_PID"; fi
  # shellcheck disable=SC2086 # BENCH_PROXY_ENV is a list of K=V words
  local rollup=()
  if [[ "${BENCH_ROLLUP:-1}" == 0 ]]; then rollup=("Budgets__Schedule=0 0 0 1 1 *"); fi
  (cd "$LOCAL_DIR" && exec "${RUN[@]}" env ${BENCH_PROXY_ENV:-} "${rollup[@]}" "$@" \
    Upstream__BaseUrl="$UP_URL" Upstream__ApiKey=bench \
    Storage__ConnectionString="$CONNECTION" Storage__SpoolDirectory="$WORK/spool" \
    Clients__bench__Key=sk-bench Logging__LogLevel__Default=Warning Proxy__ForwardedRequestHeaders=x-fake-scenario \
    dotnet LlmFunctions.Local.dll --urls "http://127.0.0.1:$PX_PORT") >>"$WORK/proxy.log" 2>&1 &
  PX_PID=$!; PIDS+=("$PX_PID")
  wait_for "proxy" 60 http_ok "http://127.0.0.1:$PX_PORT/health"
}

mkdir -p "$WORK/spool"

if [[ " $TARGETS " == *" portkey "* ]]; then
  log "Portkey gateway $PORTKEY_VERSION on 127.0.0.1:$PK_PORT"
  (cd "$PORTKEY_DIR" && NODE_ENV=production exec "${RUN[@]}" node --require "$BENCH/portkey/loopback.cjs" \
    node_modules/@portkey-ai/gateway/build/start-server.js --port="$PK_PORT" --headless) >"$WORK/portkey.log" 2>&1 &
  PK_PID=$!; PIDS+=("$PK_PID")
  wait_for "Portkey" 30 http_ok "http://127.0.0.1:$PK_PORT/"
fi

# ---------------------------------------------------------------------------------------------------------
# 3. Measure.
# ---------------------------------------------------------------------------------------------------------
RESULTS="$WORK/results.tsv"
CHECKS="$WORK/checks.tsv"
echo -e "target\tmode\tconns\trequests\trps\tp50_ms\tp99_ms\tttfb_p50_ms\tttfb_p99_ms\tpeak_mb\tnon2xx\tsocket_errors\tforwarded\tbatches" >"$RESULTS"
{
  printf 'date\t%s\n' "$(date -u +%FT%TZ)"
  printf 'commit\t%s%s\n' "$(git -C "$ROOT" rev-parse --short HEAD)" "$(git -C "$ROOT" diff --quiet HEAD -- functions || echo ' + uncommitted changes in functions/')"
  printf 'machine\t%s cores, %s\n' "$(nproc)" "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
  printf 'load\tload average at start %s (other processes on the machine share the cores)\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
  printf 'versions\tdotnet %s, node %s, %s, Azurite %s, Portkey %s\n' "$(dotnet --version)" "$(node --version)" \
    "$(wrk --version 2>&1 | head -1 | cut -d' ' -f1-2)" "$AZURITE_VERSION" "$PORTKEY_VERSION"
  printf 'settings\t%s s per wrk run (wrk -t1), %s sequential requests for first byte, %s-word completions, upstream with no latency, nice %s, %s\n' \
    "$DURATION" "$TTFB_REQUESTS" "$WORDS" "$NICE" \
    "$([[ "${BENCH_ROLLUP:-1}" == 0 ]] && echo "budget rollup once a year (BENCH_ROLLUP=0)" || echo "budget rollup every minute")"
} >"$CHECKS"

upstream_count() { cat "$COUNTER" 2>/dev/null || echo 0; }
# Storage write requests in Azurite's access log: entity-group transactions ($batch) and single inserts into a day's table.
batches() { if [[ -n "$AZ_LOG" ]]; then grep -cE 'POST /devstoreaccount1/(\$batch|LlmCalls[0-9]{8})[ ?]' "$AZ_LOG" || true; else echo 0; fi; }
reset_peak() { echo 5 >"/proc/$1/clear_refs" 2>/dev/null || true; }
peak_mb() { awk '/^VmHWM/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }

# run_wrk TARGET MODE CONNS URL PID [SECONDS] -> appends a row (unless the target is "warmup")
run_wrk() {
  local target=$1 mode=$2 conns=$3 url=$4 pid=$5 seconds=${6:-$DURATION}
  local stream=0; [[ $mode == stream ]] && stream=1
  reset_peak "$pid"
  local up0 b0 out line
  up0=$(upstream_count); b0=$(batches)
  out=$(BENCH_STREAM=$stream timeout $((seconds + 30)) "${RUN[@]}" wrk -t1 -c"$conns" -d"${seconds}s" --timeout 10s --latency \
    -s "$BENCH/wrk/chat.lua" "$url/chat/completions")
  echo "$out" >"$WORK/wrk-$target-$mode-$conns.txt"
  [[ $target == warmup || $target == profile* ]] && return 0
  sleep 0.5 # the upstream's counter file is rewritten every 100 ms
  line=$(grep '^WRK_RESULT' <<<"$out")
  field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$line"; }
  local requests duration p50 p99 non2xx sock forwarded="-" nbatches="-" fb50="-" fb99="-"
  requests=$(field requests); duration=$(field duration_us)
  p50=$(awk -v v="$(field p50_us)" 'BEGIN { printf "%.3f", v / 1000 }')
  p99=$(awk -v v="$(field p99_us)" 'BEGIN { printf "%.3f", v / 1000 }')
  non2xx=$(field non2xx); sock=$(field socket_errors)
  if [[ $target == llmfunctions* ]]; then
    forwarded=$(( $(upstream_count) - up0 )); nbatches=$(( $(batches) - b0 ))
  fi
  if [[ $mode == stream && $conns == 1 ]]; then fb50=$TTFB_P50; fb99=$TTFB_P99; fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$target" "$mode" "$conns" "$requests" \
    "$(awk -v r="$requests" -v d="$duration" 'BEGIN { printf "%.1f", r / (d / 1e6) }')" "$p50" "$p99" "$fb50" "$fb99" \
    "$(peak_mb "$pid")" "$non2xx" "$sock" "$forwarded" "$nbatches" >>"$RESULTS"
  log "  $target $mode c=$conns: $requests requests, P50 $p50 ms, P99 $p99 ms, $non2xx non-2xx, $sock socket errors"
}

bench_target() { # TARGET URL PID [header...]
  local target=$1 url=$2 pid=$3; shift 3
  local i=1 header ttfb_args=()
  for header in "$@"; do export "BENCH_HEADER_$i=$header"; ttfb_args+=(--header "$header"); i=$((i + 1)); done
  log "$target: warm-up (${WARMUP} s per mode)"
  run_wrk warmup json 8 "$url" "$pid" "$WARMUP"
  run_wrk warmup stream 8 "$url" "$pid" "$WARMUP"
  log "$target: first streamed byte ($TTFB_REQUESTS sequential requests)"
  local ttfb
  ttfb=$("${RUN[@]}" dotnet "$PROBE_DLL" ttfb --url "$url/chat/completions" --requests "$TTFB_REQUESTS" --warmup 30 --seconds 30 \
    --header "Authorization: ${BENCH_AUTH:-Bearer sk-bench}" "${ttfb_args[@]}")
  TTFB_P50=$(cut -d' ' -f2 <<<"$ttfb"); TTFB_P99=$(cut -d' ' -f3 <<<"$ttfb")
  log "  first byte P50 $TTFB_P50 ms, P99 $TTFB_P99 ms ($(cut -d' ' -f4 <<<"$ttfb") samples)"
  for mode in json stream; do
    for conns in 1 32; do
      run_wrk "$target" "$mode" "$conns" "$url" "$pid"
    done
  done
  for ((j = 1; j < i; j++)); do unset "BENCH_HEADER_$j"; done
  if [[ "$STREAMS" -gt 0 ]]; then open_streams "$target" "$url" "$pid" "${ttfb_args[@]}"; fi
}

# open_streams TARGET URL PID [--header H]...: STREAMS streaming calls started together and held open by the
# upstream's pacing; the serving process's peak RSS meanwhile. Appends "streams:TARGET  ok failed max_open s MB".
open_streams() {
  local target=$1 url=$2 pid=$3; shift 3
  log "$target: $STREAMS streams open at once"
  reset_peak "$pid"
  local out
  out=$(timeout 120 "${RUN[@]}" dotnet "$PROBE_DLL" streams --url "$url/chat/completions" --count "$STREAMS" --seconds 90 \
    --header "Authorization: ${BENCH_AUTH:-Bearer sk-bench}" --header "x-fake-scenario: chunk-delay-ms=250;words=20" "$@") || true
  [[ $out == STREAMS* ]] || out="STREAMS 0 $STREAMS 0 0"
  printf 'streams:%s\t%s %s\n' "$target" "${out#STREAMS }" "$(peak_mb "$pid")" >>"$CHECKS"
  log "  ok, failed, most open at once, seconds: ${out#STREAMS }; peak RSS $(peak_mb "$pid") MB"
}

# proxy_phase TARGET [ENV=VALUE...]: fresh Azurite, proxy started with the settings, measured, records counted.
proxy_phase() {
  local target=$1; shift
  start_azurite "$target"
  log "LlmFunctions proxy (Release) on 127.0.0.1:$PX_PORT${*:+ with $*}"
  start_proxy "$@"
  local up_before forwarded counted
  up_before=$(upstream_count)
  BENCH_AUTH="Bearer sk-bench" bench_target "$target" "http://127.0.0.1:$PX_PORT/v1" "$PX_PID"
  # Awaited records are durable before each handler returns, queued ones within the group-commit loop: wait
  # until Azurite has seen no new transaction for a second (bounded to 60 s), then count once.
  local previous=-1 now
  for _ in $(seq 60); do
    now=$(batches)
    [[ "$now" == "$previous" ]] && break
    previous=$now
    sleep 1
  done
  forwarded=$(( $(upstream_count) - up_before ))
  mapfile -t counted < <(probe count-records --connection "$CONNECTION" --by StatusCode,Outcome)
  printf 'records:%s\t%s\nforwarded:%s\t%s\nrecords_by_status:%s\t%s\n' "$target" "${counted[0]}" "$target" "$forwarded" \
    "$target" "$(printf '%s; ' "${counted[@]:1}" | sed 's/; $//')" >>"$CHECKS"
  log "$target: records in the LlmCalls tables: ${counted[0]} (by status|outcome: ${counted[*]:1}); requests forwarded: $forwarded"
}

for target in $TARGETS; do
  case $target in
    direct)
      BENCH_AUTH="Bearer bench" bench_target direct "$UP_URL" "$UP_PID"
      ;;
    llmfunctions)
      proxy_phase llmfunctions
      ;;
    llmfunctions-queued)
      proxy_phase llmfunctions-queued Storage__AwaitRecordWrite=false
      ;;
    llmfunctions-journal)
      proxy_phase llmfunctions-journal Storage__LocalJournal=true
      ;;
    portkey)
      BENCH_AUTH="Bearer bench" bench_target portkey "http://127.0.0.1:$PK_PORT/v1" "$PK_PID" \
        "x-portkey-provider: openai" "x-portkey-custom-host: $UP_URL" "x-portkey-forward-headers: x-fake-scenario"
      ;;
    *) log "unknown target $target"; exit 2 ;;
  esac
done

# The journal's own segments (*.journal) live in the same folder; only spool batches (*.spool) mean storage refused.
if grep -qE 'spooled|spool batch' "$WORK/proxy.log" 2>/dev/null || compgen -G "$WORK/spool/*.spool" >/dev/null; then
  printf 'notes\tWarning: the proxy spooled records to local disk during the run (storage refused or timed out); see its log.\n' >>"$CHECKS"
fi

mkdir -p "$BENCH/results"
# --check (BENCH_CHECK=1): exit 1 when a goal of the table is missed, after writing everything.
check=()
if [[ "${BENCH_CHECK:-0}" == 1 ]]; then check=(--check yes); fi
report_status=0
probe report --results "$RESULTS" --checks "$CHECKS" --out "$BENCH/results/latest.md" "${check[@]}" || report_status=$?
cp "$RESULTS" "$CHECKS" "$BENCH/results/"

# ---------------------------------------------------------------------------------------------------------
# 4. Optional profile of the proxy at 32 connections (not part of the table: the profilers cost CPU).
# ---------------------------------------------------------------------------------------------------------
if [[ "${BENCH_PROFILE:-0}" == 1 && " $TARGETS " == *" llmfunctions"* ]]; then
  PROFILE="$BENCH/results/profile"
  mkdir -p "$PROFILE"
  COUNTERS_TOOL="$TOOLS/dotnet-tools/dotnet-counters"
  if [[ ! -x "$COUNTERS_TOOL" ]]; then
    dotnet tool install --tool-path "$TOOLS/dotnet-tools" dotnet-counters >/dev/null 2>&1 || log "dotnet-counters could not be installed"
  fi
  export BENCH_AUTH="Bearer sk-bench"
  # A fresh proxy with perf maps (perf can then name JIT-compiled frames) and W^X off (which keeps JIT code out of
  # the memfd double mapping perf cannot read); the measured runs above ran without them.
  log "profile: restarting Azurite and the proxy (records awaited) with DOTNET_PerfMapEnabled=1 DOTNET_EnableWriteXorExecute=0"
  start_azurite profile
  start_proxy DOTNET_PerfMapEnabled=1 DOTNET_EnableWriteXorExecute=0
  run_wrk profile-warmup json 32 "http://127.0.0.1:$PX_PORT/v1" "$PX_PID" 5
  log "profile: proxy at 32 connections, json, ${DURATION} s under dotnet-counters, then ${DURATION} s under perf"
  if [[ -x "$COUNTERS_TOOL" ]]; then
    timeout $((DURATION + 30)) "$COUNTERS_TOOL" collect -p "$PX_PID" --refresh-interval 1 --format csv \
      -o "$PROFILE/counters.csv" --counters System.Runtime,Microsoft.AspNetCore.Hosting,System.Net.Http \
      --duration "00:00:00:$(printf '%02d' $((DURATION - 2)))" >"$WORK/counters.log" 2>&1 &
    COUNTERS_PID=$!
    run_wrk profile-counters json 32 "http://127.0.0.1:$PX_PORT/v1" "$PX_PID"
    wait "$COUNTERS_PID" || true
    awk -F, -f "$BENCH/profile/counters.awk" "$PROFILE/counters.csv" >"$PROFILE/counters-summary.txt" || true
  fi
  if command -v perf >/dev/null; then
    (sleep 1; timeout $((DURATION + 10)) perf record -F 499 -g -p "$PX_PID" -o "$WORK/perf.data" -- sleep $((DURATION - 2)) \
      >"$WORK/perf.log" 2>&1) &
    PERF_PID=$!
    run_wrk profile-perf json 32 "http://127.0.0.1:$PX_PORT/v1" "$PX_PID"
    wait "$PERF_PID" || true
    perf script -i "$WORK/perf.data" 2>/dev/null | awk -f "$BENCH/profile/summarize.awk" >"$PROFILE/perf-summary.txt" || true
    perf report -i "$WORK/perf.data" --no-children --sort dso,symbol --stdio -g none 2>/dev/null \
      | grep -v '^#' | grep -v '^$' | head -80 | cut -c1-220 >"$PROFILE/perf-self.txt" || true
  fi
  for f in "$WORK"/wrk-profile-*.txt; do grep '^WRK_RESULT' "$f" | sed "s|^|$(basename "$f" .txt): |"; done >"$PROFILE/wrk.txt" || true
  log "profile written to $PROFILE"
fi

# A missed goal fails the run only with BENCH_CHECK=1 (the table and files are written either way).
exit "$report_status"
