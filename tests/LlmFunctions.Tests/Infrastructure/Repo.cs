namespace LlmFunctions.Tests.Infrastructure;

/// <summary>Paths of the repository and of the tools <c>.ci/run</c> installs.</summary>
internal static class Repo
{
    public static string Root { get; } = FindRoot();

    public static string Path(params string[] parts) => System.IO.Path.Combine([Root, .. parts]);

    /// <summary>A tool from an environment variable, <c>.tools</c>, or PATH; a missing tool fails the test with how to get it.</summary>
    public static string Tool(string envVar, string toolsRelative, string onPath, string install)
    {
        if (Environment.GetEnvironmentVariable(envVar) is { Length: > 0 } fromEnv && File.Exists(fromEnv))
        {
            return fromEnv;
        }

        var local = Path(".tools", toolsRelative);
        if (File.Exists(local))
        {
            return local;
        }

        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':'))
        {
            var candidate = System.IO.Path.Combine(dir, onPath);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new InvalidOperationException($"{onPath} was not found ({envVar}, .tools/{toolsRelative}, PATH). {install}");
    }

    public static string Azurite => Tool("AZURITE_TABLE", "node_modules/.bin/azurite-table", "azurite-table",
        "Run the tests with `bash .ci/run`, which installs Azurite from npm.");

    /// <summary>The OpenAI Node SDK's package folder (<c>.tools/node_modules/openai</c>), for tests that run it as a client.</summary>
    public static string OpenAINodeSdk => File.Exists(Path(".tools", "node_modules", "openai", "package.json"))
        ? Path(".tools", "node_modules", "openai")
        : throw new InvalidOperationException("The OpenAI Node SDK was not found in .tools/node_modules. Run the tests with `bash .ci/run`.");

    public static string Promtool => Tool("PROMTOOL", "promtool", "promtool", "Run `bash .ci/run` (apt-get install prometheus).");

    public static string Prometheus => Tool("PROMETHEUS", "prometheus", "prometheus", "Run `bash .ci/run` (apt-get install prometheus).");

    private static string FindRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(System.IO.Path.Combine(dir.FullName, "LlmFunctions.sln")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException("LlmFunctions.sln not found above " + AppContext.BaseDirectory);
    }
}
