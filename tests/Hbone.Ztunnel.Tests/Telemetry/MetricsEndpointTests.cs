using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Hbone.Identity;
using Hbone.Relay;
using Hbone.Ztunnel.Admin;
using Hbone.Ztunnel.Config;
using Hbone.Ztunnel.Proxy;
using Hbone.Ztunnel.State;
using Hbone.Ztunnel.Telemetry;
using Hbone.Ztunnel.Tests.Proxy;

namespace Hbone.Ztunnel.Tests.Telemetry;

/// <summary>
/// What a Prometheus scraper sees on the stats port after real relayed connections, wired as the ztunnel wires it
/// (<see cref="ZtunnelMetrics"/> feeding <see cref="ConnectionReporter"/>, the admin server exposing the meter). Asserts
/// the parsed families (type, label keys, values), the paths and the content type, not the text layout, so it holds
/// across exporters.
/// </summary>
public sealed class MetricsEndpointTests : IAsyncLifetime
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);

    private static readonly Workload Client = TelemetryFixtures.Pod("cluster1", "default", "client-7d9f", "client", "client", "client", "v1", "10.244.1.2");

    private static readonly Workload Echo = TelemetryFixtures.Pod("cluster1", "default", "echo-5c4b", "echo", "echo", "echo", "v2", "10.244.1.11");

    // The Istio TCP labels every connection series carries: ztunnel's 23 (sorted).
    private const string TcpLabelKeys =
        "connection_security_policy,destination_app,destination_canonical_revision,destination_canonical_service,destination_cluster," +
        "destination_principal,destination_service,destination_service_name,destination_service_namespace,destination_version," +
        "destination_workload,destination_workload_namespace,reporter,request_protocol,response_flags,source_app," +
        "source_canonical_revision,source_canonical_service,source_cluster,source_principal,source_version,source_workload," +
        "source_workload_namespace";

    private const string DnsLabelKeys = "request_protocol,request_query_type,source_canonical_revision,source_canonical_service";

    private readonly ZtunnelMetrics _metrics = new();
    private readonly StringWriter _log = new(CultureInfo.InvariantCulture);
    private readonly HttpClient _http = new() { Timeout = Deadline };
    private ConnectionReporter _reporter = null!;
    private AdminServer _server = null!;

    public async Task InitializeAsync()
    {
        _reporter = new ConnectionReporter(_metrics, new AccessLogWriter(_log, json: false), pollInterval: Timeout.InfiniteTimeSpan);
        _server = await AdminServer.StartAsync(
            new AdminServerOptions
            {
                Admin = new IPEndPoint(IPAddress.Loopback, 0),
                Stats = new IPEndPoint(IPAddress.Loopback, 0),
                Readiness = new IPEndPoint(IPAddress.Loopback, 0),
                Metrics = _metrics.Meter,
            },
            CancellationToken.None).WaitAsync(Deadline);
    }

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync().AsTask().WaitAsync(Deadline);
        _reporter.Dispose();
        _metrics.Dispose();
        _http.Dispose();
        _log.Dispose();
    }

    [Theory]
    [Trait("case", "TEL-12")]
    [InlineData("/metrics")]
    [InlineData("/stats/prometheus")]
    public async Task TEL_12_the_stats_port_serves_the_istio_families_with_their_labels_and_values_after_real_connections(string path)
    {
        await RelayAsync(inbound: true, requestBytes: 100, responseBytes: 40);
        await RelayAsync(inbound: false, requestBytes: 7, responseBytes: 3);
        _metrics.DnsRequest(new DnsLabels("a", "udp", "client", "v1"), forwarded: true, failed: false);

        using HttpResponseMessage response = await _http.GetAsync(new Uri($"http://{_server.StatsEndPoint}{path}")).WaitAsync(Deadline);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/plain", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("utf-8", response.Content.Headers.ContentType?.CharSet, StringComparer.OrdinalIgnoreCase);
        Assert.Contains(response.Content.Headers.ContentType!.Parameters, p => p.Name == "version" && p.Value == "0.0.4");
        var families = PrometheusText.Parse(await response.Content.ReadAsStringAsync().WaitAsync(Deadline));

        // Families without a series are left out: whether an exporter writes their HELP/TYPE is layout, not content.
        Assert.Equal(
            new SortedDictionary<string, string>(StringComparer.Ordinal)
            {
                ["istio_dns_requests_total"] = $"counter [{DnsLabelKeys}] 1",
                ["istio_dns_upstream_requests_total"] = $"counter [{DnsLabelKeys}] 1",
                ["istio_tcp_connections_closed_total"] = $"counter [{TcpLabelKeys}] 1 1",
                ["istio_tcp_connections_opened_total"] = $"counter [{TcpLabelKeys}] 1 1",
                ["istio_tcp_received_bytes_total"] = $"counter [{TcpLabelKeys}] 7 100",
                ["istio_tcp_sent_bytes_total"] = $"counter [{TcpLabelKeys}] 3 40",
            },
            PrometheusText.Summaries(families));

        PrometheusSample inbound = Assert.Single(families["istio_tcp_connections_opened_total"].Samples, s => s.Labels["reporter"] == "destination");
        Assert.Equal("client", inbound.Labels["source_workload"]);
        Assert.Equal("spiffe://cluster.local/ns/default/sa/client", inbound.Labels["source_principal"]);
        Assert.Equal("echo", inbound.Labels["destination_workload"]);
        Assert.Equal("echo.default.svc.cluster.local", inbound.Labels["destination_service"]);
        Assert.Equal("-", inbound.Labels["response_flags"]);
        Assert.Equal("mutual_tls", inbound.Labels["connection_security_policy"]);
        Assert.Equal("tcp", inbound.Labels["request_protocol"]);
    }

    [Theory]
    [Trait("case", "TEL-12")]
    [InlineData("stats", "/")]
    [InlineData("stats", "/metrics/")]
    [InlineData("stats", "/stats")]
    [InlineData("admin", "/metrics")]
    [InlineData("readiness", "/stats/prometheus")]
    public async Task TEL_12_metrics_are_served_only_on_the_stats_port_and_only_at_their_two_paths(string listener, string path)
    {
        await RelayAsync(inbound: true, requestBytes: 1, responseBytes: 1);
        IPEndPoint endPoint = listener switch
        {
            "stats" => _server.StatsEndPoint,
            "readiness" => _server.ReadinessEndPoint,
            _ => _server.AdminEndPoint,
        };

        using HttpResponseMessage response = await _http.GetAsync(new Uri($"http://{endPoint}{path}")).WaitAsync(Deadline);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    [Fact]
    [Trait("case", "TEL-12")]
    public async Task TEL_12_with_the_exporter_made_first_connections_before_the_server_started_count_too()
    {
        using var metrics = new ZtunnelMetrics();
        using var exporter = new PrometheusMetrics(metrics.Meter);
        var labels = new ConnectionLabels { Reporter = ConnectionLabels.DestinationReporter };
        metrics.ConnectionOpened(labels);

        Assert.Equal(1, await ScrapeOpenedAsync(metrics, exporter));

        // The server did not own the exporter: after it stopped, it still collects.
        metrics.ConnectionOpened(labels);
        Assert.Equal(2, await ScrapeOpenedAsync(metrics, exporter));
    }

    /// <summary>Starts an admin server on <paramref name="exporter"/>, reads the opened counter from /metrics, stops it.</summary>
    private async Task<double> ScrapeOpenedAsync(ZtunnelMetrics metrics, PrometheusMetrics exporter)
    {
        await using var server = await AdminServer.StartAsync(
            new AdminServerOptions
            {
                Admin = new IPEndPoint(IPAddress.Loopback, 0),
                Stats = new IPEndPoint(IPAddress.Loopback, 0),
                Readiness = new IPEndPoint(IPAddress.Loopback, 0),
                Metrics = metrics.Meter,
                Exporter = exporter,
            },
            CancellationToken.None).WaitAsync(Deadline);
        string text = await _http.GetStringAsync(new Uri($"http://{server.StatsEndPoint}/metrics")).WaitAsync(Deadline);
        return Assert.Single(PrometheusText.Parse(text)["istio_tcp_connections_opened_total"].Samples).Value;
    }

    /// <summary>One connection relayed between two real loopback sockets and reported as the proxy reports it.</summary>
    private async Task RelayAsync(bool inbound, int requestBytes, int responseBytes)
    {
        using var app = await SocketPair.CreateAsync();
        using var upstream = await SocketPair.CreateAsync();
        var relay = new TunnelRelay(RelayEndpoint.Create(app.Server), RelayEndpoint.Create(upstream.Client));
        var report = new ConnectionReport
        {
            Inbound = inbound,
            Source = IPEndPoint.Parse("10.244.1.2:40000"),
            Destination = IPEndPoint.Parse("10.244.1.11:8080"),
            SourceWorkload = Client,
            SourceIdentity = SpiffeId.Parse("spiffe://cluster.local/ns/default/sa/client"),
            DestinationWorkload = Echo,
            DestinationIdentity = SpiffeId.Parse("spiffe://cluster.local/ns/default/sa/echo"),
            DestinationService = "echo.default.svc.cluster.local",
            MutualTls = true,
            Live = new LiveBytes(() => (relay.BytesAToB, relay.BytesBToA)),
        };
        _reporter.Opened(report);
        Task<TunnelOutcome> run = relay.RunAsync();

        await app.Client.SendAsync(new byte[requestBytes]).WaitAsync(Deadline);
        await ReceiveExactlyAsync(upstream.Server, requestBytes);
        await upstream.Server.SendAsync(new byte[responseBytes]).WaitAsync(Deadline);
        await ReceiveExactlyAsync(app.Client, responseBytes);
        app.Client.Shutdown(SocketShutdown.Send);
        upstream.Server.Shutdown(SocketShutdown.Send);
        Assert.Equal(TunnelOutcome.Completed, await run.WaitAsync(Deadline));

        _reporter.Report(report with { BytesSent = relay.BytesAToB, BytesReceived = relay.BytesBToA }, opened: true);
    }

    private static async Task ReceiveExactlyAsync(Socket socket, int count)
    {
        using var deadline = new CancellationTokenSource(Deadline);
        var buffer = new byte[count];
        for (var total = 0; total < count;)
        {
            var read = await socket.ReceiveAsync(buffer.AsMemory(total), SocketFlags.None, deadline.Token);
            Assert.NotEqual(0, read);
            total += read;
        }
    }
}
