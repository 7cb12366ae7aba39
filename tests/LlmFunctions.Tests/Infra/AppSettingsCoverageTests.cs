using System.Reflection;
using System.Text.RegularExpressions;
using LlmFunctions.Core;
using Xunit;

namespace LlmFunctions.Tests.Infra;

/// <summary>
/// The app settings in <c>infra/</c> are the configuration contract with the options classes
/// in LlmFunctions.Core: every key the app binds must be set by the template (or be in
/// <see cref="NotSetInAzure"/> with the reason), and the template sets no key in those
/// sections that the app does not bind (a typo would be silently ignored in Azure).
/// </summary>
/// <remarks>
/// An options class is a type with <c>public const string SectionName</c>. Its public
/// settable properties are keys <c>Section__Property</c>. A dictionary property is a map:
/// <c>Section__Property__&lt;name&gt;__Item</c> for each settable property of the item type.
/// A class with <c>public const bool IsMapRoot = true</c> is itself one map item:
/// <c>Section__&lt;name&gt;__Property</c>. In a pattern, <c>*</c> stands for the name.
/// </remarks>
public sealed class AppSettingsCoverageTests
{
    private const string MoreUpstreams =
        "The template sets only the keyless Azure OpenAI upstream (azure, on the v1 path, when azureOpenAiName is given); other "
        + "upstreams are optional, and an operator adds them as app settings (the key as a Key Vault reference).";

    /// <summary>Keys the app binds that the Azure deployment deliberately leaves unset.</summary>
    private static readonly Dictionary<string, string> NotSetInAzure = new(StringComparer.OrdinalIgnoreCase)
    {
        ["Storage__ConnectionString"] = "Azure uses Storage__TableServiceUri with the managed identity; the connection string is for Azurite.",
        ["Storage__SpoolDirectory"] = "For long-lived hosts; on Functions instances the default temp folder is the right place.",
        ["Storage__QueuedCommitDelayMs"] = "Only applies with Storage__AwaitRecordWrite=false, which Functions never uses (the template pins it to true).",
        ["Storage__CommitIntervalMs"] = "Off by default (no timer on the awaited path); an operator trades transactions against invocation time in the app settings.",
        ["Storage__MaxCommitsInFlight"] = "The default (4) is the one measured with storage near and 12 ms away; an operator changes it in the app settings.",
        ["Storage__LocalJournal"] = "Only for hosts whose local disk outlives the process; a Functions instance's does not, so it keeps the default (off).",
        ["Storage__MaxQueuedRecords"] = "Only applies with Storage__AwaitRecordWrite=false, which Functions never uses (the template pins it to true).",
        ["Upstream__DeadlineSeconds"] = "Off by default (each attempt has Upstream__TimeoutSeconds); an operator sets it in the app settings.",
        ["Upstream__FallbackModels"] = "None by default: which model may stand in for which is the operator's choice, made in the app settings.",
        ["Keys__RefreshSeconds"] = "The default (1 s) meets the 5-second promise with a margin; an operator changes it in the app settings.",
        ["Keys__MaxKeys"] = "A guard against runaway scripts (default 100,000); an operator changes it in the app settings.",
        ["Upstreams__*__ApiKey"] = MoreUpstreams,
        ["Upstreams__*__Weight"] = MoreUpstreams,
        ["Upstreams__*__ApiVersion"] = MoreUpstreams,
        ["Upstreams__*__Deployments"] = MoreUpstreams,
        ["Clients__*__Key"] = "Plain client keys are never configured in Azure, only Clients__<name>__KeySha256.",
        ["Pricing__RefuseUnpriced"] = "Off by default (unpriced calls are forwarded, recorded and counted); an operator turns it on in the app settings.",
        ["Proxy__UnmeteredSharedPaths"] = "Empty by default: opening unmetered paths on the account every client shares is the operator's explicit choice.",
        ["Proxy__ForwardedRequestHeaders"] = "Empty by default: the built-in allowlist serves OpenAI-compatible providers; an operator adds a name in the app settings.",
        ["Budgets__DefaultMaxOutputTokens"] = "The default (16,384) covers the models' usual output limits; an operator lowers it in the app settings.",
    };

    private static readonly Assembly Core = typeof(ServiceCollectionExtensions).Assembly;

    [Fact]
    public void OptionsDiscovery_FindsEverySection()
    {
        var sections = ConfigurationKeys().Select(k => k.Section).ToHashSet(StringComparer.OrdinalIgnoreCase);

        // Guards the reflection below: finding nothing would make the coverage test pass vacuously.
        foreach (var section in new[] { "Upstream", "Storage", "Proxy", "Clients", "Pricing", "Metrics", "Budgets", "Webhooks" })
        {
            Assert.Contains(section, sections);
        }
    }

    [Fact]
    public void EveryBoundKey_IsSetByTheTemplate()
    {
        var text = BicepCompilation.ValueText;

        var missing = ConfigurationKeys()
            .Where(k => !NotSetInAzure.ContainsKey(k.Pattern) && !k.IsSetIn(text))
            .Select(k => k.Pattern)
            .ToList();

        Assert.True(
            missing.Count == 0,
            $"The app binds these keys but infra/ does not set them (add them to infra/app/api.bicep, "
            + $"or to NotSetInAzure with a reason): {string.Join(", ", missing)}");
    }

    [Fact]
    public void NotSetInAzure_NamesOnlyKeysTheAppBindsAndTheTemplateLeavesUnset()
    {
        var keys = ConfigurationKeys().ToDictionary(k => k.Pattern, StringComparer.OrdinalIgnoreCase);

        foreach (var pattern in NotSetInAzure.Keys)
        {
            Assert.True(keys.TryGetValue(pattern, out var key), $"NotSetInAzure lists {pattern}, which the app no longer binds");
            Assert.False(key.IsSetIn(BicepCompilation.ValueText), $"NotSetInAzure lists {pattern}, but the template sets it");
        }
    }

    [Fact]
    public void Template_SetsNoKeyTheAppDoesNotBind()
    {
        var keys = ConfigurationKeys();
        var sections = string.Join('|', keys.Select(k => Regex.Escape(k.Section)).Distinct());

        // Every Section__... token in the template, e.g. Upstream__BaseUrl or the format
        // string Budgets__Items__{0}__LimitUsd that a Bicep lambda compiles to.
        var unknown = Regex.Matches(BicepCompilation.ValueText, $@"(?<![A-Za-z0-9_])(?:{sections})__[A-Za-z0-9_.{{}}]+", RegexOptions.IgnoreCase)
            .Select(m => m.Value)
            .Distinct(StringComparer.Ordinal)
            .Where(token => !keys.Any(k => k.Matches(token)))
            .ToList();

        Assert.True(unknown.Count == 0, $"infra/ sets keys no options class binds: {string.Join(", ", unknown)}");
    }

    private static List<ConfigurationKey> ConfigurationKeys()
    {
        var keys = new List<ConfigurationKey>();
        foreach (var type in Core.GetTypes())
        {
            if (ConstantValue(type, "SectionName") is not string section)
            {
                continue;
            }

            if (ConstantValue(type, "IsMapRoot") is true)
            {
                keys.AddRange(SettableProperties(type).Select(p => new ConfigurationKey(section, $"{section}__*__{p.Name}")));
                continue;
            }

            foreach (var property in SettableProperties(type))
            {
                AddKeys(keys, section, $"{section}__{property.Name}", property.PropertyType);
            }
        }

        return keys;
    }

    private static void AddKeys(List<ConfigurationKey> keys, string section, string path, Type type)
    {
        if (DictionaryValueType(type) is { } itemType)
        {
            if (IsLeaf(itemType))
            {
                keys.Add(new ConfigurationKey(section, $"{path}__*"));
                return;
            }

            foreach (var item in SettableProperties(itemType))
            {
                AddKeys(keys, section, $"{path}__*__{item.Name}", item.PropertyType);
            }

            return;
        }

        if (IsLeaf(type) || IsCollection(type))
        {
            keys.Add(new ConfigurationKey(section, path));
            return;
        }

        // A nested options object: Section__Property__Child.
        foreach (var child in SettableProperties(type))
        {
            AddKeys(keys, section, $"{path}__{child.Name}", child.PropertyType);
        }
    }

    private static object? ConstantValue(Type type, string name) =>
        type.GetField(name, BindingFlags.Public | BindingFlags.Static) is { IsLiteral: true } field ? field.GetRawConstantValue() : null;

    private static IEnumerable<PropertyInfo> SettableProperties(Type type) =>
        type.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.SetMethod?.IsPublic == true && p.GetIndexParameters().Length == 0);

    private static Type? DictionaryValueType(Type type) =>
        new[] { type }.Concat(type.GetInterfaces())
            .Where(t => t.IsGenericType)
            .Where(t => t.GetGenericTypeDefinition() is var d
                && (d == typeof(IDictionary<,>) || d == typeof(IReadOnlyDictionary<,>) || d == typeof(Dictionary<,>)))
            .Select(t => t.GetGenericArguments())
            .Where(a => a[0] == typeof(string))
            .Select(a => a[1])
            .FirstOrDefault();

    private static bool IsLeaf(Type type)
    {
        var underlying = Nullable.GetUnderlyingType(type) ?? type;
        return underlying.IsPrimitive || underlying.IsEnum || underlying == typeof(string) || underlying == typeof(decimal)
            || underlying == typeof(TimeSpan) || underlying == typeof(Uri) || underlying == typeof(DateTimeOffset) || underlying == typeof(Guid);
    }

    private static bool IsCollection(Type type) => type != typeof(string) && typeof(System.Collections.IEnumerable).IsAssignableFrom(type);

    /// <summary>
    /// One bound key; <c>*</c> in <see cref="Pattern"/> stands for a map entry name. Matching
    /// is case-insensitive like .NET configuration, and whole-token: <c>Storage__TableServiceUri</c>
    /// does not match inside <c>AzureWebJobsStorage__tableServiceUri</c>.
    /// </summary>
    private sealed class ConfigurationKey(string section, string pattern)
    {
        private const string NameChars = @"[^'""\s]+?";
        private const string Before = "(?<![A-Za-z0-9_])";
        private const string After = "(?![A-Za-z0-9_])";

        private readonly Regex inText = new(
            Before + string.Join(NameChars, pattern.Split('*').Select(Regex.Escape)) + After,
            RegexOptions.IgnoreCase | RegexOptions.CultureInvariant);

        private readonly Regex wholeToken = new(
            "^" + string.Join(NameChars, pattern.Split('*').Select(Regex.Escape)) + "$",
            RegexOptions.IgnoreCase | RegexOptions.CultureInvariant);

        public string Section { get; } = section;

        public string Pattern { get; } = pattern;

        public bool Matches(string token) => wholeToken.IsMatch(token);

        public bool IsSetIn(string text)
        {
            if (inText.IsMatch(text))
            {
                return true;
            }

            // A name built by concatenation rather than a format string: the prefix and the
            // suffix both appear as string literals, e.g. 'Budgets__Items__' and '__LimitUsd'.
            var parts = Pattern.Split('*');
            return parts.Length == 2
                && text.Contains($"'{parts[0]}'", StringComparison.OrdinalIgnoreCase)
                && text.Contains($"'{parts[1]}'", StringComparison.OrdinalIgnoreCase);
        }

        public override string ToString() => Pattern;
    }
}
