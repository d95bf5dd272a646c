using System.Globalization;
using System.Net;
using Hbone.Identity;
using Hbone.Ztunnel.Config;
using Hbone.Ztunnel.InPod;
using Hbone.Ztunnel.Proxy;
using Hbone.Ztunnel.Proxy.Inbound;
using Hbone.Ztunnel.Proxy.InboundPlaintext;
using Hbone.Ztunnel.Proxy.Outbound;
using Hbone.Ztunnel.Proxy.Socks5;
using Hbone.Ztunnel.State;
using Hbone.Ztunnel.Telemetry;
using Hbone.Ztunnel.Tests.Telemetry;
using static Hbone.Ztunnel.Tests.Telemetry.TelemetryFixtures;

namespace Hbone.Ztunnel.Tests.Proxy;

/// <summary><see cref="ConnectionReporter"/>: one report becomes Istio's TCP counters and one access-log line.</summary>
public sealed class ConnectionReporterTests : IDisposable
{
    private static readonly DateTimeOffset Now = new(2026, 1, 2, 3, 4, 5, TimeSpan.Zero);

    private static readonly Workload Client = new()
    {
        Uid = "cluster1//v1/Pod/default/client-7d9f",
        Name = "client-7d9f",
        Namespace = "default",
        ServiceAccount = "client",
        WorkloadName = "client",
        WorkloadIps = [IPAddress.Parse("10.0.0.1")],
        Protocol = WorkloadProtocol.Hbone,
    };

    private static readonly Workload Echo = new()
    {
        Uid = "cluster1//v1/Pod/default/echo",
        Name = "echo",
        Namespace = "default",
        ServiceAccount = "echo",
        WorkloadIps = [IPAddress.Parse("10.0.0.2")],
        Protocol = WorkloadProtocol.Hbone,
    };

    private readonly ZtunnelMetrics _metrics = new();
    private readonly CounterRecorder _exporter;
    private readonly StringWriter _log = new(CultureInfo.InvariantCulture);
    private readonly ConnectionReporter _reporter;

    public ConnectionReporterTests()
    {
        _exporter = new CounterRecorder(_metrics.Meter);
        _reporter = new ConnectionReporter(_metrics, new AccessLogWriter(_log, json: false, new FixedTimeProvider(Now)));
    }

    public void Dispose()
    {
        _exporter.Dispose();
        _metrics.Dispose();
        _log.Dispose();
    }

    private static ConnectionReport OutboundHbone => new()
    {
        Inbound = false,
        Source = IPEndPoint.Parse("10.0.0.1:40000"),
        Destination = IPEndPoint.Parse("10.0.0.2:15008"),
        SourceWorkload = Client,
        SourceIdentity = SpiffeId.Parse("spiffe://cluster.local/ns/default/sa/client"),
        DestinationWorkload = Echo,
        DestinationIdentity = SpiffeId.Parse("spiffe://cluster.local/ns/default/sa/echo"),
        DestinationService = "echo.default.svc.cluster.local",
        MutualTls = true,
        BytesSent = 10,
        BytesReceived = 6,
        Duration = TimeSpan.FromMilliseconds(1234),
        Status = 200,
    };

    [Fact]
    [Trait("case", "TEL-01")]
    public void Outbound_hbone_report_counts_opened_and_closed_with_the_source_reporter_labels()
    {
        _reporter.Opened(OutboundHbone);
        _reporter.Report(OutboundHbone, opened: true);

        string exposition = _exporter.Render();
        string series = ClientToEchoSeries(ConnectionLabels.SourceReporter);
        Assert.Equal([$"istio_tcp_connections_opened_total{{{series}}} 1"], SeriesLines(exposition, ZtunnelMetrics.ConnectionsOpenedName));
        Assert.Equal([$"istio_tcp_connections_closed_total{{{series}}} 1"], SeriesLines(exposition, ZtunnelMetrics.ConnectionsClosedName));
        Assert.Single(SeriesLines(exposition, ZtunnelMetrics.ReceivedBytesName));
        Assert.Single(SeriesLines(exposition, ZtunnelMetrics.SentBytesName));
    }

    [Fact]
    [Trait("case", "TEL-01")]
    public void Request_bytes_count_as_received_and_response_bytes_as_sent_as_in_Istio()
    {
        _reporter.Opened(OutboundHbone);
        _reporter.Report(OutboundHbone, opened: true);

        string exposition = _exporter.Render();
        string series = ClientToEchoSeries(ConnectionLabels.SourceReporter);
        Assert.Equal([$"istio_tcp_received_bytes_total{{{series}}} 10"], SeriesLines(exposition, ZtunnelMetrics.ReceivedBytesName));
        Assert.Equal([$"istio_tcp_sent_bytes_total{{{series}}} 6"], SeriesLines(exposition, ZtunnelMetrics.SentBytesName));
    }

    [Fact]
    [Trait("case", "TEL-01")]
    public void Inbound_plaintext_report_uses_the_destination_reporter_and_unknown_security_policy()
    {
        var report = new ConnectionReport
        {
            Inbound = true,
            Source = IPEndPoint.Parse("10.0.0.9:5555"),
            Destination = IPEndPoint.Parse("10.0.0.2:8080"),
            DestinationWorkload = Echo,
            MutualTls = false,
            BytesSent = 3,
            BytesReceived = 4,
        };

        _reporter.Opened(report);
        _reporter.Report(report, opened: true);

        string series =
            "connection_security_policy=\"unknown\"," +
            "destination_app=\"unknown\"," +
            "destination_canonical_revision=\"unknown\"," +
            "destination_canonical_service=\"unknown\"," +
            "destination_cluster=\"unknown\"," +
            "destination_principal=\"unknown\"," +
            "destination_service=\"unknown\"," +
            "destination_service_name=\"unknown\"," +
            "destination_service_namespace=\"unknown\"," +
            "destination_version=\"unknown\"," +
            "destination_workload=\"echo\"," +
            "destination_workload_namespace=\"default\"," +
            "reporter=\"destination\"," +
            "request_protocol=\"tcp\"," +
            "response_flags=\"-\"," +
            "source_app=\"unknown\"," +
            "source_canonical_revision=\"unknown\"," +
            "source_canonical_service=\"unknown\"," +
            "source_cluster=\"unknown\"," +
            "source_principal=\"unknown\"," +
            "source_version=\"unknown\"," +
            "source_workload=\"unknown\"," +
            "source_workload_namespace=\"unknown\"";
        string exposition = _exporter.Render();
        Assert.Equal([$"istio_tcp_connections_opened_total{{{series}}} 1"], SeriesLines(exposition, ZtunnelMetrics.ConnectionsOpenedName));
        Assert.Equal([$"istio_tcp_connections_closed_total{{{series}}} 1"], SeriesLines(exposition, ZtunnelMetrics.ConnectionsClosedName));
        Assert.Equal(
            "2026-01-02T03:04:05.000000Z  info  access  connection complete " +
            " src.addr=10.0.0.9:5555 dst.addr=10.0.0.2:8080 dst.workload=\"echo\" dst.namespace=\"default\"" +
            " direction=\"inbound\" bytes_sent=3 bytes_recv=4 duration=\"0ms\" protocol=\"TCP\"\n",
            _log.ToString());
    }

    [Fact]
    [Trait("case", "TEL-03")]
    public void Outbound_report_writes_one_access_log_line_with_addresses_identities_bytes_and_status()
    {
        _reporter.Report(OutboundHbone, opened: true);

        Assert.Equal(
            "2026-01-02T03:04:05.000000Z  info  access  connection complete " +
            " src.addr=10.0.0.1:40000 src.workload=\"client-7d9f\" src.namespace=\"default\"" +
            " src.identity=\"spiffe://cluster.local/ns/default/sa/client\"" +
            " dst.addr=10.0.0.2:15008 dst.service=\"echo.default.svc.cluster.local\" dst.workload=\"echo\" dst.namespace=\"default\"" +
            " dst.identity=\"spiffe://cluster.local/ns/default/sa/echo\"" +
            " direction=\"outbound\" bytes_sent=10 bytes_recv=6 duration=\"1234ms\" protocol=\"HBONE\" status=200\n",
            _log.ToString());
    }

    [Fact]
    [Trait("case", "TEL-03")]
    public void A_report_not_opened_logs_its_error_but_counts_nothing_closed()
    {
        var refused = OutboundHbone with { BytesSent = 0, BytesReceived = 0, Duration = TimeSpan.FromMilliseconds(7), Status = 401, Error = "connection refused by policy" };

        _reporter.Report(refused, opened: false);

        string exposition = _exporter.Render();
        Assert.Empty(SeriesLines(exposition, ZtunnelMetrics.ConnectionsOpenedName));
        Assert.Empty(SeriesLines(exposition, ZtunnelMetrics.ConnectionsClosedName));
        Assert.Empty(SeriesLines(exposition, ZtunnelMetrics.ReceivedBytesName));
        Assert.Empty(SeriesLines(exposition, ZtunnelMetrics.SentBytesName));
        string line = Assert.Single(_log.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.EndsWith(
            " direction=\"outbound\" bytes_sent=0 bytes_recv=0 duration=\"7ms\" protocol=\"HBONE\" status=401 error=\"connection refused by policy\"",
            line,
            StringComparison.Ordinal);
        Assert.Contains(" src.addr=10.0.0.1:40000 ", line, StringComparison.Ordinal);
        Assert.Contains(" dst.addr=10.0.0.2:15008 ", line, StringComparison.Ordinal);
    }
}
