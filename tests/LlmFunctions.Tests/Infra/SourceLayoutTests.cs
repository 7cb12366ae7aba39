using System.Text.RegularExpressions;

namespace LlmFunctions.Tests.Infra;

/// <summary>House rules for the product's source that the compiler does not check.</summary>
public sealed class SourceLayoutTests
{
    /// <summary>The limit <c>.editorconfig</c> declares (<c>max_line_length</c>); editors show it, this test holds it.</summary>
    private const int MaxLineLength = 160;

    /// <summary>The guide's limit on a file: past it, split along the jobs before adding to it.</summary>
    private const int MaxFileLines = 400;

    /// <summary>The guide's limit on a member's body (issue 27, item 3): past it, split along what the member does.</summary>
    private const int MaxMethodLines = 60;

    /// <summary>
    /// Core's folders (one namespace each; Options and Hosting's entry points are in the root namespace) from the bottom
    /// up: a folder may use only folders of a lower rank, so the graph has no cycle (issue 27, item 2).
    /// </summary>
    private static readonly Dictionary<string, int> Layers = new(StringComparer.Ordinal)
    {
        ["Http"] = 0, ["Options"] = 0,
        ["Pricing"] = 1, ["Security"] = 1,
        ["Records"] = 2,
        ["Aggregation"] = 3,
        ["Metrics"] = 4, ["Keys"] = 4,
        ["Budgets"] = 5,
        ["Spend"] = 6, ["Telemetry"] = 6,
        ["Proxy"] = 7,
        ["Hosting"] = 8,
    };

    private static string Functions => Path.Combine(BicepCompilation.RepoRoot, "functions");

    private static List<string> ProductFiles(string root)
    {
        var files = Directory.EnumerateFiles(root, "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            .ToList();
        Assert.True(files.Count > 20, $"found only {files.Count} source files under {root}");
        return files;
    }

    [Fact]
    public void ProductSourceFiles_StayUnderTheFileLimit()
    {
        var functions = Functions;
        var tooLong = ProductFiles(functions)
            .Select(f => (File: Path.GetRelativePath(functions, f), Lines: File.ReadLines(f).Count()))
            .Where(f => f.Lines > MaxFileLines)
            .Select(f => $"{f.File} ({f.Lines})")
            .ToList();
        Assert.True(tooLong.Count == 0, $"Files over {MaxFileLines} lines:\n" + string.Join('\n', tooLong));
    }

    [Fact]
    public void CoreFolders_UseOnlyLowerLayers()
    {
        var core = Path.Combine(Functions, "LlmFunctions.Core");
        var files = ProductFiles(core)
            .Select(f => (Folder: Path.GetRelativePath(core, f).Split(Path.DirectorySeparatorChar)[0], Path: f, Code: Code(File.ReadAllText(f))))
            .Where(f => f.Folder != Path.GetFileName(f.Path))
            .ToList();
        Assert.Equal(Layers.Keys.Order(), files.Select(f => f.Folder).Distinct().Order()); // every folder has a rank

        // A folder is its namespace (the settings and the hosts' entry points are in the root one), so ranking folders ranks namespaces.
        var misplaced = files.Where(f => !f.Code.Contains($"namespace LlmFunctions.Core.{f.Folder};", StringComparison.Ordinal)
                && !(f.Folder is "Options" or "Hosting" && f.Code.Contains("namespace LlmFunctions.Core;", StringComparison.Ordinal)))
            .Select(f => Path.GetRelativePath(core, f.Path)).ToList();
        Assert.True(misplaced.Count == 0, "Files whose namespace is not their folder's:\n" + string.Join('\n', misplaced));

        // Types each folder declares; those in the root namespace are visible everywhere without a using.
        var declared = files.GroupBy(f => f.Folder).ToDictionary(g => g.Key, g => g
            .SelectMany(f => Regex.Matches(f.Code, @"\b(?:class|record|struct|enum|interface)\s+(?:struct\s+)?([A-Z]\w*)").Select(m => m.Groups[1].Value))
            .ToHashSet(StringComparer.Ordinal));
        var rootTypes = files.Where(f => f.Code.Contains("namespace LlmFunctions.Core;", StringComparison.Ordinal))
            .SelectMany(f => Regex.Matches(f.Code, @"\b(?:class|record|struct|enum|interface)\s+([A-Z]\w*)").Select(m => (Type: m.Groups[1].Value, f.Folder)))
            .ToList();

        var upward = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var (folder, path, code) in files)
        {
            var uses = Regex.Matches(code, @"\busing LlmFunctions\.Core\.(\w+);|\bLlmFunctions\.Core\.(\w+)\.").Select(m => m.Groups[1].Success ? m.Groups[1].Value : m.Groups[2].Value)
                .Concat(Regex.Matches(code, @"(?<![\w.])([A-Z]\w*)\.([A-Z]\w*)")
                    .Where(m => declared.TryGetValue(m.Groups[1].Value, out var types) && types.Contains(m.Groups[2].Value))
                    .Select(m => m.Groups[1].Value))
                .Concat(rootTypes.Where(t => Regex.IsMatch(code, $@"(?<![\w.]){t.Type}\b")).Select(t => t.Folder))
                .Where(used => used != folder && Layers.ContainsKey(used));
            foreach (var used in uses.Where(u => Layers[u] >= Layers[folder]))
            {
                upward.Add($"{Path.GetRelativePath(core, path)}: {folder} (rank {Layers[folder]}) uses {used} (rank {Layers[used]})");
            }
        }

        Assert.True(upward.Count == 0, "References that do not go down the layers:\n" + string.Join('\n', upward));
    }

    [Fact]
    public void ProductMethods_StayUnderSixtyLines()
    {
        var functions = Functions;
        var bodies = ProductFiles(functions)
            .SelectMany(f => MemberBodies(File.ReadAllLines(f))
                .Select(b => (File: Path.GetRelativePath(functions, f).Replace('\\', '/'), b.Line, b.Name, b.Lines)))
            .ToList();
        Assert.True(bodies.Count > 300, $"found only {bodies.Count} member bodies under {functions}");

        var tooLong = bodies
            .Where(b => b.Lines > MaxMethodLines)
            .Select(b => $"{b.File}:{b.Line} {b.Name} ({b.Lines} lines)")
            .ToList();
        Assert.True(tooLong.Count == 0, $"Members over {MaxMethodLines} lines (split them along what they do):\n" + string.Join('\n', tooLong));
    }

    /// <summary>
    /// The bodies of a file's methods, constructors, properties and operators, as the house style lays them out: a
    /// declaration (on one line or more) at a member's indent, its type's plus four, then <c>{</c> alone at that indent;
    /// the body ends at the next line there that starts with <c>}</c>. Types (with primary constructors too) and
    /// namespaces hold members and are not bodies themselves; a field's initializer is not a body either.
    /// </summary>
    private static IEnumerable<(int Line, string Name, int Lines)> MemberBodies(string[] lines)
    {
        var containers = new Stack<int>(); // the indents of the types (and namespaces) open at this line
        for (var i = 1; i < lines.Length; i++)
        {
            var indent = lines[i].Length - lines[i].TrimStart(' ').Length;
            if (containers.TryPeek(out var open) && indent == open && lines[i].TrimStart().StartsWith('}'))
            {
                containers.Pop();
                continue;
            }

            if (lines[i].Trim() != "{")
            {
                continue;
            }

            // The declaration: back over its continuation lines (indented deeper) to its first line, at the brace's indent.
            var start = i - 1;
            while (start > 0 && lines[start].StartsWith(new string(' ', indent + 1), StringComparison.Ordinal))
            {
                start--;
            }

            // Up to the parameter list (a name's, not a tuple type's parenthesis), or all of a property's; not an expression body.
            var signature = string.Join(' ', lines[start..i].Select(l => l.Trim())).Split("=>", 2)[0];
            var parameters = Regex.Match(signature, @"\w(?:<[^()]*>)?\(");
            var head = parameters.Success ? signature[..(parameters.Index + 1)] : signature;
            if (Regex.IsMatch(head, @"\b(?:class|struct|record|interface|enum|namespace)\b"))
            {
                containers.Push(indent);
                continue;
            }

            if (!containers.TryPeek(out var type) || indent != type + 4 || head.Contains(" = ", StringComparison.Ordinal))
            {
                continue;
            }

            var end = i + 1;
            while (end < lines.Length && !lines[end].StartsWith(new string(' ', indent) + "}", StringComparison.Ordinal))
            {
                end++;
            }

            yield return (start + 1, Regex.Match(head, @"(\w+)\s*(?:\[[^()]*\])?\s*$").Groups[1].Value, end - i - 1);
            i = end;
        }
    }

    /// <summary>The code of a file without comments and string literals (doc references and messages name types freely).</summary>
    private static string Code(string source) =>
        Regex.Replace(source, @"//[^\n]*|/\*.*?\*/|@?\$?""(?:[^""\\\n]|\\.)*""", "", RegexOptions.Singleline);

    [Fact]
    public void ProductSourceLines_FitTheLineLength()
    {
        var functions = Functions;
        var files = ProductFiles(functions);

        var tooLong = files
            .SelectMany(f => File.ReadLines(f).Select((line, i) => (File: Path.GetRelativePath(functions, f), Line: i + 1, line.Length)))
            .Where(l => l.Length > MaxLineLength)
            .Select(l => $"{l.File}:{l.Line} ({l.Length})")
            .ToList();
        Assert.True(tooLong.Count == 0, $"Lines over {MaxLineLength} characters:\n" + string.Join('\n', tooLong));
    }
}
