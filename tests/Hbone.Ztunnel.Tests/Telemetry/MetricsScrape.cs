using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Http.Headers;
using Hbone.Ztunnel.Admin;

namespace Hbone.Ztunnel.Tests.Telemetry;

/// <summary>The admin server's stats listener on a free loopback port, exposing one meter: scrape it as Prometheus does.</summary>
internal sealed class MetricsScrape : IAsyncDisposable
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);

    private readonly AdminServer _server;
    private readonly HttpClient _http = new() { Timeout = Deadline };

    private MetricsScrape(AdminServer server) => _server = server;

    public static async Task<MetricsScrape> StartAsync(Meter meter) =>
        new(await AdminServer.StartAsync(
            new AdminServerOptions
            {
                Admin = new IPEndPoint(IPAddress.Loopback, 0),
                Stats = new IPEndPoint(IPAddress.Loopback, 0),
                Readiness = new IPEndPoint(IPAddress.Loopback, 0),
                Metrics = meter,
            },
            CancellationToken.None).WaitAsync(Deadline));

    /// <summary>GET /metrics (with <paramref name="accept"/> as the Accept header when given): the body and its Content-Type.</summary>
    public async Task<(string Body, MediaTypeHeaderValue? ContentType)> GetAsync(string? accept = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri($"http://{_server.StatsEndPoint}/metrics"));
        if (accept is not null)
        {
            request.Headers.TryAddWithoutValidation("Accept", accept);
        }

        using HttpResponseMessage response = await _http.SendAsync(request).WaitAsync(Deadline);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (await response.Content.ReadAsStringAsync().WaitAsync(Deadline), response.Content.Headers.ContentType);
    }

    /// <summary>The text-format body of GET /metrics.</summary>
    public async Task<string> TextAsync() => (await GetAsync()).Body;

    public async ValueTask DisposeAsync()
    {
        await _server.DisposeAsync().AsTask().WaitAsync(Deadline);
        _http.Dispose();
    }
}
