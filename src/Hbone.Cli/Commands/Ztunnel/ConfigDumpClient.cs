using System.Net;
using System.Text.Json;

namespace Hbone.Cli.Commands.Ztunnel;

/// <summary>Fetches and parses <c>GET http://ADMIN/config_dump</c> from a ztunnel's admin endpoint.</summary>
internal static class ConfigDumpClient
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    public static async Task<ConfigDump> GetAsync(IPEndPoint admin, CancellationToken cancellationToken)
    {
        var url = new Uri($"http://{admin}/config_dump");
        using var http = new HttpClient { Timeout = Timeout };
        string body;
        try
        {
            using var response = await http.GetAsync(url, cancellationToken).ConfigureAwait(false);
            if (response.StatusCode != HttpStatusCode.OK)
            {
                throw new CliError($"ztunnel admin {url} answered {(int)response.StatusCode} {response.ReasonPhrase}");
            }

            body = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (HttpRequestException ex)
        {
            throw new CliError($"cannot reach the ztunnel admin at {url}: {ex.Message}");
        }
        catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new CliError($"the ztunnel admin at {url} did not answer within {Timeout.TotalSeconds:0} s");
        }

        try
        {
            return JsonSerializer.Deserialize(body, ConfigDumpJsonContext.Default.ConfigDump)
                ?? throw new CliError($"ztunnel admin {url} returned null instead of a config dump");
        }
        catch (JsonException ex)
        {
            throw new CliError($"ztunnel admin {url} returned an invalid config dump: {ex.Message}");
        }
    }
}
