using System.Diagnostics.Metrics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Authentication;
using Hbone.Client;
using Hbone.Identity;
using Hbone.Istio;
using Hbone.Ztunnel.Config;
using Hbone.Ztunnel.Proxy;
using Hbone.Ztunnel.State;
using Hbone.Ztunnel.Telemetry;

namespace Hbone.Ztunnel.Tests.Telemetry;

/// <summary>What the proxy counts, as ztunnel counts it: the 23 labels, their values from the workload and service model, and failures by flag.</summary>
public sealed class ConnectionCountingTests : IDisposable
{
    // ztunnel's CommonTrafficLabels (src/proxy/metrics.rs), in its order.
    private static readonly string[] ZtunnelLabels =
    [
        "reporter",
        "source_workload", "source_canonical_service", "source_canonical_revision", "source_workload_namespace",
        "source_principal", "source_app", "source_version", "source_cluster",
        "destination_service", "destination_service_namespace", "destination_service_name",
        "destination_workload", "destination_canonical_service", "destination_canonical_revision", "destination_workload_namespace",
        "destination_principal", "destination_app", "destination_version", "destination_cluster",
        "request_protocol", "response_flags", "connection_security_policy",
    ];

    private static readonly Workload Client = TelemetryFixtures.Pod("cluster1", "default", "client-7d9f", "client", "client", "client-app", "v1", "10.244.1.2");

    private static readonly Workload Echo = TelemetryFixtures.Pod("cluster2", "apps", "echo-5c4b", "echo", "echo", "echo-app", "v2", "10.244.2.11");

    private static readonly ConnectionReport OutboundHbone = new()
    {
        Inbound = false,
        Source = IPEndPoint.Parse("10.244.1.2:40000"),
        Destination = IPEndPoint.Parse("10.244.2.11:15008"),
        SourceWorkload = Client,
        SourceIdentity = SpiffeId.Parse("spiffe://cluster.local/ns/default/sa/client"),
        DestinationWorkload = Echo,
        DestinationIdentity = SpiffeId.Parse("spiffe://cluster.local/ns/apps/sa/echo"),
        DestinationService = "echo.apps.svc.cluster.local",
        DestinationServiceName = "echo",
        DestinationServiceNamespace = "apps",
        MutualTls = true,
        BytesSent = 10,
        BytesReceived = 6,
    };

    private readonly ZtunnelMetrics _metrics = new();
    private readonly CounterRecorder _recorder;
    private readonly StringWriter _log = new(CultureInfo.InvariantCulture);
    private readonly ConnectionReporter _reporter;

    public ConnectionCountingTests()
    {
        _recorder = new CounterRecorder(_metrics.Meter);
        _reporter = new ConnectionReporter(_metrics, new AccessLogWriter(_log, json: false), pollInterval: Timeout.InfiniteTimeSpan);
    }

    public void Dispose()
    {
        _reporter.Dispose();
        _recorder.Dispose();
        _metrics.Dispose();
        _log.Dispose();
    }

    [Fact]
    [Trait("case", "TEL-15")]
    public void TEL_15_every_connection_series_carries_ztunnels_23_labels_in_its_order()
    {
        var seen = new List<string[]>();
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (ReferenceEquals(instrument.Meter, _metrics.Meter) && instrument.Name.StartsWith("istio_tcp_", StringComparison.Ordinal))
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        listener.SetMeasurementEventCallback<long>((instrument, _, tags, _) =>
        {
            lock (seen)
            {
                seen.Add([instrument.Name, .. tags.ToArray().Select(t => t.Key)]);
            }
        });
        listener.Start();

        _reporter.Opened(OutboundHbone);
        _reporter.Report(OutboundHbone with { ResponseFlags = ResponseFlags.Connect }, opened: true);

        Assert.Equal(23, ZtunnelLabels.Length);
        Assert.Equal(
            [
                ZtunnelMetrics.ConnectionsClosedName, ZtunnelMetrics.ConnectionsFailedName, ZtunnelMetrics.ConnectionsOpenedName,
                ZtunnelMetrics.ReceivedBytesName, ZtunnelMetrics.SentBytesName,
            ],
            seen.Select(s => s[0]).Distinct().Order(StringComparer.Ordinal));
        Assert.All(seen, s => Assert.Equal(ZtunnelLabels, s[1..]));
    }

    [Fact]
    [Trait("case", "TEL-16")]
    public void TEL_16_label_values_come_from_the_workloads_and_the_service_as_ztunnel_fills_them()
    {
        _reporter.Opened(OutboundHbone);
        _reporter.Report(OutboundHbone, opened: true);

        var (labels, value) = Assert.Single(_recorder.Series(ZtunnelMetrics.ConnectionsOpenedName));
        Assert.Equal(1, value);
        Assert.Equal(
            new Dictionary<string, string>
            {
                ["reporter"] = "source",
                ["source_workload"] = "client",
                ["source_canonical_service"] = "client-app",
                ["source_canonical_revision"] = "v1",
                ["source_workload_namespace"] = "default",
                ["source_principal"] = "spiffe://cluster.local/ns/default/sa/client",
                ["source_app"] = "client-app",
                ["source_version"] = "v1",
                ["source_cluster"] = "cluster1",
                ["destination_service"] = "echo.apps.svc.cluster.local",
                ["destination_service_namespace"] = "apps",
                ["destination_service_name"] = "echo",
                ["destination_workload"] = "echo",
                ["destination_canonical_service"] = "echo-app",
                ["destination_canonical_revision"] = "v2",
                ["destination_workload_namespace"] = "apps",
                ["destination_principal"] = "spiffe://cluster.local/ns/apps/sa/echo",
                ["destination_app"] = "echo-app",
                ["destination_version"] = "v2",
                ["destination_cluster"] = "cluster2",
                ["request_protocol"] = "tcp",
                ["response_flags"] = "-",
                ["connection_security_policy"] = "mutual_tls",
            },
            labels.ToDictionary(t => t.Key, t => (string)t.Value!));
    }

    [Fact]
    [Trait("case", "TEL-16")]
    public void TEL_16_what_the_model_does_not_say_is_unknown_and_plain_TCP_has_no_source_principal()
    {
        var bare = new Workload { Uid = "u", Name = "bare-pod", Namespace = "default", ServiceAccount = "default", CanonicalName = "", ClusterId = "" };
        var report = new ConnectionReport
        {
            Inbound = false,
            SourceWorkload = bare,
            SourceIdentity = SpiffeId.Parse("spiffe://cluster.local/ns/default/sa/default"),
            MutualTls = false,
        };

        _reporter.Opened(report);

        var (labels, _) = Assert.Single(_recorder.Series(ZtunnelMetrics.ConnectionsOpenedName));
        var values = labels.ToDictionary(t => t.Key, t => (string)t.Value!);
        Assert.Equal("bare-pod", values["source_workload"]);
        Assert.Equal("unknown", values["source_canonical_service"]);
        Assert.Equal("unknown", values["source_app"]);
        Assert.Equal("unknown", values["source_cluster"]);
        Assert.Equal("unknown", values["source_principal"]);
        Assert.Equal("unknown", values["destination_service_name"]);
        Assert.Equal("unknown", values["connection_security_policy"]);
    }

    [Fact]
    [Trait("case", "TEL-14")]
    public void TEL_14_a_denied_connection_is_opened_without_a_flag_then_closed_and_failed_with_DENY()
    {
        _reporter.Opened(OutboundHbone);
        _reporter.Report(OutboundHbone with { BytesSent = 0, BytesReceived = 0, ResponseFlags = ResponseFlags.Deny }, opened: true);

        Assert.Equal(1, _recorder.Value(ZtunnelMetrics.ConnectionsOpenedName, "response_flags", "-"));
        Assert.Equal(0, _recorder.Value(ZtunnelMetrics.ConnectionsOpenedName, "response_flags", "DENY"));
        Assert.Equal(1, _recorder.Value(ZtunnelMetrics.ConnectionsClosedName, "response_flags", "DENY"));
        Assert.Equal(0, _recorder.Value(ZtunnelMetrics.ConnectionsClosedName, "response_flags", "-"));
        Assert.Equal(1, _recorder.Value(ZtunnelMetrics.ConnectionsFailedName, "response_flags", "DENY"));
        // The byte series are the ones it opened with (flag "-"), created at 0 as ztunnel's are.
        Assert.Equal(["-"], _recorder.Series(ZtunnelMetrics.ReceivedBytesName).Select(s => (string)s.Labels.Single(t => t.Key == "response_flags").Value!));
        Assert.Equal(0, _recorder.Value(ZtunnelMetrics.ReceivedBytesName, "response_flags", "-"));
    }

    [Fact]
    [Trait("case", "TEL-14")]
    public void TEL_14_a_connection_that_ends_well_counts_no_failure()
    {
        _reporter.Opened(OutboundHbone);
        _reporter.Report(OutboundHbone, opened: true);

        Assert.Equal(1, _recorder.Value(ZtunnelMetrics.ConnectionsClosedName, "response_flags", "-"));
        Assert.Empty(_recorder.Series(ZtunnelMetrics.ConnectionsFailedName));
    }

    [Theory]
    [Trait("case", "TEL-17")]
    [InlineData("identity", "IDENTITY_ERROR")]
    [InlineData("svid", "TLS_FAILURE")]
    [InlineData("authentication", "TLS_FAILURE")]
    [InlineData("tls-reset", "TLS_FAILURE")]
    [InlineData("no-h2", "H2_HANDSHAKE_FAILURE")]
    [InlineData("tcp-refused", "CONNECT")]
    [InlineData("connect-401", "CONNECT")]
    [InlineData("cancelled", "CONNECT")]
    public void TEL_17_an_outbound_connect_failure_is_flagged_as_far_as_the_exception_tells(string failure, string flag)
    {
        Exception ex = failure switch
        {
            "identity" => new IstioException(IstioErrorReason.ControlPlaneUnavailable, "CA unreachable"),
            "svid" => new HboneException(HboneErrorReason.InvalidSvid, "peer is spiffe://cluster.local/ns/x/sa/y"),
            "authentication" => new HboneException(HboneErrorReason.ConnectionFailed, "TLS handshake failed", new AuthenticationException()),
            "tls-reset" => new HboneException(HboneErrorReason.ConnectionFailed, "reset during TLS", new IOException()),
            "no-h2" => new HboneException(HboneErrorReason.ConnectionFailed, "The server did not negotiate ALPN h2."),
            "tcp-refused" => new HboneException(HboneErrorReason.ConnectionFailed, "refused", new SocketException((int)SocketError.ConnectionRefused)),
            "connect-401" => new HboneConnectException(401, "10.244.2.11:8080"),
            _ => new OperationCanceledException(),
        };

        Assert.Equal(flag, ResponseFlags.ForOutbound(ex));
    }
}
