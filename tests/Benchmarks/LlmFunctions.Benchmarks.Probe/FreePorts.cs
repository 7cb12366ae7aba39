using System.Net;
using System.Net.Sockets;

namespace LlmFunctions.Benchmarks.Probe;

/// <summary>Prints N distinct free loopback ports, one a line.</summary>
internal static class FreePorts
{
    public static int Run(string[] args)
    {
        var count = args.Length > 0 ? int.Parse(args[0], System.Globalization.CultureInfo.InvariantCulture) : 1;
        var listeners = new List<TcpListener>();
        try
        {
            for (var i = 0; i < count; i++)
            {
                // Held open until all are chosen, so the N ports differ.
                var listener = new TcpListener(IPAddress.Loopback, 0);
                listener.Start();
                listeners.Add(listener);
                Console.WriteLine(((IPEndPoint)listener.LocalEndpoint).Port);
            }
        }
        finally
        {
            foreach (var l in listeners)
            {
                l.Stop();
            }
        }

        return 0;
    }
}
