using Azure;
using Azure.Data.Tables;

namespace LlmFunctions.Benchmarks.Probe;

/// <summary>Counts the rows of <c>LlmCalls</c> (selecting only the key, page by page). Prints the count.</summary>
internal static class RecordCounter
{
    public static async Task<int> RunAsync(string[] args)
    {
        var options = new Options(args);
        var table = new TableClient(options.Required("connection"), options.Get("table") ?? "LlmCalls");
        long count = 0;
        try
        {
            await foreach (var _ in table.QueryAsync<TableEntity>(select: ["PartitionKey"], maxPerPage: 1000))
            {
                count++;
            }
        }
        catch (RequestFailedException ex) when (ex.Status == 404)
        {
            // No table yet: no records.
        }

        Console.WriteLine(count);
        return 0;
    }
}
