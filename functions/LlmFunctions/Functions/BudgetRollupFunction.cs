using LlmFunctions.Core;
using Microsoft.Azure.Functions.Worker;

namespace LlmFunctions.Functions;

/// <summary>Rolls spend up per budget, notifies webhooks, and advances the metrics fold, on <c>Budgets__Schedule</c>.</summary>
public sealed class BudgetRollupFunction(LlmFunctionsHandlers handlers)
{
    [Function("BudgetRollup")]
    public Task RunAsync([TimerTrigger("%Budgets:Schedule%")] TimerInfo timer, CancellationToken cancellationToken) =>
        handlers.BudgetRollupAsync(cancellationToken);
}
