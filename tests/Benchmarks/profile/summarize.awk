#!/usr/bin/awk -f
# Summarises `perf script` output of the proxy (JIT frames named through DOTNET_PerfMapEnabled=1):
# for each category, the share of CPU samples whose stack contains a frame of it (inclusive, so shares overlap),
# then the share by the leaf frame's category (exclusive, sums to 100 %).
# Usage: perf script -i perf.data | awk -f summarize.awk
function category(frame) {
  if (frame ~ /\[Azure\.Data\.Tables\]|\[Azure\.Core\]|RecordWriter/) return "records: Azure.Data.Tables / Azure.Core"
  if (frame ~ /\[LlmFunctions\.Core\]/) return "LlmFunctions.Core"
  if (frame ~ /\[System\.Net\.Http\]/) return "upstream: System.Net.Http"
  if (frame ~ /Kestrel|\[Microsoft\.AspNetCore/) return "server: Kestrel / ASP.NET Core"
  if (frame ~ /\[Polly|Resilience|Microsoft\.Extensions\.Http/) return "Polly / HttpClientFactory"
  if (frame ~ /\[System\.Text\.Json\]/) return "System.Text.Json"
  if (frame ~ /\[System\.Net\.Sockets\]|libSystem\.Native/) return "sockets (managed + native shim)"
  if (frame ~ /libcrypto|Cryptography/) return "OpenSSL / crypto (SHA-256 of keys)"
  if (frame ~ /libclrjit/) return "JIT"
  if (frame ~ /gc_heap|GCHeap|WKS::|SVR::|GCToEEInterface|memset/) return "GC / allocation"
  if (frame ~ /ThreadPool|LowLevelLifoSemaphore|sched_yield|SpinWait|PortableThreadPool/) return "thread pool: dispatch / spin / wake"
  if (frame ~ /tcp_|inet_|ip_|__sys_send|__sys_recv|sock_|skb|net_rx|__netif/) return "kernel: TCP/IP loopback"
  if (frame ~ /epoll|futex|schedule|finish_task_switch|switch_to/) return "kernel: scheduler / futex / epoll"
  if (frame ~ /\[System\.Private\.CoreLib\]/) return "CoreLib (async machinery, collections, strings)"
  if (frame ~ /kallsyms|\[k\]|_raw_spin|syscall|entry_SYSCALL|irq/) return "kernel: other"
  if (frame ~ /libcoreclr/) return "runtime (libcoreclr): other"
  return "other"
}
function flush(   c, seen) {
  if (nframes == 0) return
  total++
  leaf[leafcat]++
  for (c in present) inclusive[c]++
  delete present
  nframes = 0
}
/^[^ \t]/ { flush(); next }
/^$/ { flush(); next }
{
  c = category($0)
  if (nframes == 0) leafcat = c
  present[c] = 1
  nframes++
}
END {
  flush()
  printf "samples: %d\n\ninclusive (stack contains a frame of):\n", total
  n = 0; for (c in inclusive) order[++n] = c
  for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (inclusive[order[j]] > inclusive[order[i]]) { t = order[i]; order[i] = order[j]; order[j] = t }
  for (i = 1; i <= n; i++) if (order[i] != "other") printf "  %5.1f %%  %s\n", 100 * inclusive[order[i]] / total, order[i]
  printf "\nexclusive (leaf frame in):\n"
  n = 0; delete order; for (c in leaf) order[++n] = c
  for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (leaf[order[j]] > leaf[order[i]]) { t = order[i]; order[i] = order[j]; order[j] = t }
  for (i = 1; i <= n; i++) printf "  %5.1f %%  %s\n", 100 * leaf[order[i]] / total, order[i]
}
