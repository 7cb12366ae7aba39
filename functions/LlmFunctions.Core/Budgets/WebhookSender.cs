using System.Net.Http.Headers;
using Microsoft.Extensions.Logging;

namespace LlmFunctions.Core.Budgets;

/// <summary>Posts one webhook message. Never logs the URL (it often carries a token) or the secret.</summary>
internal sealed partial class WebhookSender(IHttpClientFactory httpClientFactory, ILogger<WebhookSender> logger)
{
    public const string HttpClientName = "webhooks";

    public async Task<bool> SendAsync(string name, WebhookMessage message, CancellationToken cancellationToken)
    {
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, message.Url)
            {
                Content = new ByteArrayContent(message.Body) { Headers = { ContentType = new MediaTypeHeaderValue("application/json") { CharSet = "utf-8" } } },
            };
            foreach (var (key, value) in message.Headers)
            {
                request.Headers.TryAddWithoutValidation(key, value);
            }

            using var response = await httpClientFactory.CreateClient(HttpClientName).SendAsync(request, cancellationToken).ConfigureAwait(false);
            if (response.IsSuccessStatusCode)
            {
                return true;
            }

            LogFailed(logger, name, ((int)response.StatusCode).ToString(System.Globalization.CultureInfo.InvariantCulture));
            return false;
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
        {
            LogFailed(logger, name, ex.GetType().Name);
            return false;
        }
    }

    [LoggerMessage(EventId = 6001, Level = LogLevel.Warning, Message = "Webhook {Name} delivery failed ({Reason}); it will be retried on a later run.")]
    private static partial void LogFailed(ILogger logger, string name, string reason);
}
