using Anthropic;
using LlmFunctions.Tests.Infrastructure;

namespace LlmFunctions.Tests.Integration;

/// <summary>
/// Both hosts with an Anthropic-kind upstream (the fake upstream's Messages API) serving <c>claude-*</c> beside the
/// default OpenAI one, and a reserved budget that refuses client beta's calls up front.
/// </summary>
public sealed class AnthropicFixture : BothHostsFixture
{
    /// <summary>The operator's Anthropic key: sent upstream as x-api-key, never seen by a client.</summary>
    public const string OperatorAnthropicKey = "sk-ant-operator-secret-do-not-leak";

    public const string AdminKey = "sk-admin-key-for-anthropic-tests";

    protected override void Configure(Dictionary<string, string?> settings)
    {
        var root = settings["Upstream:BaseUrl"]![..^"/v1".Length];
        settings["Upstreams:claude:Kind"] = "anthropic";
        settings["Upstreams:claude:BaseUrl"] = root; // as Anthropic's SDKs take it: /v1 is added
        settings["Upstreams:claude:ApiKey"] = OperatorAnthropicKey;
        settings["Upstreams:claude:Models"] = "claude-*";
        settings["Budgets:betacap:Scope"] = "client:beta";
        settings["Budgets:betacap:LimitUsd"] = "0.000001";
        settings["Budgets:betacap:Action"] = "block";
        settings["Budgets:betacap:Reserve"] = "true";
        settings["Admin:KeySha256"] = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(AdminKey)));
    }

    /// <summary>The official Anthropic .NET SDK pointed at the proxy (its base URL is the host, without /v1).</summary>
    internal AnthropicClient Claude(HostKind kind, string key = ProxyHost.ClientKey) =>
        new() { ApiKey = key, BaseUrl = Host(kind).BaseUrl, MaxRetries = 0 };
}
