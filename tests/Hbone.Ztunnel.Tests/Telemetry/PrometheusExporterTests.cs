using System.Diagnostics.Metrics;
using Hbone.Ztunnel.Telemetry;
using Microsoft.Extensions.DependencyInjection;
using static Hbone.Ztunnel.Tests.Telemetry.TelemetryFixtures;

namespace Hbone.Ztunnel.Tests.Telemetry;

public class PrometheusExporterTests
{
    // The DNS proxy's counters (no series until a pod asks): their HELP and TYPE lines sort first.
    private const string DnsCounters =
        "# HELP istio_dns_requests_total Total number of DNS requests (unstable)\n" +
        "# TYPE istio_dns_requests_total counter\n" +
        "# HELP istio_dns_upstream_failures_total Total number of DNS requests that failed to forward upstream (unstable)\n" +
        "# TYPE istio_dns_upstream_failures_total counter\n" +
        "# HELP istio_dns_upstream_requests_total Total number of DNS requests forwarded to upstream (unstable)\n" +
        "# TYPE istio_dns_upstream_requests_total counter\n";

    private const string EmptyExposition =
        DnsCounters +
        "# HELP istio_tcp_connections_closed_total The total number of TCP connections closed.\n" +
        "# TYPE istio_tcp_connections_closed_total counter\n" +
        "# HELP istio_tcp_connections_opened_total The total number of TCP connections opened.\n" +
        "# TYPE istio_tcp_connections_opened_total counter\n" +
        "# HELP istio_tcp_received_bytes_total The size of total bytes received during request in case of a TCP connection.\n" +
        "# TYPE istio_tcp_received_bytes_total counter\n" +
        "# HELP istio_tcp_sent_bytes_total The size of total bytes sent during response in case of a TCP connection.\n" +
        "# TYPE istio_tcp_sent_bytes_total counter\n";

    [Fact]
    [Trait("case", "TEL-01")]
    public void TEL_01_opened_and_closed_connections_appear_as_exact_series_lines()
    {
        using var metrics = new ZtunnelMetrics();
        using var exporter = new PrometheusExporter(metrics.Meter);

        metrics.ConnectionOpened(ClientToEcho());
        metrics.ConnectionOpened(ClientToEcho());
        metrics.ConnectionClosed(ClientToEcho(), bytesReceived: 6, bytesSent: 10);
        metrics.ConnectionClosed(ClientToEcho(), bytesReceived: 4, bytesSent: 0);

        string series = ClientToEchoSeries();
        string expected =
            DnsCounters +
            "# HELP istio_tcp_connections_closed_total The total number of TCP connections closed.\n" +
            "# TYPE istio_tcp_connections_closed_total counter\n" +
            $"istio_tcp_connections_closed_total{{{series}}} 2\n" +
            "# HELP istio_tcp_connections_opened_total The total number of TCP connections opened.\n" +
            "# TYPE istio_tcp_connections_opened_total counter\n" +
            $"istio_tcp_connections_opened_total{{{series}}} 2\n" +
            "# HELP istio_tcp_received_bytes_total The size of total bytes received during request in case of a TCP connection.\n" +
            "# TYPE istio_tcp_received_bytes_total counter\n" +
            $"istio_tcp_received_bytes_total{{{series}}} 10\n" +
            "# HELP istio_tcp_sent_bytes_total The size of total bytes sent during response in case of a TCP connection.\n" +
            "# TYPE istio_tcp_sent_bytes_total counter\n" +
            $"istio_tcp_sent_bytes_total{{{series}}} 10\n";
        Assert.Equal(expected, exporter.Render());
    }

    [Fact]
    [Trait("case", "TEL-01")]
    public void TEL_01_series_are_one_per_label_set_and_sorted_by_label_string()
    {
        using var metrics = new ZtunnelMetrics();
        using var exporter = new PrometheusExporter(metrics.Meter);

        metrics.ConnectionOpened(ClientToEcho(ConnectionLabels.SourceReporter));
        metrics.ConnectionOpened(ClientToEcho(ConnectionLabels.DestinationReporter));
        metrics.ConnectionOpened(ClientToEcho(ConnectionLabels.DestinationReporter));
        metrics.ConnectionOpened(ClientToEcho() with { ConnectionSecurityPolicy = ConnectionLabels.Unknown });

        Assert.Equal(
            [
                $"istio_tcp_connections_opened_total{{{ClientToEchoSeries(ConnectionLabels.DestinationReporter)}}} 2",
                $"istio_tcp_connections_opened_total{{{ClientToEchoSeries()}}} 1",
                $"istio_tcp_connections_opened_total{{{ClientToEchoSeries().Replace("mutual_tls", "unknown", StringComparison.Ordinal)}}} 1",
            ],
            SeriesLines(exporter.Render(), ZtunnelMetrics.ConnectionsOpenedName));
    }

    [Fact]
    [Trait("case", "TEL-02")]
    public void TEL_02_label_values_escape_backslash_quote_and_newline()
    {
        using var metrics = new ZtunnelMetrics();
        using var exporter = new PrometheusExporter(metrics.Meter);

        metrics.ConnectionOpened(new ConnectionLabels { Reporter = "destination", SourceWorkload = "a\\b\"c\nd" });

        Assert.Equal(
            [
                "istio_tcp_connections_opened_total{connection_security_policy=\"unknown\",destination_principal=\"unknown\"," +
                "destination_service=\"unknown\",destination_workload=\"unknown\",destination_workload_namespace=\"unknown\"," +
                "reporter=\"destination\",request_protocol=\"tcp\",response_flags=\"-\",source_principal=\"unknown\"," +
                "source_workload=\"a\\\\b\\\"c\\nd\",source_workload_namespace=\"unknown\"} 1",
            ],
            SeriesLines(exporter.Render(), ZtunnelMetrics.ConnectionsOpenedName));
    }

    [Fact]
    [Trait("case", "TEL-03")]
    public void TEL_03_counters_without_series_still_have_help_and_type()
    {
        using var metrics = new ZtunnelMetrics();
        using var exporter = new PrometheusExporter(metrics.Meter);

        Assert.Equal(EmptyExposition, exporter.Render());
        Assert.Equal("text/plain; version=0.0.4; charset=utf-8", PrometheusExporter.ContentType);
    }

    [Fact]
    [Trait("case", "TEL-04")]
    public void TEL_04_an_exporter_sees_only_its_own_meter_instance()
    {
        using var first = new ZtunnelMetrics();
        using var second = new ZtunnelMetrics();
        using var firstExporter = new PrometheusExporter(first.Meter);
        using var secondExporter = new PrometheusExporter(second.Meter);

        first.ConnectionOpened(ClientToEcho());

        Assert.Equal(
            [$"istio_tcp_connections_opened_total{{{ClientToEchoSeries()}}} 1"],
            SeriesLines(firstExporter.Render(), ZtunnelMetrics.ConnectionsOpenedName));
        Assert.Equal(EmptyExposition, secondExporter.Render());
    }

    [Fact]
    [Trait("case", "TEL-04")]
    public void TEL_04_by_name_the_exporter_sums_every_meter_of_that_name_and_ignores_other_instrument_kinds()
    {
        string name = "Test.Telemetry." + Guid.NewGuid().ToString("N");
        using var a = new Meter(name);
        using var b = new Meter(name);
        using var other = new Meter(name + ".other");
        using var exporter = new PrometheusExporter(name);

        a.CreateCounter<long>("requests_total", description: "Requests.").Add(2, new KeyValuePair<string, object?>("code", 200));
        b.CreateCounter<long>("requests_total", description: "Requests.").Add(3, new KeyValuePair<string, object?>("code", 200));
        other.CreateCounter<long>("requests_total").Add(100);
        a.CreateHistogram<long>("latency").Record(5);

        Assert.Equal(
            "# HELP requests_total Requests.\n# TYPE requests_total counter\nrequests_total{code=\"200\"} 5\n",
            exporter.Render());
    }

    [Fact]
    [Trait("case", "TEL-05")]
    public void TEL_05_tag_order_does_not_split_a_series_and_names_are_sanitized()
    {
        using var meter = new Meter("Test.Telemetry.Order");
        using var exporter = new PrometheusExporter(meter);
        Counter<long> counter = meter.CreateCounter<long>("hbone.tunnels", description: "Line one\nback\\slash");

        counter.Add(1, new("b", "2"), new("a.x", "1"));
        counter.Add(1, new("a.x", "1"), new("b", "2"));
        counter.Add(7);

        Assert.Equal(
            "# HELP hbone_tunnels Line one\\nback\\\\slash\n" +
            "# TYPE hbone_tunnels counter\n" +
            "hbone_tunnels 7\n" +
            "hbone_tunnels{a_x=\"1\",b=\"2\"} 2\n",
            exporter.Render());
    }

    [Fact]
    [Trait("case", "TEL-06")]
    public async Task TEL_06_concurrent_recording_loses_no_increments()
    {
        using var metrics = new ZtunnelMetrics();
        using var exporter = new PrometheusExporter(metrics.Meter);
        const int Threads = 8;
        const int PerThread = 5_000;

        await Task.WhenAll(Enumerable.Range(0, Threads).Select(i => Task.Run(() =>
        {
            ConnectionLabels labels = ClientToEcho(i % 2 == 0 ? ConnectionLabels.SourceReporter : ConnectionLabels.DestinationReporter);
            for (int n = 0; n < PerThread; n++)
            {
                metrics.ConnectionClosed(labels, bytesReceived: 3, bytesSent: 1);
            }
        })));

        long half = Threads / 2 * PerThread;
        Assert.Equal(
            [
                $"istio_tcp_received_bytes_total{{{ClientToEchoSeries(ConnectionLabels.DestinationReporter)}}} {half * 3}",
                $"istio_tcp_received_bytes_total{{{ClientToEchoSeries()}}} {half * 3}",
            ],
            SeriesLines(exporter.Render(), ZtunnelMetrics.ReceivedBytesName));
        Assert.Equal(
            [
                $"istio_tcp_connections_closed_total{{{ClientToEchoSeries(ConnectionLabels.DestinationReporter)}}} {half}",
                $"istio_tcp_connections_closed_total{{{ClientToEchoSeries()}}} {half}",
            ],
            SeriesLines(exporter.Render(), ZtunnelMetrics.ConnectionsClosedName));
    }

    [Fact]
    [Trait("case", "TEL-06")]
    public void TEL_06_recording_into_an_existing_series_allocates_nothing()
    {
        using var metrics = new ZtunnelMetrics();
        using var exporter = new PrometheusExporter(metrics.Meter);
        ConnectionLabels labels = ClientToEcho();
        for (int i = 0; i < 100; i++)
        {
            metrics.ConnectionOpened(labels);
            metrics.ConnectionClosed(labels, 1, 1);
        }

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 1_000; i++)
        {
            metrics.ConnectionOpened(labels);
            metrics.ConnectionClosed(labels, 1, 1);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Fact]
    [Trait("case", "TEL-06")]
    public void TEL_06_write_to_matches_render()
    {
        using var metrics = new ZtunnelMetrics();
        using var exporter = new PrometheusExporter(metrics.Meter);
        metrics.ConnectionClosed(ClientToEcho(), 1, 2);

        using var writer = new StringWriter();
        exporter.WriteTo(writer);

        Assert.Equal(exporter.Render(), writer.ToString());
    }

    [Fact]
    [Trait("case", "TEL-07")]
    public void TEL_07_metrics_from_a_meter_factory_use_the_ztunnel_meter_name()
    {
        using ServiceProvider services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        IMeterFactory factory = services.GetRequiredService<IMeterFactory>();
        using var metrics = new ZtunnelMetrics(factory);
        using var exporter = new PrometheusExporter(metrics.Meter);

        metrics.ConnectionOpened(ClientToEcho());

        Assert.Equal(ZtunnelMetrics.MeterName, metrics.Meter.Name);
        Assert.Same(factory, metrics.Meter.Scope);
        Assert.Single(SeriesLines(exporter.Render(), ZtunnelMetrics.ConnectionsOpenedName));
    }
}
