using LlmFunctions.Core.Http;

namespace LlmFunctions.Tests.Proxy;

/// <summary>Anthropic's error types by status, and back: one table.</summary>
public sealed class AnthropicErrorTests
{
    [Theory]
    [InlineData(400, "invalid_request_error")]
    [InlineData(401, "authentication_error")]
    [InlineData(403, "permission_error")]
    [InlineData(404, "not_found_error")]
    [InlineData(405, "invalid_request_error")]
    [InlineData(413, "request_too_large")]
    [InlineData(415, "invalid_request_error")]
    [InlineData(429, "rate_limit_error")]
    [InlineData(500, "api_error")]
    [InlineData(502, "api_error")]
    [InlineData(503, "api_error")]
    [InlineData(504, "api_error")]
    [InlineData(529, "overloaded_error")]
    public void EachStatus_HasAnthropicsType(int status, string type) => Assert.Equal(type, AnthropicError.TypeOf(status));

    [Theory]
    [InlineData("overloaded_error", 529)]
    [InlineData("rate_limit_error", 429)]
    [InlineData("api_error", 500)]
    [InlineData("something_new", 500)]
    public void AnErrorEventsType_NamesTheStatusTheRecordGets(string type, int status) => Assert.Equal(status, AnthropicError.StatusOf(type));
}
