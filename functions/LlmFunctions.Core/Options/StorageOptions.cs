namespace LlmFunctions.Core;

/// <summary>Where the per-call records and aggregates live (section <c>Storage</c>).</summary>
public sealed class StorageOptions
{
    public const string SectionName = "Storage";

    /// <summary>Table Storage connection string. Default: Azurite (<c>UseDevelopmentStorage=true</c>).</summary>
    public string ConnectionString { get; set; } = "UseDevelopmentStorage=true";

    /// <summary>Table endpoint for managed identity (Azure.Identity); wins over the connection string when set.</summary>
    public string? TableServiceUri { get; set; }

    /// <summary>
    /// Local folder where records that storage refused are spooled (fsync'd) and replayed from.
    /// Default: <c>llm-spool</c> under the temp folder.
    /// </summary>
    public string? SpoolDirectory { get; set; }
}
