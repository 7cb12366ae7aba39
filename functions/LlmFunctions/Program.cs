using LlmFunctions.Core;
using Microsoft.Azure.Functions.Worker.Builder;
using Microsoft.Azure.Functions.Worker.OpenTelemetry;
using Microsoft.Extensions.Hosting;

var builder = FunctionsApplication.CreateBuilder(args);
builder.ConfigureFunctionsWebApplication();
builder.Services.AddLlmFunctions(builder.Configuration);
builder.Services.AddLlmFunctionsOpenTelemetry(builder.Configuration, otel => otel.UseFunctionsWorkerDefaults());
builder.Build().Run();
