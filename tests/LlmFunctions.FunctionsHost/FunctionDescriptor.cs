namespace LlmFunctions.FunctionsHost;

/// <summary>A loaded function: its id for invocations and the name of the parameter its trigger binds to.</summary>
internal abstract record FunctionDescriptor(string Id, string Name, string TriggerBinding);
