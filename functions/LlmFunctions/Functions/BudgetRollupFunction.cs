using LlmFunctions.Core;
using Microsoft.Azure.Functions.Worker;

namespace LlmFunctions.Functions;

/// <summary>
/// Rolls spend up per budget, notifies webhooks, and advances the metrics fold, on <c>BudgetsSchedule</c>: a flat setting,
/// since timers bound to nested names (<c>%Budgets:Schedule%</c>) fire unreliably when scaled out or idle
/// (Azure/azure-functions-host#8649). The template sets it and <c>Budgets__Schedule</c>, which the options check, alike.
/// </summary>
public sealed class BudgetRollupFunction(LlmFunctionsHandlers handlers)
{
    [Function("BudgetRollup")]
    public Task RunAsync([TimerTrigger("%BudgetsSchedule%")] TimerInfo timer, CancellationToken cancellationToken) =>
        handlers.BudgetRollupAsync(cancellationToken);
}
