using System.Text;

namespace LlmFunctions.Tests.Infrastructure;

/// <summary>A chat completion request body with one user message, as the tests send it over plain HTTP.</summary>
internal static class ChatBody
{
    public static StringContent For(string model, bool stream = false, string content = "hi") => new(
        $$"""{"model":"{{model}}","stream":{{(stream ? "true" : "false")}},"messages":[{"role":"user","content":"{{content}}"}]}""",
        Encoding.UTF8, "application/json");
}
