using System.Net.Http.Headers;
using System.Text;

namespace LlmFunctions.Benchmarks.Probe;

/// <summary>The streaming chat completion the probes send, with the <c>--header "Name: value"</c> options added.</summary>
internal sealed class StreamingChatRequest(Uri url, Options options)
{
    private static readonly byte[] Body = Encoding.UTF8.GetBytes(
        """{"model":"gpt-4.1-mini","messages":[{"role":"user","content":"Say hello in one short sentence."}],"stream":true}""");

    private readonly List<(string Name, string Value)> _headers =
        options.All("header").Select(h => h.Split(':', 2)).Select(p => (p[0].Trim(), p[1].Trim())).ToList();

    public HttpRequestMessage Create()
    {
        var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = new ByteArrayContent(Body) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        foreach (var (name, value) in _headers)
        {
            request.Headers.TryAddWithoutValidation(name, value);
        }

        return request;
    }
}
