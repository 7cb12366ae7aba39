namespace LlmFunctions.Tests.Infrastructure;

/// <summary>Which host runs Core's handlers in a test.</summary>
public enum HostKind
{
    /// <summary><c>functions/LlmFunctions.Local</c>, in-process.</summary>
    Local,

    /// <summary>The built Functions worker (<c>functions/LlmFunctions</c>) driven by the host emulator.</summary>
    Functions,
}
