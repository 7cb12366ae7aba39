namespace LlmFunctions.Core.Http;

/// <summary>Bounds on text taken from requests and responses into records and messages.</summary>
internal static class Text
{
    /// <summary>At most 128 characters: enough to identify a model, path or id, never a payload.</summary>
    public static string Truncate(string value) => value.Length <= 128 ? value : value[..128];
}
