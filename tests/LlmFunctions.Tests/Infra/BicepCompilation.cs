using System.Diagnostics;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace LlmFunctions.Tests.Infra;

/// <summary>
/// Runs the pinned Bicep CLI on <c>infra/main.bicep</c> once per test run and walks the
/// compiled ARM JSON. Bicep nests each module as a <c>Microsoft.Resources/deployments</c>
/// resource whose <c>properties.template</c> is a whole template, and a template's
/// <c>resources</c> is an array (language version 1) or an object keyed by symbolic name
/// (language version 2.0, used as soon as a file declares types); both are handled.
/// </summary>
internal static class BicepCompilation
{
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromMinutes(3);

    // ARM expressions are full of quotes; the default encoder would write ' as \u0027.
    private static readonly JsonSerializerOptions Unescaped = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private static readonly Lazy<string> LazyRepoRoot = new(FindRepoRoot);
    private static readonly Lazy<string> LazyBicepPath = new(FindBicep);
    private static readonly Lazy<CommandResult> LazyBuild = new(() => Run("build", "infra/main.bicep", "--stdout"));
    private static readonly Lazy<CommandResult> LazyLint = new(() => Run("lint", "infra/main.bicep"));
    private static readonly Lazy<JsonObject> LazyTemplate = new(ParseBuild);
    private static readonly Lazy<string> LazyValueText = new(() => Text(WithoutMetadata(Template)));

    public static string RepoRoot => LazyRepoRoot.Value;

    public static CommandResult Build => LazyBuild.Value;

    public static CommandResult Lint => LazyLint.Value;

    /// <summary>The compiled ARM template of <c>infra/main.bicep</c>.</summary>
    public static JsonObject Template => LazyTemplate.Value;

    /// <summary>
    /// The compiled template as text with every <c>metadata</c> node (descriptions) removed,
    /// so a key mentioned only in a description does not count as set.
    /// </summary>
    public static string ValueText => LazyValueText.Value;

    /// <summary>JSON text of a node with quotes left as they are, so expressions read as written.</summary>
    public static string Text(JsonNode? node) => node?.ToJsonString(Unescaped) ?? "";

    /// <summary>The root template and every nested module template, depth first.</summary>
    public static IEnumerable<JsonObject> AllTemplates(JsonObject root)
    {
        yield return root;
        foreach (var resource in Resources(root))
        {
            if (resource["properties"] is JsonObject properties && properties["template"] is JsonObject nested)
            {
                foreach (var template in AllTemplates(nested))
                {
                    yield return template;
                }
            }
        }
    }

    /// <summary>The resources a template declares itself (not <c>existing</c> references).</summary>
    public static IEnumerable<JsonObject> Resources(JsonObject template) =>
        (template["resources"] switch
        {
            JsonArray array => array.OfType<JsonObject>(),
            JsonObject byName => byName.Select(p => p.Value).OfType<JsonObject>(),
            _ => [],
        }).Where(r => r["existing"]?.GetValue<bool>() != true);

    /// <summary>Every declared resource of <paramref name="type"/> in the template and its modules.</summary>
    public static IReadOnlyList<JsonObject> ResourcesOfType(string type) =>
        AllTemplates(Template)
            .SelectMany(Resources)
            .Where(r => string.Equals((string?)r["type"], type, StringComparison.OrdinalIgnoreCase))
            .ToList();

    /// <summary>Runs the Bicep CLI in the repository root.</summary>
    public static CommandResult Run(params string[] arguments) => RunIn(RepoRoot, arguments);

    private static readonly Dictionary<string, Lazy<JsonArray>> Snapshots = new[] { "FlexConsumption", "ElasticPremium", "AppService" }
        .ToDictionary(plan => plan, plan => new Lazy<JsonArray>(() => TakeSnapshot(plan)));

    /// <summary>
    /// The resources a deployment of <c>infra/main.bicep</c> with <paramref name="planType"/> would create, every
    /// expression and condition evaluated offline (<c>bicep snapshot</c>): what ARM would receive, absent keys absent.
    /// </summary>
    public static JsonArray Snapshot(string planType) => Snapshots[planType].Value;

    private static JsonArray TakeSnapshot(string planType)
    {
        var (resources, error) = TrySnapshot(planType, "eastus", []);
        return resources ?? throw new InvalidOperationException(error);
    }

    /// <summary>
    /// A snapshot with more parameters (<c>name = bicep value</c> lines) in <paramref name="location"/>: the resources,
    /// or the CLI's error when the template refuses them (a <c>fail()</c> fires).
    /// </summary>
    public static (JsonArray? Resources, string Error) TrySnapshot(string planType, string location, IEnumerable<string> parameters)
    {
        var directory = Directory.CreateTempSubdirectory("llmf-snapshot-").FullName;
        try
        {
            // A .bicepparam names its template by a relative path.
            var template = Path.GetRelativePath(directory, Path.Combine(RepoRoot, "infra", "main.bicep")).Replace('\\', '/');
            File.WriteAllText(Path.Combine(directory, "plan.bicepparam"), $"""
                using '{template}'
                param environmentName = 'snap'
                param location = '{location}'
                param upstreamApiKey = 'not-a-secret'
                param planType = '{planType}'
                {string.Join(Environment.NewLine, parameters.Select(p => "param " + p))}
                """);
            var result = RunIn(directory, "snapshot", "plan.bicepparam", "--subscription-id", "00000000-0000-0000-0000-000000000001",
                "--location", "eastus");
            var file = Path.Combine(directory, "plan.snapshot.json");
            return File.Exists(file)
                ? (JsonNode.Parse(File.ReadAllText(file))!["predictedResources"]!.AsArray(), "")
                : (null, $"bicep snapshot ({planType}, {location}) wrote nothing: {result.StandardError}{result.StandardOutput}");
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    public static CommandResult RunIn(string workingDirectory, params string[] arguments)
    {
        var startInfo = new ProcessStartInfo(LazyBicepPath.Value)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            startInfo.ArgumentList.Add(argument);
        }

        startInfo.Environment["BICEP_TRACING_ENABLED"] = "false";

        using var process = Process.Start(startInfo)
            ?? throw new InvalidOperationException($"Could not start {startInfo.FileName}.");

        // Read both streams concurrently so a full pipe cannot block the CLI.
        var standardOutput = process.StandardOutput.ReadToEndAsync();
        var standardError = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(CommandTimeout))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"bicep {string.Join(' ', arguments)} did not finish within {CommandTimeout}.");
        }

        return new CommandResult(process.ExitCode, standardOutput.GetAwaiter().GetResult(), standardError.GetAwaiter().GetResult());
    }

    private static string FindRepoRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "LlmFunctions.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException($"No LlmFunctions.sln above {AppContext.BaseDirectory}.");
    }

    private static string FindBicep()
    {
        var fromEnvironment = Environment.GetEnvironmentVariable("BICEP_PATH");
        var path = string.IsNullOrEmpty(fromEnvironment)
            ? Path.Combine(RepoRoot, ".tools", "bicep", "bicep")
            : fromEnvironment;

        // Not a skip: the infrastructure tests are part of the suite, and a missing tool
        // must not turn them silently green.
        return File.Exists(path)
            ? path
            : throw new InvalidOperationException(
                $"Bicep CLI not found at {path}. Run .ci/install-bicep.sh (or set BICEP_PATH to a bicep binary).");
    }

    private static JsonObject ParseBuild()
    {
        var build = Build;
        if (build.ExitCode != 0)
        {
            throw new InvalidOperationException($"bicep build failed ({build.ExitCode}):{Environment.NewLine}{build.StandardError}");
        }

        return JsonNode.Parse(build.StandardOutput)?.AsObject()
            ?? throw new InvalidOperationException("bicep build printed no template.");
    }

    private static JsonNode WithoutMetadata(JsonNode node)
    {
        var copy = node.DeepClone();
        Strip(copy);
        return copy;

        static void Strip(JsonNode? current)
        {
            switch (current)
            {
                case JsonObject obj:
                    obj.Remove("metadata");
                    foreach (var property in obj)
                    {
                        Strip(property.Value);
                    }

                    break;
                case JsonArray array:
                    foreach (var item in array)
                    {
                        Strip(item);
                    }

                    break;
            }
        }
    }

    internal sealed record CommandResult(int ExitCode, string StandardOutput, string StandardError)
    {
        public string AllOutput => StandardOutput + StandardError;
    }
}
