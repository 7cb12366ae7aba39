using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Routing.Constraints;
using Microsoft.AspNetCore.Routing.Template;

namespace LlmFunctions.FunctionsHost;

/// <summary>An HTTP-triggered function: its full route (host.json <c>routePrefix</c> + route) and methods.</summary>
internal sealed record HttpFunction(string Id, string Name, string TriggerBinding, string Route, IReadOnlySet<string>? Methods)
    : FunctionDescriptor(Id, Name, TriggerBinding)
{
    private readonly TemplateMatcher _matcher = new(TemplateParser.Parse(Route), []);

    /// <summary>The route's inline constraints, which the host applies (only <c>regex</c>, the one the app uses, is emulated).</summary>
    private readonly List<(string Parameter, bool Optional, RegexRouteConstraint Constraint)> _constraints = TemplateParser.Parse(Route).Parameters
        .SelectMany(p => p.InlineConstraints.Select(c => (p.Name!, p.IsOptional, Constraint(c.Constraint))))
        .ToList();

    /// <summary>The route values when <paramref name="method"/> and <paramref name="path"/> are this function's.</summary>
    public RouteValueDictionary? Match(string method, PathString path)
    {
        if (Methods is not null && !Methods.Contains(method))
        {
            return null;
        }

        var values = new RouteValueDictionary();
        return _matcher.TryMatch(path, values)
            && _constraints.All(c => (c.Optional && values[c.Parameter] is null)
                || c.Constraint.Match(null, null, c.Parameter, values, RouteDirection.IncomingRequest)) ? values : null;
    }

    private static RegexRouteConstraint Constraint(string text) =>
        text.StartsWith("regex(", StringComparison.Ordinal) && text.EndsWith(')')
            ? new RegexRouteConstraint(text["regex(".Length..^1])
            : throw new NotSupportedException($"Route constraint '{text}' is not emulated.");
}
