using Hbone.Ztunnel.Telemetry;
using static Hbone.Ztunnel.Tests.Telemetry.TelemetryFixtures;

namespace Hbone.Ztunnel.Tests.Telemetry;

public class ZtunnelMetricsTests
{
    [Fact]
    [Trait("case", "TEL-08")]
    public void TEL_08_labels_default_to_istio_unknowns()
    {
        var labels = new ConnectionLabels { Reporter = ConnectionLabels.DestinationReporter };

        Assert.Equal("unknown", labels.SourceWorkload);
        Assert.Equal("unknown", labels.SourceCanonicalService);
        Assert.Equal("unknown", labels.SourceCanonicalRevision);
        Assert.Equal("unknown", labels.SourceWorkloadNamespace);
        Assert.Equal("unknown", labels.SourcePrincipal);
        Assert.Equal("unknown", labels.SourceApp);
        Assert.Equal("unknown", labels.SourceVersion);
        Assert.Equal("unknown", labels.SourceCluster);
        Assert.Equal("unknown", labels.DestinationService);
        Assert.Equal("unknown", labels.DestinationServiceNamespace);
        Assert.Equal("unknown", labels.DestinationServiceName);
        Assert.Equal("unknown", labels.DestinationWorkload);
        Assert.Equal("unknown", labels.DestinationCanonicalService);
        Assert.Equal("unknown", labels.DestinationCanonicalRevision);
        Assert.Equal("unknown", labels.DestinationWorkloadNamespace);
        Assert.Equal("unknown", labels.DestinationPrincipal);
        Assert.Equal("unknown", labels.DestinationApp);
        Assert.Equal("unknown", labels.DestinationVersion);
        Assert.Equal("unknown", labels.DestinationCluster);
        Assert.Equal("tcp", labels.RequestProtocol);
        Assert.Equal("-", labels.ResponseFlags);
        Assert.Equal("unknown", labels.ConnectionSecurityPolicy);
    }

    [Fact]
    [Trait("case", "TEL-08")]
    public void TEL_08_equal_label_records_are_one_series_key()
    {
        Assert.Equal(ClientToEcho(), ClientToEcho());
        Assert.Equal(ClientToEcho().GetHashCode(), ClientToEcho().GetHashCode());
        Assert.NotEqual(ClientToEcho(), ClientToEcho() with { ResponseFlags = ResponseFlags.Deny });
    }

    [Fact]
    [Trait("case", "TEL-08")]
    public void TEL_08_negative_byte_counts_are_rejected()
    {
        using var metrics = new ZtunnelMetrics();

        Assert.Throws<ArgumentOutOfRangeException>(() => metrics.ConnectionClosed(ClientToEcho(), -1, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => metrics.ConnectionClosed(ClientToEcho(), 0, -1));
        Assert.Throws<ArgumentNullException>(() => metrics.ConnectionOpened(null!));
    }

    [Fact]
    [Trait("case", "TEL-08")]
    public void TEL_08_meter_is_named_hbone_ztunnel_and_disposed_with_the_metrics()
    {
        var metrics = new ZtunnelMetrics();
        using var exporter = new CounterRecorder(metrics.Meter);
        Assert.Equal("Hbone.Ztunnel", metrics.Meter.Name);

        metrics.ConnectionOpened(ClientToEcho());
        metrics.Dispose();
        metrics.ConnectionOpened(ClientToEcho());

        // Recording after dispose is a no-op; what was counted stays exported.
        Assert.Equal(
            [$"istio_tcp_connections_opened_total{{{ClientToEchoSeries()}}} 1"],
            SeriesLines(exporter.Render(), ZtunnelMetrics.ConnectionsOpenedName));
    }
}
