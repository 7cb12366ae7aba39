-- wrk script: POST /v1/chat/completions with a JSON body, for tests/Benchmarks/run.sh.
-- Environment: BENCH_STREAM=1 asks for a stream; BENCH_AUTH is the Authorization value;
-- BENCH_HEADER_1 … BENCH_HEADER_9 add "Name: value" headers (Portkey's routing headers).
-- At the end it prints one machine-readable line, WRK_RESULT, with latencies in microseconds.
local stream = os.getenv("BENCH_STREAM") == "1"

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = os.getenv("BENCH_AUTH") or "Bearer sk-bench"
for i = 1, 9 do
  local header = os.getenv("BENCH_HEADER_" .. i)
  if header then
    local name, value = header:match("^([^:]+):%s*(.*)$")
    wrk.headers[name] = value
  end
end

wrk.body = '{"model":"gpt-4.1-mini","messages":[{"role":"user","content":"Say hello in one short sentence."}]'
  .. (stream and ',"stream":true' or '') .. '}'

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRK_RESULT requests=%d duration_us=%d p50_us=%.1f p99_us=%.1f mean_us=%.1f non2xx=%d socket_errors=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.mean,
    e.status, e.connect + e.read + e.write + e.timeout))
end
