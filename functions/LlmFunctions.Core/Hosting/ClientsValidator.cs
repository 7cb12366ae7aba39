namespace LlmFunctions.Core.Hosting;

/// <summary>Start-up checks of <c>Clients__*</c>: every client has exactly one usable key.</summary>
internal static class ClientsValidator
{
    public const string Message =
        "Each client needs Clients__<name>__Key or Clients__<name>__KeySha256 (64 hex characters), and no two clients may share a key.";

    public static bool Validate(Dictionary<string, ClientOptions> clients)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (_, c) in clients)
        {
            var hasKey = !string.IsNullOrEmpty(c.Key);
            var hasHash = !string.IsNullOrEmpty(c.KeySha256);
            if (hasKey == hasHash)
            {
                return false;
            }

            if (hasHash && (c.KeySha256!.Trim().Length != 64 || !c.KeySha256.Trim().All(char.IsAsciiHexDigit)))
            {
                return false;
            }

            if (c.RequestsPerMinute < 0 || !seen.Add(Convert.ToHexString(Proxy.ClientAuthenticator.Hash(c))))
            {
                return false;
            }
        }

        return true;
    }
}
