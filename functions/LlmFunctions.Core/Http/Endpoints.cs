namespace LlmFunctions.Core.Http;

/// <summary>Path rules for <c>/v1/{path}</c>.</summary>
internal static class Endpoints
{
    public const string ChatCompletions = "chat/completions";

    /// <summary>Anthropic's Messages API.</summary>
    public const string Messages = "messages";

    /// <summary>Anthropic's token counting: free, recorded at cost 0, not metered.</summary>
    public const string CountTokens = "messages/count_tokens";

    /// <summary>Endpoints whose responses carry usage, and so get estimated when they do not.</summary>
    public static bool IsGenerative(string path) =>
        path is ChatCompletions or "completions" or "responses" or Messages;

    /// <summary>The API a path belongs to.</summary>
    public static ApiDialect DialectOf(string path) => path is Messages or CountTokens ? ApiDialect.Anthropic : ApiDialect.OpenAI;

    public static bool IsMetered(string path) => IsGenerative(path) || path is "embeddings";

    /// <summary>
    /// True when every segment is a plain URL segment: no empty, <c>.</c> or <c>..</c> segment, no backslash,
    /// percent sign or control character. Together with <see cref="UpstreamClient.TargetFor"/>, no client input
    /// can send a request outside the configured upstream base.
    /// </summary>
    public static bool IsSafePath(string path)
    {
        if (path.Length is 0 or > 512)
        {
            return false;
        }

        var span = path.AsSpan();
        foreach (var range in span.Split('/'))
        {
            // Spans, not path.Split: this runs on every call and should not allocate.
            var segment = span[range];
            if (segment.IsEmpty || segment.SequenceEqual(".") || segment.SequenceEqual(".."))
            {
                return false;
            }

            foreach (var c in segment)
            {
                if (!(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or '~' or ':' or '@' or '+' or '=' or ','))
                {
                    return false;
                }
            }
        }

        return true;
    }
}
