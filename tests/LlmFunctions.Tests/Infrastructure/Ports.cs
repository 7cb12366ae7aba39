using System.Net;
using System.Net.Sockets;

namespace LlmFunctions.Tests.Infrastructure;

internal static class Ports
{
    /// <summary>A free loopback port (the OS picks; released before use, so a rare race is possible).</summary>
    public static int Free()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
