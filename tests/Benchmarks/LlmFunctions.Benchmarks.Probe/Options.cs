namespace LlmFunctions.Benchmarks.Probe;

/// <summary><c>--name value</c> pairs; a name may repeat (<c>--header</c>).</summary>
internal sealed class Options
{
    private readonly List<(string Name, string Value)> _pairs = [];

    public Options(string[] args)
    {
        for (var i = 0; i < args.Length; i++)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal) || i + 1 >= args.Length)
            {
                throw new ArgumentException($"Expected '--name value', got '{args[i]}'.");
            }

            _pairs.Add((args[i][2..], args[++i]));
        }
    }

    public string Required(string name) => Get(name) ?? throw new ArgumentException($"--{name} is required.");

    public string? Get(string name) => _pairs.LastOrDefault(p => p.Name == name).Value;

    public int Int(string name, int fallback) => Get(name) is { } v ? int.Parse(v, System.Globalization.CultureInfo.InvariantCulture) : fallback;

    public IEnumerable<string> All(string name) => _pairs.Where(p => p.Name == name).Select(p => p.Value);
}
