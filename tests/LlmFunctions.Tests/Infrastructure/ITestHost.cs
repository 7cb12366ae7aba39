namespace LlmFunctions.Tests.Infrastructure;

/// <summary>What a scenario needs from a host, whichever runs the handlers.</summary>
internal interface ITestHost : IAsyncDisposable
{
    HostKind Kind { get; }

    string BaseUrl { get; }

    Uri OpenAIBase => new(BaseUrl + "/v1");

    /// <summary>Everything the host and its handlers logged so far.</summary>
    string Log { get; }

    HttpClient CreateHttpClient(string? key = ProxyHost.ClientKey);

    /// <summary>Runs the budget rollup once and waits for it (the local host's service; the Functions timer on demand).</summary>
    Task RunBudgetRollupAsync();
}
