using LlmFunctions.Core.Aggregation;
using LlmFunctions.Core.Keys;
using LlmFunctions.Core.Security;

namespace LlmFunctions.Core.Hosting;

/// <summary>Start-up checks of <c>Clients__*</c>: every client has exactly one usable key.</summary>
internal static class ClientsValidator
{
    public const string Message =
        "Each client needs Clients__<name>__Key or Clients__<name>__KeySha256 (64 hex characters), no two clients may share a key, "
        + "and a name is at most 100 letters, digits and - _ . : / @ + (it is the client's label in records, metrics and reports).";

    public static bool Validate(Dictionary<string, ClientOptions> clients)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (name, c) in clients)
        {
            // A name its label would change ("acme corp" → "acme_corp") could not find its own spend, and could share another's.
            if (!string.Equals(AggregateState.Label(name), name, StringComparison.Ordinal))
            {
                return false;
            }

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

            if (c.RequestsPerMinute < 0 || !seen.Add(Convert.ToHexString(ClientAuthenticator.Hash(c))))
            {
                return false;
            }
        }

        return true;
    }
}
