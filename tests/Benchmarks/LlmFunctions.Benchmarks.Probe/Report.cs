using System.Globalization;
using System.Text;

namespace LlmFunctions.Benchmarks.Probe;

/// <summary>
/// Turns run.sh's <c>results.tsv</c> and <c>checks.tsv</c> into the results table (Markdown), prints it and writes
/// it to <c>--out</c>: every run with its ratios to the direct upstream and to Portkey, then issue 8's targets.
/// </summary>
internal static class Report
{
    private const string Direct = "direct";
    private const string Proxy = "llmfunctions";
    private const string Portkey = "portkey";

    public static int Run(string[] args)
    {
        var options = new Options(args);
        var rows = File.ReadAllLines(options.Required("results")).Skip(1).Where(l => l.Length > 0).Select(ResultRow.Parse).ToList();
        var checks = File.ReadAllLines(options.Required("checks")).Where(l => l.Contains('\t', StringComparison.Ordinal))
            .Select(l => l.Split('\t', 2)).ToDictionary(p => p[0], p => p[1]);
        var text = Render(rows, checks);
        Console.Write(text);
        File.WriteAllText(options.Required("out"), text);
        if (options.Get("check") is null)
        {
            return 0;
        }

        // --check: a goal the table marks missed fails the run (for use by hand and in reviews; CI does not run benchmarks).
        var missed = MissedGoals(text);
        foreach (var goal in missed)
        {
            Console.Error.WriteLine("goal missed: " + goal);
        }

        return missed.Count == 0 ? 0 : 1;
    }

    /// <summary>The goal rows of a rendered table whose last column says it was missed.</summary>
    internal static List<string> MissedGoals(string table) =>
        table.Split('\n').Select(l => l.TrimEnd('\r')).Where(l => l.EndsWith("| **no** |", StringComparison.Ordinal)).ToList();

    internal static string Render(List<ResultRow> rows, Dictionary<string, string> checks)
    {
        var s = new StringBuilder();
        s.AppendLine("# Benchmark results (tests/Benchmarks/run.sh)").AppendLine();
        foreach (var key in new[] { "date", "commit", "machine", "load", "versions", "settings" })
        {
            if (checks.TryGetValue(key, out var v))
            {
                s.AppendLine(Inv($"- {key}: {v}"));
            }
        }

        s.AppendLine();
        s.AppendLine("| target | mode | conns | req/s | P50 ms | P99 ms | first byte P50 / P99 ms | peak RSS MB | req/s ÷ direct | req/s ÷ Portkey "
            + "| added P50 / P99 vs direct ms | added first byte P50 vs direct ms | storage tx/call | errors |");
        s.AppendLine("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var r in rows)
        {
            var direct = Find(rows, Direct, r.Mode, r.Connections);
            var portkey = Find(rows, Portkey, r.Mode, r.Connections);
            s.AppendLine(Inv($"| {r.Target} | {r.Mode} | {r.Connections} | {r.RequestsPerSecond:0} | {r.P50Ms:0.000} | {r.P99Ms:0.000} | {FirstByte(r)} ")
                + Inv($"| {r.PeakMb:0.0} | {Ratio(r, direct)} | {Ratio(r, portkey)} | {Added(r, direct)} | {AddedFirstByte(r, direct)} ")
                + Inv($"| {(r.TransactionsPerCall is { } t ? t.ToString("0.000", CultureInfo.InvariantCulture) : "–")} | {Errors(r)} |"));
        }

        s.AppendLine();
        s.AppendLine("peak RSS: VmHWM of the serving process (reset before each run): the fake upstream for `direct`, the proxy, the Portkey node process.");
        s.AppendLine("storage tx/call: Azurite access-log lines `POST …/$batch` (a transaction) or `POST …/LlmCallsyyyyMMdd` (a lone record's insert) "
            + "during the run ÷ requests the fake upstream received from the proxy during the run.");
        s.AppendLine("A record without an upstream request is a call the proxy answered itself "
            + "(a 4xx/5xx it raised, or a client that left before its body arrived); wrk closes its connections at the end of every run.");
        s.AppendLine();
        OpenStreams(s, checks);
        foreach (var proxy in rows.Select(r => r.Target).Where(t => t.StartsWith(Proxy, StringComparison.Ordinal)).Distinct())
        {
            Targets(s, rows, checks, proxy);
        }

        if (checks.TryGetValue("notes", out var notes))
        {
            s.AppendLine().AppendLine(notes);
        }

        return s.ToString();
    }

    /// <summary>Issue 8's targets for one proxy setting, and its record count check.</summary>
    private static void Targets(StringBuilder s, List<ResultRow> rows, Dictionary<string, string> checks, string proxy)
    {
        s.AppendLine(Inv($"## Issue 8 targets: {proxy} (records on, Azurite)")).AppendLine();
        s.AppendLine("| target | measured | goal | met |");
        s.AppendLine("|---|---:|---:|---|");
        var d1 = Find(rows, Direct, "json", 1);
        var p1 = Find(rows, proxy, "json", 1);
        var ds = Find(rows, Direct, "stream", 1);
        var ps = Find(rows, proxy, "stream", 1);
        var d32 = Find(rows, Direct, "json", 32);
        var p32 = Find(rows, proxy, "json", 32);
        var k32 = Find(rows, Portkey, "json", 32);
        if (d1 is not null && p1 is not null)
        {
            Goal(s, "added latency P50, 1 connection, non-streaming", p1.P50Ms - d1.P50Ms, "ms", 0.3, lowerIsBetter: true);
            Goal(s, "added latency P99, 1 connection, non-streaming", p1.P99Ms - d1.P99Ms, "ms", 1.0, lowerIsBetter: true);
        }

        if (ds?.FirstByteP50Ms is { } dfb && ps?.FirstByteP50Ms is { } pfb)
        {
            Goal(s, "first streamed byte P50, later than direct", pfb - dfb, "ms", 0.5, lowerIsBetter: true);
        }

        if (d32 is not null && p32 is not null)
        {
            Goal(s, "throughput at 32 connections ÷ direct", p32.RequestsPerSecond / d32.RequestsPerSecond, "×", 0.30, lowerIsBetter: false);
        }

        if (k32 is not null && p32 is not null)
        {
            Goal(s, "throughput at 32 connections ÷ Portkey", p32.RequestsPerSecond / k32.RequestsPerSecond, "×", 10, lowerIsBetter: false);
        }

        var at32 = rows.Where(r => r.Target == proxy && r.Connections == 32).ToList();
        if (at32.Count > 0)
        {
            Goal(s, "peak memory at 32 connections (json and stream runs)", at32.Max(r => r.PeakMb), "MB", 150, lowerIsBetter: true);
            var tx = at32.Where(r => r.TransactionsPerCall is not null).Select(r => r.TransactionsPerCall!.Value).ToList();
            if (tx.Count > 0)
            {
                Goal(s, "storage transactions per call under load (32 connections, worst run)", tx.Max(), "", 0.2, lowerIsBetter: true);
            }
        }

        if (Streams(checks, proxy) is { } streams)
        {
            Goal(s, Inv($"peak memory with {streams.Ok + streams.Failed} streams started together ({streams.MaxOpen} open at once, {streams.Failed} failed)"),
                streams.PeakMb, "MB", 300, lowerIsBetter: true);
        }

        s.AppendLine();
        if (checks.TryGetValue("records:" + proxy, out var recordsText) && checks.TryGetValue("forwarded:" + proxy, out var forwardedText)
            && long.TryParse(recordsText, CultureInfo.InvariantCulture, out var records)
            && long.TryParse(forwardedText, CultureInfo.InvariantCulture, out var forwarded))
        {
            checks.TryGetValue("records_by_status:" + proxy, out var byStatus);

            // Records that are not 200s may belong to calls that never reached the upstream (a client that left
            // before its body arrived is recorded as 499 client_cancelled); every forwarded call must have a record.
            long notOk = 0;
            foreach (var part in (byStatus ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                var fields = part.Split(' ', 2);
                if (fields.Length == 2 && !fields[1].StartsWith("200|", StringComparison.Ordinal)
                    && long.TryParse(fields[0], CultureInfo.InvariantCulture, out var n))
                {
                    notOk += n;
                }
            }

            var extra = records - forwarded;
            var verdict = extra < 0
                ? $"{-extra} forwarded calls have NO record"
                : extra <= notOk
                    ? $"every forwarded call has a record; the {extra} more are calls that never reached the upstream (at most the {notOk} non-200 records)"
                    : $"{extra} records more than forwarded calls, more than the {notOk} non-200 records: DUPLICATES?";
            s.AppendLine(Inv($"Records: {records} rows in the LlmCalls tables; {forwarded} requests reached the upstream through the proxy ")
                + Inv($"(the fake upstream's request counter over this phase): {verdict}."));
            if (byStatus is not null)
            {
                s.AppendLine().AppendLine(Inv($"Records by StatusCode|Outcome (count value): {byStatus}."));
            }

            s.AppendLine();
        }
    }

    /// <summary>The open-streams run of every target that had one.</summary>
    private static void OpenStreams(StringBuilder s, Dictionary<string, string> checks)
    {
        var targets = checks.Keys.Where(k => k.StartsWith("streams:", StringComparison.Ordinal)).Select(k => k["streams:".Length..]).ToList();
        if (targets.Count == 0)
        {
            return;
        }

        s.AppendLine("Streams open at once (`Probe streams`: all started together, each on its own connection; "
            + "the upstream paces 20 chunks 250 ms apart):").AppendLine();
        s.AppendLine("| target | streams ok / failed | most open at once | seconds | peak RSS MB |");
        s.AppendLine("|---|---:|---:|---:|---:|");
        foreach (var target in targets)
        {
            var r = Streams(checks, target)!.Value;
            s.AppendLine(Inv($"| {target} | {r.Ok} / {r.Failed} | {r.MaxOpen} | {r.Seconds:0.0} | {r.PeakMb:0.0} |"));
        }

        s.AppendLine();
    }

    private static (int Ok, int Failed, int MaxOpen, double Seconds, double PeakMb)? Streams(Dictionary<string, string> checks, string target)
    {
        if (!checks.TryGetValue("streams:" + target, out var text))
        {
            return null;
        }

        var f = text.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return f.Length == 5
            ? (int.Parse(f[0], CultureInfo.InvariantCulture), int.Parse(f[1], CultureInfo.InvariantCulture), int.Parse(f[2], CultureInfo.InvariantCulture),
                double.Parse(f[3], CultureInfo.InvariantCulture), double.Parse(f[4], CultureInfo.InvariantCulture))
            : null;
    }

    private static ResultRow? Find(List<ResultRow> rows, string target, string mode, int connections) =>
        rows.FirstOrDefault(r => r.Target == target && r.Mode == mode && r.Connections == connections);

    private static string FirstByte(ResultRow r) =>
        r.FirstByteP50Ms is { } p50 ? Inv($"{p50:0.000} / {r.FirstByteP99Ms:0.000}") : "–";

    private static string Ratio(ResultRow r, ResultRow? baseline) =>
        baseline is null || baseline.RequestsPerSecond <= 0 ? "–" : Inv($"{r.RequestsPerSecond / baseline.RequestsPerSecond:0.00}");

    private static string Added(ResultRow r, ResultRow? direct) =>
        direct is null || ReferenceEquals(r, direct) ? "–" : Inv($"{r.P50Ms - direct.P50Ms:+0.000;-0.000} / {r.P99Ms - direct.P99Ms:+0.000;-0.000}");

    private static string AddedFirstByte(ResultRow r, ResultRow? direct) =>
        direct is null || ReferenceEquals(r, direct) || r.FirstByteP50Ms is null || direct.FirstByteP50Ms is null
            ? "–"
            : Inv($"{r.FirstByteP50Ms - direct.FirstByteP50Ms:+0.000;-0.000}");

    private static string Errors(ResultRow r) => r.Non2xx + r.SocketErrors == 0 ? "0" : Inv($"{r.Non2xx} non-2xx, {r.SocketErrors} socket");

    private static void Goal(StringBuilder s, string what, double value, string unit, double goal, bool lowerIsBetter)
    {
        var met = lowerIsBetter ? value <= goal : value >= goal;
        s.AppendLine(Inv($"| {what} | {value:0.000} {unit} | {(lowerIsBetter ? "≤" : "≥")} {goal} {unit} | {(met ? "yes" : "**no**")} |"));
    }

    private static string Inv(FormattableString f) => f.ToString(CultureInfo.InvariantCulture);
}
