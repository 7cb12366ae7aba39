using LlmFunctions.Local;

// A plain ASP.NET Core host of the same handlers the Functions app binds, for machines without
// Azure Functions Core Tools: `dotnet run --project functions/LlmFunctions.Local -- --urls http://127.0.0.1:7071`.
LocalHost.Build(args).Run();
