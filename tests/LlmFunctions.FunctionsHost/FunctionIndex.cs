using System.Text.Json.Nodes;
using LlmFunctions.FunctionsHost.Rpc;
using NCrontab;

namespace LlmFunctions.FunctionsHost;

/// <summary>The functions the worker reported, indexed the way the host indexes them: triggers read from the raw
/// bindings, <c>%Name%</c> resolved, schedules parsed, routes prefixed. A function the host would not index stops
/// the start with a <see cref="FunctionIndexingException"/>.</summary>
internal sealed class FunctionIndex
{
    private FunctionIndex(IReadOnlyList<FunctionDescriptor> functions)
    {
        Functions = functions;
        // Tried in function-name order, as the host does (not by route precedence: Azure/azure-functions-host#9876).
        Http = functions.OfType<HttpFunction>().OrderBy(f => f.Name, StringComparer.OrdinalIgnoreCase).ToList();
        Timers = functions.OfType<TimerFunction>().ToList();
    }

    public IReadOnlyList<FunctionDescriptor> Functions { get; }

    public IReadOnlyList<HttpFunction> Http { get; }

    public IReadOnlyList<TimerFunction> Timers { get; }

    public FunctionDescriptor? Find(string name) =>
        Functions.FirstOrDefault(f => string.Equals(f.Name, name, StringComparison.OrdinalIgnoreCase));

    public static FunctionIndex Build(IEnumerable<RpcFunctionMetadata> metadata, string routePrefix, AppSettingsResolver settings) =>
        new(metadata.Select(m => Describe(m, routePrefix, settings)).ToList());

    private static FunctionDescriptor Describe(RpcFunctionMetadata function, string routePrefix, AppSettingsResolver settings)
    {
        var triggers = function.RawBindings
            .Select(raw => JsonNode.Parse(raw)!.AsObject())
            .Where(b => ((string?)b["type"])?.EndsWith("Trigger", StringComparison.OrdinalIgnoreCase) == true)
            .ToList();
        if (triggers.Count != 1)
        {
            throw new FunctionIndexingException(
                $"Error indexing method 'Functions.{function.Name}'. A function has exactly one trigger; found {triggers.Count}.");
        }

        var trigger = triggers[0];
        var type = (string)trigger["type"]!;
        var binding = (string?)trigger["name"]
            ?? throw new FunctionIndexingException($"Error indexing method 'Functions.{function.Name}'. The trigger has no name.");
        return type.ToUpperInvariant() switch
        {
            "HTTPTRIGGER" => new HttpFunction(function.FunctionId, function.Name, binding,
                JoinRoute(routePrefix, settings.Resolve(function.Name, (string?)trigger["route"] ?? function.Name)),
                trigger["methods"] is JsonArray methods
                    ? methods.Select(m => ((string)m!).ToUpperInvariant()).ToHashSet(StringComparer.Ordinal)
                    : null),
            "TIMERTRIGGER" => new TimerFunction(function.FunctionId, function.Name, binding,
                ParseSchedule(function.Name, settings.Resolve(function.Name, (string?)trigger["schedule"] ?? "")),
                (bool?)trigger["runOnStartup"] ?? false),
            _ => throw new FunctionIndexingException(
                $"Error indexing method 'Functions.{function.Name}'. The emulator does not run '{type}' triggers."),
        };
    }

    private static string JoinRoute(string prefix, string route) =>
        string.Join('/', new[] { prefix.Trim('/'), route.Trim('/') }.Where(p => p.Length > 0));

    /// <summary>The host's timer takes six-field NCRONTAB (seconds first); five fields or text are refused.</summary>
    private static CrontabSchedule ParseSchedule(string functionName, string expression) =>
        CrontabSchedule.TryParse(expression, new CrontabSchedule.ParseOptions { IncludingSeconds = true })
        ?? throw new FunctionIndexingException(
            $"Error indexing method 'Functions.{functionName}'. The schedule expression '{expression}' was not recognized "
            + "as a valid cron expression or timespan string.");
}
