namespace LlmFunctions.Core.Http;

/// <summary>
/// The API a call speaks, chosen by its path (<see cref="Endpoints.DialectOf"/>): OpenAI's (chat completions, responses,
/// embeddings…) or Anthropic's Messages API (<c>/v1/messages</c>, <c>/v1/messages/count_tokens</c>). It decides how the
/// key is read, how errors are written, how usage is read and which upstreams may serve the call; everything else (the
/// record, budgets, reservations, relays, metrics) is one pipeline.
/// </summary>
internal enum ApiDialect
{
    OpenAI,
    Anthropic,
}
