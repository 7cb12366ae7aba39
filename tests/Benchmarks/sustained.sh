#!/usr/bin/env bash
# /metrics latency while the proxy holds a steady call rate (issue 15): for each rate, a fresh Azurite (in memory),
# the fast fake upstream and the host, BENCH_SECONDS of non-streaming chat at that rate (open loop; "max" is as
# fast as 32 connections go) with one scrape a second, then one table row. Everything on 127.0.0.1; every run is
# bounded (the probe stops itself, and each step is killed after its time plus 60 s).
#
#   bash tests/Benchmarks/sustained.sh            # rates 10 100 300 max, 300 s each (≈ 22 min)
#   BENCH_SECONDS=60 bash tests/Benchmarks/sustained.sh
#
# Settings: BENCH_RATES="10 100 300 max", BENCH_SECONDS=300, BENCH_HOST=local|functions (the Functions worker
# under the host emulator), BENCH_HISTORY=1000000 (records seeded over earlier days, 10,000 a day, and folded before
# each rate's host starts: ≈ 8 min each at 1M). The host runs with the defaults a user gets (fold lag 60 s, rollup
# every 5 minutes). BENCH_UPSTREAM_LATENCY_MS (default 0) delays every upstream answer, so calls overlap as LLM
# calls do.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
RATES="${BENCH_RATES:-10 100 300 max}"
SECONDS_PER_RATE="${BENCH_SECONDS:-300}"
HOST_KIND="${BENCH_HOST:-local}"
HISTORY="${BENCH_HISTORY:-0}"
UPSTREAM_LATENCY_MS="${BENCH_UPSTREAM_LATENCY_MS:-0}"
PROBE="$ROOT/tests/Benchmarks/LlmFunctions.Benchmarks.Probe/bin/Release/net10.0/LlmFunctions.Benchmarks.Probe.dll"
# shellcheck source=hosts.sh
source "$ROOT/tests/Benchmarks/hosts.sh"
log() { printf '[sustained %s] %s\n' "$(date +%T)" "$*" >&2; }

bash "$ROOT/.ci/install-tools.sh" >/dev/null
for p in functions/LlmFunctions functions/LlmFunctions.Local tests/LlmFunctions.FunctionsHost \
         tests/Benchmarks/LlmFunctions.Benchmarks.Upstream tests/Benchmarks/LlmFunctions.Benchmarks.Probe \
         tests/Benchmarks/LlmFunctions.Benchmarks.Scrape; do
  dotnet build "$ROOT/$p" -c Release -nologo -v:q -clp:ErrorsOnly >/dev/null
done

WORK="$(mktemp -d "${TMPDIR:-/tmp}/llm-sustained.XXXXXX")"
PIDS=()
trap 'stop_all; rm -rf "$WORK"' EXIT

ROWS=()
for rate in $RATES; do
  read -r AZ UP PX <<< "$(dotnet "$PROBE" free-ports 3 | tr '\n' ' ')"
  "$ROOT/.tools/node_modules/.bin/azurite-table" --tableHost 127.0.0.1 --tablePort "$AZ" --inMemoryPersistence \
    --skipApiVersionCheck --disableProductStyleUrl >"$WORK/azurite-$rate.log" 2>&1 &
  PIDS+=($!)
  dotnet "$ROOT/tests/Benchmarks/LlmFunctions.Benchmarks.Upstream/bin/Release/net10.0/LlmFunctions.Benchmarks.Upstream.dll" --port "$UP" --latency-ms "$UPSTREAM_LATENCY_MS" \
    >"$WORK/upstream-$rate.log" 2>&1 &
  PIDS+=($!)
  sleep 2
  TABLES="DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=$AZURITE_KEY;TableEndpoint=http://127.0.0.1:$AZ/devstoreaccount1;"
  if [[ "$HISTORY" != 0 ]]; then
    log "seeding $HISTORY records of history"
    log "$(timeout 1800 dotnet "$ROOT/tests/Benchmarks/LlmFunctions.Benchmarks.Scrape/bin/Release/net10.0/LlmFunctions.Benchmarks.Scrape.dll" \
      "$TABLES" "$HISTORY" 10000 --seed-only 2>/dev/null | tail -1)"
  fi
  export Upstream__BaseUrl="http://127.0.0.1:$UP/v1" Upstream__ApiKey=bench Clients__bench__Key=sk-bench Metrics__BearerToken=bench-scrape \
    Storage__ConnectionString="$TABLES" \
    Storage__SpoolDirectory="$WORK/spool-$rate" Budgets__Schedule="0 */5 * * * *" Logging__LogLevel__Default=Warning
  launch_host "$HOST_KIND" "$PX" "$WORK/host-$rate.log"
  PIDS+=($!)
  for _ in $(seq 300); do curl -fs "http://127.0.0.1:$PX/health" >/dev/null 2>&1 && break; sleep 0.1; done
  r=$rate; [[ "$rate" == max ]] && r=0
  log "$HOST_KIND: $rate calls/s for $SECONDS_PER_RATE s"
  out=$(timeout $((SECONDS_PER_RATE + 60)) dotnet "$PROBE" sustained --url "http://127.0.0.1:$PX" --key sk-bench \
    --scrape-token bench-scrape --rate "$r" --seconds "$SECONDS_PER_RATE" | grep '^SUSTAINED')
  log "$out"
  eval "$(echo "$out" | sed 's/^SUSTAINED //; s/rate=[^ ]* //')"
  ROWS+=("| $HOST_KIND | $HISTORY | $rate | $achieved | $calls | $non2xx | $scrapes | $scrape_p50_ms | $scrape_p99_ms | $scrape_max_ms | $scrape_requests_max | $storage_per_call |")
  stop_all
done

{
  echo "# /metrics under a steady call rate ($(date -u +%F), $(nproc) cores, commit $(git -C "$ROOT" rev-parse --short HEAD), ${SECONDS_PER_RATE} s per rate)"
  echo
  echo "| host | records stored before | target calls/s | achieved | calls | non-2xx | scrapes | scrape P50 ms | scrape P99 ms | scrape max ms | storage requests per scrape (max) | storage requests per call |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${ROWS[@]}"
} | tee "$ROOT/tests/Benchmarks/results/sustained-$HOST_KIND$([[ "$HISTORY" != 0 ]] && echo "-history")-${SECONDS_PER_RATE}s.md"
