# Sourced by the benchmark scripts: start a host of the proxy in the background, with the environment already
# exported. Usage: launch_host local|functions PORT LOGFILE; then $! is its PID. Needs ROOT and Release builds.
launch_host() {
  if [[ "$1" == functions ]]; then
    dotnet "$ROOT/tests/LlmFunctions.FunctionsHost/bin/Release/net10.0/LlmFunctions.FunctionsHost.dll" --urls "http://127.0.0.1:$2" \
      --app "$ROOT/functions/LlmFunctions/bin/Release/net10.0" >>"$3" 2>&1 &
  else
    (cd "$ROOT/functions/LlmFunctions.Local/bin/Release/net10.0" && exec dotnet LlmFunctions.Local.dll --urls "http://127.0.0.1:$2") >>"$3" 2>&1 &
  fi
}
