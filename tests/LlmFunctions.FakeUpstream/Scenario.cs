namespace LlmFunctions.FakeUpstream;

/// <summary>What the fake upstream does with one request. Defaults answer like OpenAI.</summary>
public sealed record Scenario
{
    /// <summary>Status to answer with instead of a completion (429, 500, 502, 503…).</summary>
    public int? Status { get; init; }

    /// <summary><c>Retry-After</c> seconds sent with <see cref="Status"/>.</summary>
    public int? RetryAfterSeconds { get; init; }

    /// <summary>Wait before sending headers.</summary>
    public TimeSpan HeaderDelay { get; init; }

    /// <summary>Wait between stream chunks.</summary>
    public TimeSpan ChunkDelay { get; init; }

    /// <summary>Stop sending (but keep the connection) after this many content chunks.</summary>
    public int? StallAfterChunks { get; init; }

    /// <summary>Reset the connection after this many content chunks.</summary>
    public int? ResetAfterChunks { get; init; }

    /// <summary>End the stream cleanly but without <c>[DONE]</c>.</summary>
    public bool OmitDone { get; init; }

    /// <summary>Leave <c>usage</c> out of the response and the stream, whatever the request asked.</summary>
    public bool NoUsage { get; init; }

    /// <summary>Answer 200 with a body that is not JSON.</summary>
    public bool MalformedJson { get; init; }

    /// <summary>Answer a stream whose events are not JSON.</summary>
    public bool MalformedSse { get; init; }

    /// <summary>Words of generated content.</summary>
    public int Words { get; init; } = 12;

    /// <summary>Pad the completion with this many extra characters (very large responses).</summary>
    public int PaddingChars { get; init; }

    /// <summary>Reported prompt tokens (default: about a quarter of the request body's length).</summary>
    public long? PromptTokens { get; init; }

    public long CachedTokens { get; init; }

    /// <summary>Reported prompt tokens written to the prompt cache (<c>prompt_tokens_details.cache_write_tokens</c>).</summary>
    public long CacheWriteTokens { get; init; }

    public long ReasoningTokens { get; init; }

    /// <summary>Anthropic: prompt tokens written to the cache for an hour (<c>cache_creation.ephemeral_1h_input_tokens</c>);
    /// <see cref="CacheWriteTokens"/> are the 5-minute writes and <see cref="CachedTokens"/> the cache reads.</summary>
    public long CacheWrite1hTokens { get; init; }

    /// <summary>Anthropic: after this many text deltas of a 200 stream, an <c>event: error</c> (overloaded_error) ends it.</summary>
    public int? ErrorEventAfterChunks { get; init; }

    public static Scenario Ok { get; } = new();

    /// <summary>Parses the <c>x-fake-scenario</c> header: <c>status=429;retry-after=1;no-usage;stall=2;reset=2;delay-ms=100</c>.</summary>
    public static Scenario Parse(string text)
    {
        var s = new Scenario();
        foreach (var part in text.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var kv = part.Split('=', 2);
            var v = kv.Length > 1 ? kv[1] : "";
            s = kv[0] switch
            {
                "status" => s with { Status = int.Parse(v, System.Globalization.CultureInfo.InvariantCulture) },
                "retry-after" => s with { RetryAfterSeconds = int.Parse(v, System.Globalization.CultureInfo.InvariantCulture) },
                "delay-ms" => s with { HeaderDelay = TimeSpan.FromMilliseconds(int.Parse(v, System.Globalization.CultureInfo.InvariantCulture)) },
                "chunk-delay-ms" => s with { ChunkDelay = TimeSpan.FromMilliseconds(int.Parse(v, System.Globalization.CultureInfo.InvariantCulture)) },
                "stall" => s with { StallAfterChunks = int.Parse(v, System.Globalization.CultureInfo.InvariantCulture) },
                "reset" => s with { ResetAfterChunks = int.Parse(v, System.Globalization.CultureInfo.InvariantCulture) },
                "no-done" => s with { OmitDone = true },
                "no-usage" => s with { NoUsage = true },
                "malformed-json" => s with { MalformedJson = true },
                "malformed-sse" => s with { MalformedSse = true },
                "words" => s with { Words = int.Parse(v, System.Globalization.CultureInfo.InvariantCulture) },
                "padding" => s with { PaddingChars = int.Parse(v, System.Globalization.CultureInfo.InvariantCulture) },
                "error-event" => s with { ErrorEventAfterChunks = int.Parse(v, System.Globalization.CultureInfo.InvariantCulture) },
                _ => s,
            };
        }

        return s;
    }
}
