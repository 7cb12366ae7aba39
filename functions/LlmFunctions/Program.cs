using LlmFunctions.Core;
using Microsoft.Azure.Functions.Worker.Builder;
using Microsoft.Azure.Functions.Worker.OpenTelemetry;
using Microsoft.Extensions.Configuration.Memory;
using Microsoft.Extensions.Hosting;

var builder = FunctionsApplication.CreateBuilder(args);

// A Functions instance takes its temp disk with it when it is recycled or scaled in, so a spooled record is not durable
// here: a call is answered only once its record is in the table. Lowest precedence: an app setting still wins.
builder.Configuration.Sources.Insert(0, new MemoryConfigurationSource
{
    InitialData = [new($"{StorageOptions.SectionName}:{nameof(StorageOptions.LocalDiskIsDurable)}", "false")],
});

builder.ConfigureFunctionsWebApplication();
builder.Services.AddLlmFunctions(builder.Configuration);
builder.Services.AddLlmFunctionsOpenTelemetry(builder.Configuration, otel => otel.UseFunctionsWorkerDefaults());
builder.Build().Run();
