using System.Net;
using LlmFunctions.FunctionsHost;
using Microsoft.AspNetCore.Http;

namespace LlmFunctions.Tests.FunctionsHost;

/// <summary>What the worker's Kestrel receives besides the client's request, as from the host.</summary>
public sealed class InvocationTransformerTests
{
    private static async Task<HttpRequestMessage> TransformAsync(Action<HttpContext>? client = null)
    {
        var context = new DefaultHttpContext();
        context.Request.Scheme = "http";
        context.Request.Host = new HostString("gateway.example", 7071);
        context.Request.Method = "POST";
        context.Request.Path = "/v1/chat/completions";
        context.Connection.RemoteIpAddress = IPAddress.Parse("203.0.113.7");
        context.Request.Headers.Authorization = "Bearer sk-client";
        client?.Invoke(context);
        var request = new HttpRequestMessage();
        await new InvocationTransformer("inv-1").TransformRequestAsync(context, request, "http://localhost:5000/", CancellationToken.None);
        return request;
    }

    [Fact]
    public async Task Request_CarriesTheInvocationId_TheClientsHeaders_AndTheClientAsXForwarded()
    {
        var request = await TransformAsync();

        Assert.Equal("inv-1", request.Headers.GetValues("x-ms-invocation-id").Single());
        Assert.Equal("Bearer sk-client", request.Headers.GetValues("Authorization").Single());
        Assert.Equal(new Uri("http://localhost:5000/v1/chat/completions"), request.RequestUri);

        // The worker runs UseForwardedHeaders and trusts loopback, so it sees the client, not the host.
        Assert.Equal("203.0.113.7", request.Headers.GetValues("X-Forwarded-For").Single());
        Assert.Equal("gateway.example:7071", request.Headers.GetValues("X-Forwarded-Host").Single());
        Assert.Equal("http", request.Headers.GetValues("X-Forwarded-Proto").Single());
    }

    [Fact]
    public async Task ClientsOwnInvocationIdOrForwardedFor_CannotImpersonate()
    {
        var request = await TransformAsync(c =>
        {
            c.Request.Headers["x-ms-invocation-id"] = "someone-elses";
            c.Request.Headers["X-Forwarded-For"] = "127.0.0.1";
        });

        Assert.Equal("inv-1", request.Headers.GetValues("x-ms-invocation-id").Single());

        // Appended, so the worker's ForwardedHeaders (one hop) takes the address the emulator saw.
        Assert.Equal("203.0.113.7", string.Join(",", request.Headers.GetValues("X-Forwarded-For")).Split(',').Last().Trim());
    }
}
