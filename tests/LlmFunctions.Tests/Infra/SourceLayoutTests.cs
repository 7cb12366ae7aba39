namespace LlmFunctions.Tests.Infra;

/// <summary>House rules for the product's source that the compiler does not check.</summary>
public sealed class SourceLayoutTests
{
    /// <summary>The limit <c>.editorconfig</c> declares (<c>max_line_length</c>); editors show it, this test holds it.</summary>
    private const int MaxLineLength = 160;

    [Fact]
    public void ProductSourceLines_FitTheLineLength()
    {
        var functions = Path.Combine(BicepCompilation.RepoRoot, "functions");
        var files = Directory.EnumerateFiles(functions, "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            .ToList();
        Assert.True(files.Count > 50, $"found only {files.Count} source files under {functions}");

        var tooLong = files
            .SelectMany(f => File.ReadLines(f).Select((line, i) => (File: Path.GetRelativePath(functions, f), Line: i + 1, line.Length)))
            .Where(l => l.Length > MaxLineLength)
            .Select(l => $"{l.File}:{l.Line} ({l.Length})")
            .ToList();
        Assert.True(tooLong.Count == 0, $"Lines over {MaxLineLength} characters:\n" + string.Join('\n', tooLong));
    }
}
