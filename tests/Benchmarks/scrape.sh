#!/usr/bin/env bash
# Scrape latency with 10k, 100k and 1M records stored (issue 3), as a steady history of PER_DAY records a day
# (default 10,000: 1M records are 100 days). One command:
#   bash tests/Benchmarks/scrape.sh [sizes, default 10000,100000,1000000] [records per day, default 10000]
# Starts its own Azurite (in memory, 127.0.0.1, a free port) and stops it at the end.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
SIZES="${1:-10000,100000,1000000}"
PER_DAY="${2:-10000}"
[[ -x .tools/node_modules/.bin/azurite-table ]] || npm install --prefix .tools --no-audit --no-fund --loglevel=error azurite@3.37.0 >/dev/null
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
.tools/node_modules/.bin/azurite-table --inMemoryPersistence --tableHost 127.0.0.1 --tablePort "$PORT" --skipApiVersionCheck --disableProductStyleUrl --disableTelemetry >/tmp/scrape-azurite.log 2>&1 &
AZ=$!
trap 'kill $AZ 2>/dev/null || true' EXIT
sleep 2
dotnet build tests/Benchmarks/LlmFunctions.Benchmarks.Scrape -c Release -nologo -v:q -clp:ErrorsOnly >/dev/null
KEY="Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
dotnet tests/Benchmarks/LlmFunctions.Benchmarks.Scrape/bin/Release/net10.0/LlmFunctions.Benchmarks.Scrape.dll \
  "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=$KEY;TableEndpoint=http://127.0.0.1:$PORT/devstoreaccount1;" "$SIZES" "$PER_DAY"
