using LlmFunctions.Benchmarks.Probe;

// Commands (see tests/Benchmarks/README.md):
//   free-ports N
//   ttfb --url U [--requests N] [--warmup N] [--seconds S] [--header "Name: value"]...
//   streams --url U [--count N] [--seconds S] [--header "Name: value"]...
//   count-records --connection CS
//   sustained --url U --key K --scrape-token T [--rate R (0: as fast as 32 connections go)] [--seconds S]
//   report --results results.tsv --checks checks.tsv --out latest.md
//   storage-proxy --port P --to http://127.0.0.1:AZ [--delay-ms D] [--busy-pct B] [--timeout-pct T] [--seconds S]
//   tcp-delay --port P --to http://127.0.0.1:AZ --delay-ms D [--seconds S]
return args.FirstOrDefault() switch
{
    "free-ports" => FreePorts.Run(args[1..]),
    "ttfb" => await TtfbProbe.RunAsync(args[1..]),
    "streams" => await OpenStreamsProbe.RunAsync(args[1..]),
    "count-records" => await RecordCounter.RunAsync(args[1..]),
    "sustained" => await SustainedLoadProbe.RunAsync(args[1..]),
    "report" => Report.Run(args[1..]),
    "storage-proxy" => await StorageProxy.RunAsync(args[1..]),
    "tcp-delay" => await TcpDelay.RunAsync(args[1..]),
    _ => Usage(),
};

static int Usage()
{
    Console.Error.WriteLine("usage: probe free-ports N | ttfb --url U ... | streams --url U ... | count-records --connection CS "
        + "| report --results F --checks F --out F");
    return 2;
}
