using System.Text.Json.Nodes;

namespace LlmFunctions.Tests.Infra;

/// <summary>Issue 31, items 3 and 4: the private option (<c>vnetEnabled</c>) and what the operator gets on day one.</summary>
public sealed class NetworkAndOperationsTests
{
    [Theory]
    [InlineData("FlexConsumption", "Microsoft.App/environments")]
    [InlineData("ElasticPremium", "Microsoft.Web/serverFarms")]
    [InlineData("AppService", "Microsoft.Web/serverFarms")]
    public void ThePrivateOption_PutsTheAppInASubnet_AndStorageAndTheVaultBehindPrivateEndpoints(string planType, string delegation)
    {
        var resources = Snapshot(planType, "vnetEnabled = true");

        var storage = Single(resources, "Microsoft.Storage/storageAccounts")["properties"]!;
        Assert.Equal("Disabled", (string?)storage["publicNetworkAccess"]);
        Assert.Equal("Deny", (string?)storage["networkAcls"]!["defaultAction"]);

        var endpoints = Of(resources, "Microsoft.Network/privateEndpoints");
        Assert.Equal(["blob", "table", "vault"], endpoints.Select(e => (string)e["properties"]!["privateLinkServiceConnections"]![0]!["properties"]!["groupIds"]![0]!).Order());
        Assert.Equal(3, Of(resources, "Microsoft.Network/privateEndpoints/privateDnsZoneGroups").Count);
        // The storage zones end with the cloud's suffix (environment(), evaluated only by ARM).
        var zones = Of(resources, "Microsoft.Network/privateDnsZones").Select(z => (string)z["name"]!).ToList();
        Assert.Equal(3, zones.Count);
        Assert.Contains(zones, z => z.Contains("privatelink.blob.", StringComparison.Ordinal));
        Assert.Contains(zones, z => z.Contains("privatelink.table.", StringComparison.Ordinal));
        Assert.Contains("privatelink.vaultcore.azure.net", zones);
        Assert.Equal(3, Of(resources, "Microsoft.Network/privateDnsZones/virtualNetworkLinks").Count);

        var subnet = Single(resources, "Microsoft.Network/virtualNetworks")["properties"]!["subnets"]![0]!;
        Assert.Equal(delegation, (string?)subnet["properties"]!["delegations"]![0]!["properties"]!["serviceName"]);
        var site = Single(resources, "Microsoft.Web/sites")["properties"]!;
        Assert.Contains("virtualNetworks", BicepCompilation.Text(site["virtualNetworkSubnetId"]), StringComparison.Ordinal);
        if (planType == "FlexConsumption")
        {
            Assert.Null(site["siteConfig"]!["vnetRouteAllEnabled"]); // Flex routes all outbound traffic through the subnet; the key is one it refuses
        }
        else
        {
            Assert.True((bool)site["siteConfig"]!["vnetRouteAllEnabled"]!);
        }

        // The vault's module cannot be expanded offline (its secrets loop over a secure parameter): its expression, then.
        var vault = BicepCompilation.AllTemplates(BicepCompilation.Template).SelectMany(BicepCompilation.Resources)
            .Single(r => (string?)r["type"] == "Microsoft.KeyVault/vaults");
        Assert.Equal("[if(parameters('vnetEnabled'), 'Disabled', 'Enabled')]", (string?)vault["properties"]!["publicNetworkAccess"]);
    }

    [Fact]
    public void WithoutThePrivateOption_NoNetworkResources_AndNoSubnetOnTheSite()
    {
        var resources = BicepCompilation.Snapshot("FlexConsumption");

        Assert.DoesNotContain(resources, r => ((string?)r!["type"])!.StartsWith("Microsoft.Network/", StringComparison.Ordinal));
        Assert.Equal("Enabled", (string?)Single(resources, "Microsoft.Storage/storageAccounts")["properties"]!["publicNetworkAccess"]);
        Assert.Null(Single(resources, "Microsoft.Web/sites")["properties"]!["virtualNetworkSubnetId"]); // null, as the azd Flex quickstart sends it
    }

    [Fact]
    public void TheAppAndTheVault_LogToTheWorkspace_AndFourAlertsCarryTheThresholdsUsersRun()
    {
        var resources = BicepCompilation.Snapshot("FlexConsumption");

        var diagnostics = Of(resources, "Microsoft.Insights/diagnosticSettings");
        Assert.Equal(2, diagnostics.Count);
        Assert.Contains(diagnostics, d => ((string)d["id"]!).Contains("/Microsoft.Web/sites/", StringComparison.Ordinal));
        Assert.Contains(diagnostics, d => BicepCompilation.Text(d["id"]).Contains("Microsoft.KeyVault/vaults", StringComparison.Ordinal));
        Assert.All(diagnostics, d => Assert.Contains("Microsoft.OperationalInsights/workspaces", (string)d["properties"]!["workspaceId"]!, StringComparison.Ordinal));

        var rules = Of(resources, "Microsoft.Insights/scheduledQueryRules").ToDictionary(r => (string)r["name"]!, r => r["properties"]!);
        Assert.Equal(["llm-high-latency", "llm-keyvault-reference-failures", "llm-records-not-stored", "llm-server-errors"], rules.Keys.Order());
        AssertRule(rules["llm-server-errors"], "PT1M", threshold: 1, severity: 1, "ResultCode");            // more than 1 5xx in 1 minute
        AssertRule(rules["llm-high-latency"], "PT5M", threshold: 30_000, severity: 2, "percentile(DurationMs, 99)"); // P99 above 30 s
        AssertRule(rules["llm-records-not-stored"], "PT5M", threshold: 0, severity: 1, "Storage unavailable");
        AssertRule(rules["llm-keyvault-reference-failures"], "PT5M", threshold: 0, severity: 1, "SecretGet");
        Assert.Empty(Of(resources, "Microsoft.Insights/actionGroups"));
        Assert.All(rules.Values, r => Assert.Empty(r["actions"]!["actionGroups"]!.AsArray()));
    }

    [Fact]
    public void AnAlertEmail_GetsEveryAlert()
    {
        var resources = Snapshot("FlexConsumption", "alertEmail = 'ops@example.com'");

        var group = Single(resources, "Microsoft.Insights/actionGroups");
        Assert.Equal("ops@example.com", (string?)group["properties"]!["emailReceivers"]![0]!["emailAddress"]);
        Assert.All(Of(resources, "Microsoft.Insights/scheduledQueryRules"),
            r => Assert.Equal((string)group["id"]!, (string?)r["properties"]!["actions"]!["actionGroups"]![0]));
    }

    private static void AssertRule(JsonNode rule, string window, int threshold, int severity, string queryPart)
    {
        Assert.Equal(window, (string?)rule["windowSize"]);
        Assert.Equal(window, (string?)rule["evaluationFrequency"]);
        Assert.Equal(severity, (int)rule["severity"]!);
        var criterion = rule["criteria"]!["allOf"]![0]!;
        Assert.Equal(threshold, (int)criterion["threshold"]!);
        Assert.Equal("GreaterThan", (string?)criterion["operator"]);
        Assert.Contains(queryPart, (string)criterion["query"]!, StringComparison.Ordinal);
        Assert.Contains("Microsoft.OperationalInsights/workspaces", (string)rule["scopes"]![0]!, StringComparison.Ordinal);
    }

    private static JsonArray Snapshot(string planType, string parameter)
    {
        var (resources, error) = BicepCompilation.TrySnapshot(planType, "eastus", [parameter]);
        return resources ?? throw new InvalidOperationException(error);
    }

    private static List<JsonNode> Of(JsonArray resources, string type) =>
        resources.Where(r => (string?)r!["type"] == type).Select(r => r!).ToList();

    private static JsonNode Single(JsonArray resources, string type) => Assert.Single(Of(resources, type));
}
