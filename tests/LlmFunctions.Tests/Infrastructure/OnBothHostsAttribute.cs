using System.Reflection;
using Xunit.Sdk;

namespace LlmFunctions.Tests.Infrastructure;

/// <summary>
/// A theory row run on both hosts: the row's values (none for a scenario without data) followed by
/// <see cref="HostKind.Local"/>, then by <see cref="HostKind.Functions"/>; the test's last parameter is the kind.
/// </summary>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = true)]
public sealed class OnBothHostsAttribute(params object?[] row) : DataAttribute
{
    public override IEnumerable<object?[]> GetData(MethodInfo testMethod) =>
        [[.. row, HostKind.Local], [.. row, HostKind.Functions]];
}
