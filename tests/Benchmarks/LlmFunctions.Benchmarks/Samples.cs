using System.Text;

namespace LlmFunctions.Benchmarks;

/// <summary>Wire samples in the shape the fake upstream (and OpenAI) sends them.</summary>
internal static class Samples
{
    public static readonly byte[] ChatCompletion = Encoding.UTF8.GetBytes(
        """{"id":"chatcmpl-a666d7af034841869abb","object":"chat.completion","created":1700000000,"model":"gpt-4.1-mini-2025-04-14","choices":[{"index":0,"message":{"role":"assistant","content":"The proxy meters every call and writes one durable record per request so nothing is lost when instances scale out","refusal":null},"finish_reason":"stop"}],"usage":{"prompt_tokens":17,"completion_tokens":20,"total_tokens":37,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}""");

    /// <summary>One content chunk of a stream the proxy asked usage for (so it carries <c>"usage":null</c>).</summary>
    public static readonly byte[] StreamChunk = Encoding.UTF8.GetBytes(
        """{"id":"chatcmpl-59bf041ccbaa4a99bdea","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4.1-mini","choices":[{"index":0,"delta":{"content":" proxy"},"finish_reason":null}],"usage":null}""");

    /// <summary>The usage-only chunk at the end of such a stream.</summary>
    public static readonly byte[] UsageChunk = Encoding.UTF8.GetBytes(
        """{"id":"chatcmpl-59bf041ccbaa4a99bdea","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4.1-mini","choices":[],"usage":{"prompt_tokens":17,"completion_tokens":20,"total_tokens":37,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}""");

    public static readonly byte[] ChatRequest = Encoding.UTF8.GetBytes(
        """{"model":"gpt-4.1-mini","messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"Say hello in one short sentence."}],"temperature":0.2,"max_tokens":64}""");

    public static readonly byte[] StreamRequest = Encoding.UTF8.GetBytes(
        """{"model":"gpt-4.1-mini","messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"Say hello in one short sentence."}],"temperature":0.2,"max_tokens":64,"stream":true}""");
}
