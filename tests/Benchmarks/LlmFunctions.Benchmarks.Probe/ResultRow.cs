using System.Globalization;

namespace LlmFunctions.Benchmarks.Probe;

/// <summary>One wrk run of one target, as run.sh writes it to <c>results.tsv</c> (tab-separated, with a header).</summary>
internal sealed record ResultRow(
    string Target, string Mode, int Connections, long Requests, double RequestsPerSecond, double P50Ms, double P99Ms,
    double? FirstByteP50Ms, double? FirstByteP99Ms, double PeakMb, long Non2xx, long SocketErrors, long? Forwarded, long? Batches)
{
    public const string Header = "target\tmode\tconns\trequests\trps\tp50_ms\tp99_ms\tttfb_p50_ms\tttfb_p99_ms\t"
        + "peak_mb\tnon2xx\tsocket_errors\tforwarded\tbatches";

    /// <summary>Storage transactions per forwarded call (the proxy only: Azurite <c>$batch</c> requests / upstream requests).</summary>
    public double? TransactionsPerCall => Forwarded > 0 && Batches is { } b ? b / (double)Forwarded : null;

    public static ResultRow Parse(string line)
    {
        var f = line.Split('\t');
        return new ResultRow(f[0], f[1], int.Parse(f[2], CultureInfo.InvariantCulture), long.Parse(f[3], CultureInfo.InvariantCulture),
            D(f[4]), D(f[5]), D(f[6]), N(f[7]), N(f[8]), D(f[9]), long.Parse(f[10], CultureInfo.InvariantCulture),
            long.Parse(f[11], CultureInfo.InvariantCulture), L(f[12]), L(f[13]));

        static double D(string s) => double.Parse(s, CultureInfo.InvariantCulture);
        static double? N(string s) => s is "" or "-" ? null : D(s);
        static long? L(string s) => s is "" or "-" ? null : long.Parse(s, CultureInfo.InvariantCulture);
    }
}
