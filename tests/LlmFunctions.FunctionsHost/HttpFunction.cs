using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Routing.Template;

namespace LlmFunctions.FunctionsHost;

/// <summary>An HTTP-triggered function: its full route (host.json <c>routePrefix</c> + route) and methods.</summary>
internal sealed record HttpFunction(string Id, string Name, string TriggerBinding, string Route, IReadOnlySet<string>? Methods)
    : FunctionDescriptor(Id, Name, TriggerBinding)
{
    private readonly TemplateMatcher _matcher = new(TemplateParser.Parse(Route), []);

    /// <summary>The route values when <paramref name="method"/> and <paramref name="path"/> are this function's.</summary>
    public RouteValueDictionary? Match(string method, PathString path)
    {
        if (Methods is not null && !Methods.Contains(method))
        {
            return null;
        }

        var values = new RouteValueDictionary();
        return _matcher.TryMatch(path, values) ? values : null;
    }
}
