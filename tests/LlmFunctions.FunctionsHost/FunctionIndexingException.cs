namespace LlmFunctions.FunctionsHost;

/// <summary>A function the host would refuse to index; the message reads like the host's.</summary>
public sealed class FunctionIndexingException(string message) : Exception(message);
