# Sourced by the benchmark scripts: the processes they start and stop. Needs ROOT and Release builds.

# Azurite's well-known development account key (public; never a real secret).
AZURITE_KEY="Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

# Start a host of the proxy in the background, with the environment already exported.
# Usage: launch_host local|functions PORT LOGFILE; then $! is its PID.
launch_host() {
  if [[ "$1" == functions ]]; then
    dotnet "$ROOT/tests/LlmFunctions.FunctionsHost/bin/Release/net10.0/LlmFunctions.FunctionsHost.dll" --urls "http://127.0.0.1:$2" \
      --app "$ROOT/functions/LlmFunctions/bin/Release/net10.0" >>"$3" 2>&1 &
  else
    (cd "$ROOT/functions/LlmFunctions.Local/bin/Release/net10.0" && Logging__LogLevel__Default="${Logging__LogLevel__Default:-Warning}" \
      exec dotnet LlmFunctions.Local.dll --urls "http://127.0.0.1:$2") >>"$3" 2>&1 &
  fi
}

# Wait up to SECONDS for a command to succeed (logs with the caller's log function when it does not).
# Usage: wait_for WHAT SECONDS COMMAND...; http_ok URL (200) and http_any URL (any answer) are such commands.
wait_for() { # what, seconds, command...
  local what=$1 seconds=$2; shift 2
  for _ in $(seq $((seconds * 10))); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  log "$what did not start within $seconds s"; return 1
}
http_ok() { [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$1")" == 200 ]]; }
http_any() { [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$1")" != 000 ]]; }

# Stop every process in the caller's PIDS array: TERM, then KILL whatever still runs after TENTHS tenths of a
# second (default 100). Usage: stop_all [TENTHS]; empties PIDS.
stop_all() {
  local pid
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for _ in $(seq "${1:-100}"); do
    local alive=0
    for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [[ $alive == 0 ]] && break
    sleep 0.1
  done
  for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  PIDS=()
}
