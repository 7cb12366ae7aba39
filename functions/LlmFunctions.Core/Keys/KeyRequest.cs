using System.Globalization;
using System.Text.Json;
using LlmFunctions.Core.Aggregation;

namespace LlmFunctions.Core.Keys;

/// <summary>A field of a change: absent (left as it is), or set to a value (null clears it).</summary>
internal readonly record struct Field<T>(bool IsSet, T? Value)
{
    public static Field<T> To(T? value) => new(true, value);
}

/// <summary>
/// The body of <c>POST /keys</c> or <c>PATCH /keys/{id}</c>, read strictly: an unknown or repeated field, a wrong type, a
/// negative or zero limit, an expiry that is not in the future, metadata beyond 16 short string pairs, anything nested
/// deeper than a budget: each is a 400 that names the field. What a key holder cannot send, an admin cannot store.
/// </summary>
internal sealed class KeyRequest
{
    /// <summary>The most a body may be: a key's settings are small, and metadata is bounded (below) well inside it.</summary>
    public const int MaxBodyBytes = 64 * 1024;

    public const int MaxMetadataPairs = 16;
    public const int MaxMetadataKeyLength = 64;
    public const int MaxMetadataValueLength = 512;
    public const int MaxModels = 100;
    public const int MaxModelLength = 100;
    public const int MaxNameLength = 100;

    private static readonly JsonDocumentOptions Json = new() { MaxDepth = 4 };

    public Field<string> Name { get; private set; }
    public Field<string[]> Models { get; private set; }
    public Field<KeyBudget> Budget { get; private set; }
    public Field<int?> Rpm { get; private set; }
    public Field<long?> Tpm { get; private set; }
    public Field<DateTimeOffset?> ExpiresAt { get; private set; }
    public Field<Dictionary<string, string>> Metadata { get; private set; }
    public Field<int?> GraceSeconds { get; private set; }
    public Field<bool?> Force { get; private set; }

    /// <summary>Reads a body of <paramref name="allowed"/> fields; the request, or the message of a 400.</summary>
    public static (KeyRequest? Request, string? Error) Parse(ReadOnlyMemory<byte> body, IReadOnlyCollection<string> allowed, DateTimeOffset now)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(body, Json);
        }
        catch (JsonException)
        {
            return (null, "The body is not JSON, or is nested deeper than a key's settings are.");
        }

        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                return (null, "The body must be a JSON object.");
            }

            var request = new KeyRequest();
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var property in document.RootElement.EnumerateObject())
            {
                if (!allowed.Contains(property.Name))
                {
                    return (null, $"Unknown field '{Shown(property.Name)}'. This request takes: {string.Join(", ", allowed)}.");
                }

                if (!seen.Add(property.Name))
                {
                    return (null, $"The field '{property.Name}' appears twice.");
                }

                if (request.Read(property, now) is { } error)
                {
                    return (null, error);
                }
            }

            return (request, null);
        }
    }

    private string? Read(JsonProperty property, DateTimeOffset now)
    {
        var value = property.Value;
        var isNull = value.ValueKind == JsonValueKind.Null;
        switch (property.Name)
        {
            case "name":
                return ReadName(value);
            case "models":
                return isNull ? Set(() => Models = Field<string[]>.To([])) : ReadModels(value);
            case "budget":
                return isNull ? Set(() => Budget = Field<KeyBudget>.To(null)) : ReadBudget(value);
            case "rpm":
                return isNull ? Set(() => Rpm = Field<int?>.To(null))
                    : value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out var rpm) && rpm is >= 1 and <= 10_000_000
                        ? Set(() => Rpm = Field<int?>.To(rpm))
                        : "'rpm' must be a whole number of requests per minute from 1 to 10,000,000 (null: no limit).";
            case "tpm":
                return isNull ? Set(() => Tpm = Field<long?>.To(null))
                    : value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out var tpm) && tpm is >= 1 and <= 100_000_000_000
                        ? Set(() => Tpm = Field<long?>.To(tpm))
                        : "'tpm' must be a whole number of tokens per minute from 1 to 100,000,000,000 (null: no limit).";
            case "expires_at":
                return isNull ? Set(() => ExpiresAt = Field<DateTimeOffset?>.To(null)) : ReadExpiry(value, now);
            case "metadata":
                return isNull ? Set(() => Metadata = Field<Dictionary<string, string>>.To([])) : ReadMetadata(value);
            case "grace_seconds":
                return value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out var grace) && grace is >= 0 and <= 7 * 86_400
                    ? Set(() => GraceSeconds = Field<int?>.To(grace))
                    : "'grace_seconds' must be a whole number of seconds from 0 to 604,800 (7 days).";
            case "force":
                return value.ValueKind is JsonValueKind.True or JsonValueKind.False
                    ? Set(() => Force = Field<bool?>.To(value.GetBoolean()))
                    : "'force' must be true or false.";
            default:
                return $"Unknown field '{Shown(property.Name)}'.";
        }
    }

    private string? ReadName(JsonElement value)
    {
        if (value.ValueKind != JsonValueKind.String || value.GetString() is not { Length: > 0 and <= MaxNameLength } name
            || !string.Equals(AggregateState.Label(name), name, StringComparison.Ordinal) || name == "none")
        {
            return "'name' must be 1 to 100 letters, digits and - _ . : / @ + (it is the client's label in records, metrics and reports).";
        }

        Name = Field<string>.To(name);
        return null;
    }

    private string? ReadModels(JsonElement value)
    {
        const string Rule = "'models' must be a list of up to 100 model names, or prefixes ending in '*' (for example \"gpt-4.1*\"), "
            + "each up to 100 characters; null or [] allows every model.";
        if (value.ValueKind != JsonValueKind.Array || value.GetArrayLength() > MaxModels)
        {
            return Rule;
        }

        var models = new List<string>();
        foreach (var item in value.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.String || item.GetString() is not { Length: > 0 and <= MaxModelLength } model
                || model.AsSpan(0, model.Length - 1).Contains('*') || model.Any(char.IsControl) || model.Any(char.IsWhiteSpace))
            {
                return Rule;
            }

            models.Add(model);
        }

        Models = Field<string[]>.To([.. models.Distinct(StringComparer.OrdinalIgnoreCase)]);
        return null;
    }

    private string? ReadBudget(JsonElement value)
    {
        const string Rule = "'budget' must be {\"limit_usd\": a positive number up to 1,000,000,000, \"period\": \"day\" or \"month\", "
            + "\"action\": \"block\" (default), \"notify\" or \"shadow\", \"reserve\": true or false (block only)}.";
        if (value.ValueKind != JsonValueKind.Object)
        {
            return Rule;
        }

        decimal? limit = null;
        string? period = null;
        string? action = "block";
        var reserve = false;
        foreach (var p in value.EnumerateObject())
        {
            var v = p.Value;
            var text = v.ValueKind == JsonValueKind.String ? v.GetString() : null;
            switch (p.Name)
            {
                case "limit_usd" when v.ValueKind == JsonValueKind.Number && v.TryGetDecimal(out var l) && l > 0 && l <= 1_000_000_000:
                    limit = l;
                    break;
                case "period" when KeyBudget.Periods.Contains(text):
                    period = text;
                    break;
                case "action" when KeyBudget.Actions.Contains(text):
                    action = text;
                    break;
                case "reserve" when v.ValueKind is JsonValueKind.True or JsonValueKind.False:
                    reserve = v.GetBoolean();
                    break;
                default:
                    return Rule + $" ('{Shown(p.Name)}' is not right.)";
            }
        }

        if (limit is null || period is null || (reserve && action != "block"))
        {
            return Rule;
        }

        Budget = Field<KeyBudget>.To(new KeyBudget(limit.Value, period, action!, reserve));
        return null;
    }

    private string? ReadExpiry(JsonElement value, DateTimeOffset now)
    {
        if (value.ValueKind != JsonValueKind.String || !HasOffset(value.GetString()!)
            || !DateTimeOffset.TryParseExact(value.GetString(), ["yyyy-MM-ddTHH:mm:ssK", "yyyy-MM-ddTHH:mm:ss.FFFFFFFK"], CultureInfo.InvariantCulture,
                DateTimeStyles.None, out var expires))
        {
            return "'expires_at' must be a time in RFC 3339 with its offset, for example \"2027-01-31T00:00:00Z\" (null: never).";
        }

        if (expires <= now)
        {
            return $"'expires_at' ({expires.UtcDateTime:u}) is not in the future; a key cannot be created or changed to have expired.";
        }

        ExpiresAt = Field<DateTimeOffset?>.To(expires.ToUniversalTime());
        return null;
    }

    private string? ReadMetadata(JsonElement value)
    {
        const string Rule = "'metadata' must be an object of up to 16 string values, each key 1 to 64 characters and each value up to 512, "
            + "without control characters.";
        if (value.ValueKind != JsonValueKind.Object)
        {
            return Rule;
        }

        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var p in value.EnumerateObject())
        {
            if (metadata.Count == MaxMetadataPairs || p.Name.Length is 0 or > MaxMetadataKeyLength || p.Value.ValueKind != JsonValueKind.String
                || p.Value.GetString()!.Length > MaxMetadataValueLength || p.Name.Any(char.IsControl) || p.Value.GetString()!.Any(char.IsControl)
                || !metadata.TryAdd(p.Name, p.Value.GetString()!))
            {
                return Rule;
            }
        }

        Metadata = Field<Dictionary<string, string>>.To(metadata);
        return null;
    }

    /// <summary>Whether an RFC 3339 time ends with its offset (<c>Z</c> or <c>±hh:mm</c>): a time without one is no instant.</summary>
    private static bool HasOffset(string text) =>
        text.EndsWith('Z') || text.EndsWith('z') || (text.Length > 6 && text[^6] is '+' or '-' && text[^3] == ':');

    private static string? Set(Action set)
    {
        set();
        return null;
    }

    /// <summary>A field name as an error may show it: a client's text, cut short.</summary>
    private static string Shown(string name) => name.Length <= 64 ? name : name[..64] + "…";
}
