#!/usr/bin/awk -f
# Averages a dotnet-counters CSV (collect --format csv) per counter over the samples taken under load.
# Usage: awk -F, -f counters.awk counters.csv
NR > 1 && $5 != "" { sum[$3] += $5; n[$3]++ }
END {
  for (c in sum) printf "%-75s %16.2f\n", c, sum[c] / n[c] | "sort"
}
