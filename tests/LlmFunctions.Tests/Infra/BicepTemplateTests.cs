using LlmFunctions.Core.Records;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Xunit;

namespace LlmFunctions.Tests.Infra;

/// <summary>
/// Checks on the compiled <c>infra/main.bicep</c> (see <see cref="BicepCompilation"/>):
/// lint-clean, identity-only storage, TLS, secrets only in Key Vault, least-privilege roles,
/// the .NET 10 isolated runtime. ARM values are often expressions such as
/// <c>[parameters('x')]</c>, so some checks read the expression text.
/// </summary>
public sealed class BicepTemplateTests
{
    private const string StorageBlobDataOwner = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b";
    private const string StorageTableDataContributor = "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3";
    private const string StorageQueueDataContributor = "974c5e8b-45b9-4653-ba55-5f855dd0fb88";
    private const string StorageBlobDataReader = "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1";
    private const string StorageBlobDataContributor = "ba92f5b4-2d11-453d-a403-e96b0029c9fe";
    private const string StorageTableDataReader = "76199698-9eea-4c19-bc75-cec21354c6b6";
    private const string KeyVaultSecretsUser = "4633458b-17de-408a-b874-0445c86b69e6";
    private const string MonitoringMetricsPublisher = "3913510d-42f4-4e42-8a64-420c390055eb";
    private const string CognitiveServicesOpenAIUser = "5e0bd9bd-7b93-4f28-af87-19fc36ad61bd";

    private static readonly Regex Guid = new("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", RegexOptions.IgnoreCase);

    [Fact]
    public void Lint_ReportsNoErrorsOrWarnings()
    {
        var lint = BicepCompilation.Lint;

        Assert.True(lint.ExitCode == 0, $"bicep lint exited {lint.ExitCode}:{Environment.NewLine}{lint.AllOutput}");
        Assert.DoesNotContain("Warning", lint.AllOutput, StringComparison.Ordinal);
        Assert.DoesNotContain("Error", lint.AllOutput, StringComparison.Ordinal);
    }

    [Fact]
    public void Build_SucceedsWithoutDiagnostics()
    {
        var build = BicepCompilation.Build;

        Assert.True(build.ExitCode == 0, $"bicep build exited {build.ExitCode}:{Environment.NewLine}{build.StandardError}");
        Assert.DoesNotContain("Warning", build.StandardError, StringComparison.Ordinal);
        Assert.DoesNotContain("Error", build.StandardError, StringComparison.Ordinal);
        Assert.Equal("subscription", TargetScope(BicepCompilation.Template));
    }

    [Fact]
    public void StorageAccount_RefusesSharedKeysPublicBlobsAndOldTls()
    {
        var accounts = BicepCompilation.ResourcesOfType("Microsoft.Storage/storageAccounts");

        Assert.NotEmpty(accounts);
        foreach (var account in accounts)
        {
            var properties = account["properties"]!;
            Assert.False(properties["allowSharedKeyAccess"]!.GetValue<bool>());
            Assert.False(properties["allowBlobPublicAccess"]!.GetValue<bool>());
            Assert.Equal("TLS1_2", (string?)properties["minimumTlsVersion"]);
        }
    }

    [Fact]
    public void StorageAccount_HasTheAppTables()
    {
        var tables = BicepCompilation.ResourcesOfType("Microsoft.Storage/storageAccounts/tableServices/tables");

        Assert.NotEmpty(tables);
        // The daily call tables (LlmCallsyyyyMMdd) are the app's to create and drop.
        Assert.DoesNotContain("\"LlmCalls\"", BicepCompilation.ValueText, StringComparison.Ordinal);
        foreach (var table in TableNames.Fixed)
        {
            Assert.Contains($"\"{table}\"", BicepCompilation.ValueText, StringComparison.Ordinal);
        }
    }

    private static JsonObject Site(string planType) =>
        BicepCompilation.Snapshot(planType).Single(r => (string?)r!["type"] == "Microsoft.Web/sites")!.AsObject();

    [Theory]
    [InlineData("FlexConsumption")]
    [InlineData("ElasticPremium")]
    [InlineData("AppService")]
    public void FunctionApp_IsHttpsOnlyWithTls12_AndNoFtpWhereThePlanHasIt(string planType)
    {
        var properties = Site(planType)["properties"]!;

        Assert.True(properties["httpsOnly"]!.GetValue<bool>());
        var siteConfig = properties["siteConfig"]!;
        Assert.Equal("1.2", (string?)siteConfig["minTlsVersion"]);
        Assert.Equal("1.2", (string?)siteConfig["scmMinTlsVersion"]);
        if (planType != "FlexConsumption")
        {
            Assert.Equal("Disabled", (string?)siteConfig["ftpsState"]);
        }
    }

    /// <summary>
    /// Issue 31: the Flex site sends no property Flex refuses (ARM error 51021 for <c>ftpsState</c> and <c>linuxFxVersion</c>,
    /// even null, in newer regions), taken from the evaluated deployment (<c>bicep snapshot</c>), where absent means absent.
    /// </summary>
    [Fact]
    public void TheFlexSite_CarriesNoSiteConfigPropertyOrAppSettingFlexRejects()
    {
        var site = Site("FlexConsumption");
        var siteConfig = site["properties"]!["siteConfig"]!.AsObject();
        string[] rejected = ["ftpsState", "linuxFxVersion", "netFrameworkVersion", "use32BitWorkerProcess", "preWarmedInstanceCount",
            "functionAppScaleLimit", "functionsRuntimeScaleMonitoringEnabled"];
        Assert.Empty(siteConfig.Select(p => p.Key).Intersect(rejected));

        var settings = BicepCompilation.Snapshot("FlexConsumption")
            .Where(r => (string?)r!["type"] == "Microsoft.Web/sites/config" && ((string?)r!["name"])?.EndsWith("/appsettings", StringComparison.Ordinal) == true)
            .SelectMany(r => r!["properties"]!.AsObject().Select(p => p.Key)).ToList();
        Assert.NotEmpty(settings);
        Assert.DoesNotContain(settings, k => k.StartsWith("FUNCTIONS_", StringComparison.Ordinal) || k == "WEBSITE_RUN_FROM_PACKAGE"
            || k.StartsWith("WEBSITE_CONTENT", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("FlexConsumption")]
    [InlineData("ElasticPremium")]
    [InlineData("AppService")]
    public void FunctionApp_RunsDotnetIsolated10OnEveryPlan(string planType)
    {
        var properties = Site(planType)["properties"]!;

        if (planType == "FlexConsumption")
        {
            Assert.Equal("dotnet-isolated", (string?)properties["functionAppConfig"]!["runtime"]!["name"]);
            Assert.Equal("10.0", (string?)properties["functionAppConfig"]!["runtime"]!["version"]);
        }
        else
        {
            Assert.Equal("DOTNET-ISOLATED|10.0", (string?)properties["siteConfig"]!["linuxFxVersion"]);
        }
    }

    [Fact]
    public void PlanType_DefaultsToFlexConsumption_OfThree()
    {
        var planType = BicepCompilation.Template["parameters"]!["planType"]!;
        Assert.Equal("FlexConsumption", (string?)planType["defaultValue"]);
        Assert.Equal(
            ["AppService", "ElasticPremium", "FlexConsumption"],
            planType["allowedValues"]!.AsArray().Select(v => (string)v!).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void FunctionApp_FlexDeploymentStorageUsesTheUserAssignedIdentity()
    {
        var functionAppConfig = BicepCompilation.Text(BicepCompilation.ResourcesOfType("Microsoft.Web/sites").Single()["properties"]!["functionAppConfig"]);

        Assert.Contains("blobContainer", functionAppConfig, StringComparison.Ordinal);
        Assert.Contains("UserAssignedIdentity", functionAppConfig, StringComparison.Ordinal);
        Assert.Contains("scaleAndConcurrency", functionAppConfig, StringComparison.Ordinal);
    }

    [Fact]
    public void HostStorage_UsesTheManagedIdentityAndNoConnectionString()
    {
        Assert.Equal(["managedidentity"], SettingValues("AzureWebJobsStorage__credential"));
        foreach (var key in new[]
        {
            "AzureWebJobsStorage__clientId",
            "AzureWebJobsStorage__blobServiceUri",
            "AzureWebJobsStorage__tableServiceUri",
            "AZURE_CLIENT_ID",
        })
        {
            Assert.NotEmpty(SettingValues(key));
        }

        Assert.Empty(SettingValues("AzureWebJobsStorage__queueServiceUri")); // no trigger uses queues, and no role grants them

        var text = BicepCompilation.ValueText;
        Assert.DoesNotMatch(@"(?<![A-Za-z0-9_])AzureWebJobsStorage(?!__)", text);
        Assert.DoesNotContain("AccountKey=", text, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("listKeys(", text, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("WEBSITE_CONTENTAZUREFILECONNECTIONSTRING", text, StringComparison.Ordinal);
    }

    [Fact]
    public void FunctionApp_ResolvesKeyVaultReferencesWithTheUserAssignedIdentity()
    {
        var site = BicepCompilation.ResourcesOfType("Microsoft.Web/sites").Single();
        var identities = site["identity"]!["userAssignedIdentities"]!.AsObject().Select(p => p.Key).ToList();

        Assert.Equal("UserAssigned", (string?)site["identity"]!["type"]);
        var identityExpression = Assert.Single(identities);
        var referenceIdentity = (string?)site["properties"]!["keyVaultReferenceIdentity"];
        Assert.NotNull(referenceIdentity);

        // Both name the same identity: "[parameters('identityId')]" and "[format('{0}', parameters('identityId'))]".
        var parameter = Regex.Match(referenceIdentity, @"parameters\('([^']+)'\)").Groups[1].Value;
        Assert.NotEmpty(parameter);
        Assert.Contains($"parameters('{parameter}')", identityExpression, StringComparison.Ordinal);
    }

    [Fact]
    public void UpstreamApiKey_IsAKeyVaultReference()
    {
        var values = SettingValues("Upstream__ApiKey");

        var value = Assert.Single(values);
        Assert.Contains("@Microsoft.KeyVault(SecretUri=", value, StringComparison.Ordinal);
        Assert.Contains("upstream-api-key", value, StringComparison.Ordinal);
    }

    [Fact]
    public void UpstreamApiKey_OnlyReachesSecureParametersAndTheKeyVaultSecret()
    {
        var root = BicepCompilation.Template;
        var parameter = root["parameters"]!["upstreamApiKey"]!;
        Assert.Equal("securestring", (string?)parameter["type"]);
        Assert.Null(parameter["defaultValue"]);

        var uses = new List<string>();
        TraceSecureValue(root, "upstreamApiKey", "main", uses);

        // main → keyvault module (secure) → the upstream-api-key secret, and nowhere else.
        Assert.Equal(["main.keyvault → upstreamApiKey", "keyvault: Microsoft.KeyVault/vaults/secrets.properties.value"], uses);
    }

    [Fact]
    public void Outputs_AreTheAzdContractAndCarryNoSecret()
    {
        var outputs = BicepCompilation.Template["outputs"]!.AsObject();

        foreach (var name in new[]
        {
            "AZURE_LOCATION", "AZURE_TENANT_ID", "AZURE_RESOURCE_GROUP", "AZURE_FUNCTION_APP_NAME",
            "SERVICE_API_NAME", "SERVICE_API_URI", "OPENAI_BASE_URL", "METRICS_URL",
            "AZURE_KEY_VAULT_NAME", "AZURE_STORAGE_ACCOUNT_NAME",
        })
        {
            Assert.True(outputs.ContainsKey(name), $"output {name} is missing");
        }

        Assert.EndsWith("/v1', reference('api').outputs.uri.value)]", (string?)outputs["OPENAI_BASE_URL"]!["value"], StringComparison.Ordinal);
        Assert.EndsWith("/metrics', reference('api').outputs.uri.value)]", (string?)outputs["METRICS_URL"]!["value"], StringComparison.Ordinal);

        // No output in any template reads a secure parameter or lists keys.
        foreach (var template in BicepCompilation.AllTemplates(BicepCompilation.Template))
        {
            var secure = SecureParameters(template);
            foreach (var (name, output) in template["outputs"]?.AsObject() ?? [])
            {
                var text = BicepCompilation.Text(output!);
                Assert.False(
                    secure.Any(p => text.Contains($"parameters('{p}')", StringComparison.Ordinal)),
                    $"output {name} reads a secure parameter");
                Assert.DoesNotContain("list", text, StringComparison.OrdinalIgnoreCase);
            }
        }
    }

    [Fact]
    public void SecretLookingParameters_AreSecureEverywhere()
    {
        var secretName = new Regex("apikey|password|secret|token", RegexOptions.IgnoreCase);

        foreach (var template in BicepCompilation.AllTemplates(BicepCompilation.Template))
        {
            foreach (var (name, parameter) in template["parameters"]?.AsObject() ?? [])
            {
                var type = (string?)parameter!["type"] ?? "";
                if (secretName.IsMatch(name) && type is "string" or "object")
                {
                    Assert.Fail($"parameter {name} looks like a secret but is a plain {type}");
                }

                if (type is "securestring" or "secureObject")
                {
                    var defaultValue = parameter["defaultValue"];
                    Assert.True(
                        defaultValue is null || BicepCompilation.Text(defaultValue) is "\"\"" or "{}",
                        $"secure parameter {name} has a non-empty default");
                }
            }
        }
    }

    [Fact]
    public void KeyVault_UsesRbacAndSoftDelete()
    {
        var vault = Assert.Single(BicepCompilation.ResourcesOfType("Microsoft.KeyVault/vaults"));

        Assert.True(vault["properties"]!["enableRbacAuthorization"]!.GetValue<bool>());
        Assert.True(vault["properties"]!["enableSoftDelete"]!.GetValue<bool>());
        Assert.Null(vault["properties"]!["accessPolicies"]);
    }

    [Fact]
    public void ApplicationInsights_AcceptsOnlyEntraIdTelemetry()
    {
        var component = Assert.Single(BicepCompilation.ResourcesOfType("Microsoft.Insights/components"));

        Assert.True(component["properties"]!["DisableLocalAuth"]!.GetValue<bool>());
        var authentication = Assert.Single(SettingValues("APPLICATIONINSIGHTS_AUTHENTICATION_STRING"));
        Assert.Contains("Authorization=AAD", authentication, StringComparison.Ordinal);
    }

    /// <summary>Every role a deployment with a deployer and an Azure OpenAI account assigns, read from its evaluated resources.</summary>
    [Fact]
    public void RoleAssignments_GrantOnlyTheDataRolesEachResourceNeeds()
    {
        var (predicted, _) = Snapshot("""
            param principalId = '11111111-1111-1111-1111-111111111111'
            param azureOpenAiName = 'contoso-aoai'
            """);
        var expectedByScope = new Dictionary<string, string[]>
        {
            // The app: host blobs and its tables; the deployer: readers (no queue role: no trigger uses queues).
            ["Microsoft.Storage/storageAccounts"] = [StorageBlobDataOwner, StorageTableDataContributor, StorageBlobDataReader, StorageTableDataReader],
            ["Microsoft.KeyVault/vaults"] = [KeyVaultSecretsUser],
            ["Microsoft.Insights/components"] = [MonitoringMetricsPublisher],
            ["Microsoft.CognitiveServices/accounts"] = [CognitiveServicesOpenAIUser],
        };

        var used = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var assignment in predicted.Where(r => (string?)r!["type"] == "Microsoft.Authorization/roleAssignments"))
        {
            var roleDefinitionId = (string?)assignment!["properties"]!["roleDefinitionId"] ?? "";
            var role = Guid.Match(roleDefinitionId[(roleDefinitionId.LastIndexOf('/') + 1)..]).Value;
            Assert.False(string.IsNullOrEmpty(role), $"roleDefinitionId names no role GUID: {roleDefinitionId}");
            used.Add(role);

            var scope = (string?)assignment["id"] ?? "";
            var expected = Assert.Single(expectedByScope.Where(e => scope.Contains(e.Key, StringComparison.OrdinalIgnoreCase)).ToList());
            Assert.True(
                expected.Value.Contains(role, StringComparer.OrdinalIgnoreCase),
                $"role {role} is assigned on {expected.Key}, which needs only {string.Join(", ", expected.Value)}");
        }

        Assert.Equal(expectedByScope.Values.SelectMany(v => v).Order(StringComparer.Ordinal), used.Order(StringComparer.Ordinal));
        Assert.DoesNotContain(StorageQueueDataContributor, used);
    }

    /// <summary>The deployer reads records and packages unless asked for more; never Owner.</summary>
    [Theory]
    [InlineData("read", StorageBlobDataReader, StorageTableDataReader)]
    [InlineData("write", StorageBlobDataContributor, StorageTableDataContributor)]
    public void TheDeployer_GetsReadersByDefault_AndContributorsOnlyWhenAsked(string access, string blobRole, string tableRole)
    {
        var (predicted, _) = Snapshot($"""
            param principalId = '11111111-1111-1111-1111-111111111111'
            param principalDataAccess = '{access}'
            """);

        var deployerRoles = predicted.Where(r => (string?)r!["type"] == "Microsoft.Authorization/roleAssignments"
                && (string?)r!["properties"]!["principalId"] == "11111111-1111-1111-1111-111111111111")
            .Select(r => ((string?)r!["properties"]!["roleDefinitionId"] ?? "").Split('/')[^1]).Order(StringComparer.Ordinal);
        Assert.Equal(new[] { blobRole, tableRole }.Order(StringComparer.Ordinal), deployerRoles);
    }

    [Fact]
    public void ParametersFile_NamesOnlyTemplateParametersAndTakesTheKeyFromTheEnvironment()
    {
        var file = JsonNode.Parse(File.ReadAllText(Path.Combine(BicepCompilation.RepoRoot, "infra", "main.parameters.json")))!;
        var templateParameters = BicepCompilation.Template["parameters"]!.AsObject();

        foreach (var (name, _) in file["parameters"]!.AsObject())
        {
            Assert.True(templateParameters.ContainsKey(name), $"main.parameters.json sets {name}, which main.bicep does not declare");
        }

        Assert.Equal("${UPSTREAM_API_KEY}", (string?)file["parameters"]!["upstreamApiKey"]!["value"]);
        Assert.Equal("${AZURE_ENV_NAME}", (string?)file["parameters"]!["environmentName"]!["value"]);
        Assert.Equal("${AZURE_LOCATION}", (string?)file["parameters"]!["location"]!["value"]);
        Assert.Equal("${AZURE_PRINCIPAL_ID}", (string?)file["parameters"]!["principalId"]!["value"]);
    }

    [Fact]
    public void Snapshot_ExpandsArrayAndMapParametersIntoAppSettings()
    {
        // `bicep snapshot` evaluates the template offline with these values. Settings that
        // depend on secure parameters stay unevaluated, so this covers the non-secret lists.
        var (predicted, appSettings) = Snapshot("""
            param budgetsMaxCostPerCallUsd = '0.50'
            param clients = [
              { name: 'alice', keySha256: 'ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef0123456789', requestsPerMinute: 60 }
              { name: 'bob', keySha256: '0000000000000000000000000000000000000000000000000000000000000000' }
            ]
            param pricingOverrides = {
              'my.model': { input: json('1.25'), output: 2, cachedInput: '0.5' }
              'gpt-4o-mini': { input: json('0.2') }
            }
            param budgets = [
              { name: 'daily', scope: 'global', period: 'day', limitUsd: json('12.5'), thresholds: [50, 90], action: 'block' }
              { name: 'alice_month', scope: 'client:alice', period: 'month', limitUsd: 100, action: 'downgrade', downgradeTo: 'cheap' }
            ]
            """);

        foreach (var (key, value) in new[]
        {
            ("Clients__alice__KeySha256", "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789"),
            ("Clients__alice__RequestsPerMinute", "60"),
            ("Clients__bob__KeySha256", "0000000000000000000000000000000000000000000000000000000000000000"),
            ("Pricing__Models__my.model__Input", "1.25"),
            ("Pricing__Models__my.model__Output", "2"),
            ("Pricing__Models__my.model__CachedInput", "0.5"),
            ("Pricing__Models__my.model__Model", "my.model"),
            ("Pricing__Models__gpt_4o_mini__Model", "gpt-4o-mini"),
            ("Pricing__Models__gpt_4o_mini__Input", "0.2"),
            ("Budgets__Items__daily__Scope", "global"),
            ("Budgets__Items__daily__Period", "day"),
            ("Budgets__Items__daily__LimitUsd", "12.5"),
            ("Budgets__Items__daily__Thresholds", "50,90"),
            ("Budgets__Items__daily__Action", "block"),
            ("Budgets__Items__alice_month__LimitUsd", "100"),
            ("Budgets__Items__alice_month__DowngradeTo", "cheap"),
            ("Budgets__MaxCostPerCallUsd", "0.50"),
            ("Upstream__BaseUrl", "https://api.holysheep.ai/v1"),
            ("Upstream__TimeoutSeconds", "60"),
            ("Proxy__MaxRequestBodyBytes", "4194304"),
        })
        {
            AssertSetting(appSettings, key, value);
        }

        Assert.DoesNotContain("Clients__bob__RequestsPerMinute", appSettings, StringComparison.Ordinal);
        Assert.DoesNotContain("Budgets__Items__alice_month__Thresholds", appSettings, StringComparison.Ordinal);
        Assert.DoesNotContain("not-a-real-key", appSettings, StringComparison.Ordinal);

        // No Azure OpenAI account named: no upstream for it, and no role on one.
        Assert.DoesNotContain("Upstreams__", appSettings, StringComparison.Ordinal);
        Assert.DoesNotContain(predicted, r => BicepCompilation.Text(r).Contains(CognitiveServicesOpenAIUser, StringComparison.OrdinalIgnoreCase));
    }

    [Fact]
    public void Snapshot_WithAnAzureOpenAiAccount_ConfiguresItAsAKeylessUpstream_AndGrantsOnlyOpenAIUserOnIt()
    {
        var (predicted, appSettings) = Snapshot("""
            param azureOpenAiName = 'contoso-aoai'
            param azureOpenAiResourceGroup = 'rg-ai'
            param azureOpenAiModels = 'gpt-4o,gpt-4o-mini'
            """);

        AssertSetting(appSettings, "Upstreams__azure__Kind", "azure-openai");
        AssertSetting(appSettings, "Upstreams__azure__BaseUrl", "https://contoso-aoai.openai.azure.com/openai/v1");
        AssertSetting(appSettings, "Upstreams__azure__Models", "gpt-4o,gpt-4o-mini");
        Assert.DoesNotContain("Upstreams__azure__ApiKey", appSettings, StringComparison.Ordinal);
        var grant = Assert.Single(predicted, r => (string?)r!["type"] == "Microsoft.Authorization/roleAssignments"
            && BicepCompilation.Text(r).Contains(CognitiveServicesOpenAIUser, StringComparison.OrdinalIgnoreCase))!;
        var id = (string?)grant["id"] ?? "";
        Assert.Contains("/resourceGroups/rg-ai/providers/Microsoft.CognitiveServices/accounts/contoso-aoai'", id, StringComparison.OrdinalIgnoreCase);
        Assert.Equal("ServicePrincipal", (string?)grant["properties"]!["principalType"]);
    }

    private const string CognitiveServicesUser = "a97b65f3-24c7-4388-baec-2e87135dc908";

    [Fact]
    public void Snapshot_WithAFoundryClaudeAccount_ConfiguresItAsAKeylessAnthropicUpstream_AndGrantsOnlyCognitiveServicesUserOnIt()
    {
        var (predicted, appSettings) = Snapshot("""
            param azureClaudeName = 'contoso-foundry'
            param azureClaudeResourceGroup = 'rg-claude'
            param azureClaudeModels = 'claude-sonnet-4-5,claude-haiku-4-5'
            """);

        AssertSetting(appSettings, "Upstreams__claude__Kind", "azure-anthropic");
        AssertSetting(appSettings, "Upstreams__claude__BaseUrl", "https://contoso-foundry.services.ai.azure.com/anthropic");
        AssertSetting(appSettings, "Upstreams__claude__Models", "claude-sonnet-4-5,claude-haiku-4-5");
        Assert.DoesNotContain("Upstreams__claude__ApiKey", appSettings, StringComparison.Ordinal);
        var grant = Assert.Single(predicted, r => (string?)r!["type"] == "Microsoft.Authorization/roleAssignments"
            && BicepCompilation.Text(r).Contains(CognitiveServicesUser, StringComparison.OrdinalIgnoreCase))!;
        var id = (string?)grant["id"] ?? "";
        Assert.Contains("/resourceGroups/rg-claude/providers/Microsoft.CognitiveServices/accounts/contoso-foundry'", id,
            StringComparison.OrdinalIgnoreCase);
        Assert.Equal("ServicePrincipal", (string?)grant["properties"]!["principalType"]);
        Assert.DoesNotContain(predicted, r => BicepCompilation.Text(r).Contains(CognitiveServicesOpenAIUser, StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>
    /// Runs <c>bicep snapshot</c> on main.bicep with the required parameters plus <paramref name="parameters"/>
    /// (bicepparam lines): the resources it predicts, and the app settings' text.
    /// </summary>
    private static (JsonArray Predicted, string AppSettings) Snapshot(string parameters)
    {
        var directory = Directory.CreateTempSubdirectory("llm-bicep-snapshot-");
        try
        {
            var mainBicep = Path.GetRelativePath(directory.FullName, Path.Combine(BicepCompilation.RepoRoot, "infra", "main.bicep"))
                .Replace('\\', '/');
            File.WriteAllText(Path.Combine(directory.FullName, "sample.bicepparam"), $"""
                using '{mainBicep}'

                param environmentName = 'test'
                param location = 'eastus2'
                param upstreamApiKey = 'not-a-real-key'

                """ + parameters);

            var snapshot = BicepCompilation.RunIn(
                directory.FullName,
                "snapshot", "sample.bicepparam", "--mode", "overwrite",
                "--subscription-id", "00000000-0000-0000-0000-000000000001",
                "--tenant-id", "00000000-0000-0000-0000-000000000002",
                "--location", "eastus2",
                "--deployment-name", "main");
            Assert.True(snapshot.ExitCode == 0, $"bicep snapshot exited {snapshot.ExitCode}:{Environment.NewLine}{snapshot.AllOutput}");
            var predicted = JsonNode.Parse(File.ReadAllText(Path.Combine(directory.FullName, "sample.snapshot.json")))!["predictedResources"]!.AsArray();
            var appSettings = BicepCompilation.Text(predicted.Single(r => (string?)r!["type"] == "Microsoft.Web/sites/config")!["properties"]);
            return (predicted, appSettings);
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    /// <summary>The app settings set <paramref name="key"/> to <paramref name="value"/>: a JSON property or a createObject pair.</summary>
    private static void AssertSetting(string appSettings, string key, string value) =>
        Assert.Matches($@"(""{Regex.Escape(key)}"":""{Regex.Escape(value)}"")|('{Regex.Escape(key)}', '{Regex.Escape(value)}')", appSettings);

    /// <summary>
    /// Values of an app setting wherever the template sets it: a JSON property named
    /// <paramref name="key"/>, or the value that follows it in a <c>createObject('key', value)</c>.
    /// </summary>
    private static List<string> SettingValues(string key)
    {
        var values = new List<string>();
        Collect(BicepCompilation.Template);
        foreach (Match match in Regex.Matches(BicepCompilation.ValueText, $@"createObject\('{Regex.Escape(key)}',\s*(?<value>[^)]*\)?)"))
        {
            values.Add(match.Groups["value"].Value);
        }

        return values;

        void Collect(JsonNode? node)
        {
            switch (node)
            {
                case JsonObject obj:
                    foreach (var (name, value) in obj)
                    {
                        if (name == "metadata")
                        {
                            continue;
                        }

                        if (name == key && value is JsonValue scalar && scalar.GetValueKind() == JsonValueKind.String)
                        {
                            values.Add(scalar.GetValue<string>());
                        }

                        Collect(value);
                    }

                    break;
                case JsonArray array:
                    foreach (var item in array)
                    {
                        Collect(item);
                    }

                    break;
            }
        }
    }

    private static string TargetScope(JsonObject template) =>
        ((string?)template["$schema"] ?? "").Contains("subscriptionDeploymentTemplate", StringComparison.Ordinal) ? "subscription" : "other";

    private static HashSet<string> SecureParameters(JsonObject template) =>
        (template["parameters"]?.AsObject() ?? [])
            .Where(p => (string?)p.Value!["type"] is "securestring" or "secureObject")
            .Select(p => p.Key)
            .ToHashSet(StringComparer.Ordinal);

    /// <summary>
    /// Follows a secure parameter through the template: every expression that reads it must
    /// either pass it unchanged to a module's secure parameter (followed in turn) or be the
    /// value of a Key Vault secret. Records each use; anything else fails.
    /// </summary>
    private static void TraceSecureValue(JsonObject template, string parameter, string templateName, List<string> uses)
    {
        var reference = $"parameters('{parameter}')";
        foreach (var resource in BicepCompilation.Resources(template))
        {
            var type = (string?)resource["type"] ?? "";
            if (type == "Microsoft.Resources/deployments")
            {
                var moduleName = (string?)resource["name"] ?? "";
                var nested = resource["properties"]!["template"]!.AsObject();
                foreach (var (name, value) in resource["properties"]!["parameters"]?.AsObject() ?? [])
                {
                    var text = BicepCompilation.Text(value!);
                    if (!text.Contains(reference, StringComparison.Ordinal))
                    {
                        continue;
                    }

                    Assert.Equal($"[{reference}]", (string?)value!["value"]);
                    Assert.Equal("securestring", (string?)nested["parameters"]![name]!["type"]);
                    uses.Add($"{templateName}.{moduleName} → {name}");
                    TraceSecureValue(nested, name, moduleName, uses);
                }

                // The rest of a module resource (its name, scope) must not read the value.
                var withoutBody = resource.DeepClone().AsObject();
                withoutBody["properties"]!.AsObject().Remove("parameters");
                withoutBody["properties"]!.AsObject().Remove("template");
                Assert.DoesNotContain(reference, BicepCompilation.Text(withoutBody), StringComparison.Ordinal);
                continue;
            }

            var resourceText = BicepCompilation.Text(resource);
            if (!resourceText.Contains(reference, StringComparison.Ordinal))
            {
                continue;
            }

            Assert.Equal("Microsoft.KeyVault/vaults/secrets", type);
            Assert.Equal($"[{reference}]", (string?)resource["properties"]!["value"]);
            uses.Add($"{templateName}: {type}.properties.value");
        }

        foreach (var section in new[] { "variables", "outputs" })
        {
            Assert.DoesNotContain(reference, BicepCompilation.Text(template[section]), StringComparison.Ordinal);
        }
    }
}
