using Azure;
using Azure.Data.Tables;

namespace LlmFunctions.Benchmarks.Probe;

/// <summary>
/// Counts the call records (every daily <c>LlmCallsyyyyMMdd</c> table, or <c>--table</c>), page by page. Prints the total,
/// then (with <c>--by Property,Property</c>) one line per distinct combination of those properties: <c>count value|value</c>.
/// </summary>
internal static class RecordCounter
{
    public static async Task<int> RunAsync(string[] args)
    {
        var options = new Options(args);
        var service = new TableServiceClient(options.Required("connection"));
        var tables = new List<string>();
        if (options.Get("table") is { } name)
        {
            tables.Add(name);
        }
        else
        {
            await foreach (var t in service.QueryAsync())
            {
                if (t.Name.StartsWith("LlmCalls", StringComparison.Ordinal))
                {
                    tables.Add(t.Name);
                }
            }
        }

        var by = options.Get("by")?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) ?? [];
        var groups = new SortedDictionary<string, long>(StringComparer.Ordinal);
        long count = 0;
        foreach (var table in tables)
        {
            try
            {
                await foreach (var e in service.GetTableClient(table).QueryAsync<TableEntity>(select: ["PartitionKey", .. by], maxPerPage: 1000))
                {
                    count++;
                    if (by.Length > 0)
                    {
                        var key = string.Join('|', by.Select(p => e.TryGetValue(p, out var v)
                            ? Convert.ToString(v, System.Globalization.CultureInfo.InvariantCulture)
                            : ""));
                        groups[key] = groups.GetValueOrDefault(key) + 1;
                    }
                }
            }
            catch (RequestFailedException ex) when (ex.Status == 404)
            {
                // The table went away (retention): no records in it.
            }
        }

        Console.WriteLine(count);
        foreach (var (key, n) in groups)
        {
            Console.WriteLine($"{n} {key}");
        }

        return 0;
    }
}
