using System.Net;
using System.Net.Sockets;
using Hbone.Ztunnel.Config;
using Hbone.Ztunnel.InPod;
using Hbone.Ztunnel.Proxy;
using Hbone.Ztunnel.State;
using Hbone.Ztunnel.Telemetry;
using Hbone.Ztunnel.Tests.Telemetry;
using Hbone.Ztunnel.Zds;
using Microsoft.Extensions.Logging.Abstractions;

namespace Hbone.Ztunnel.Tests.Proxy;

/// <summary>
/// A connection a real policy denies, through the real plaintext inbound path of a pod's proxy (in a network namespace
/// this test creates), counted as ztunnel counts it and read back by scraping the stats port.
/// </summary>
public sealed class DeniedConnectionMetricsTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);
    private const string EchoUid = "cluster1//v1/Pod/apps/echo-5c4b";

    private const string Yaml = """
        workloads:
        - uid: cluster1//v1/Pod/apps/echo-5c4b
          name: echo-5c4b
          namespace: apps
          serviceAccount: echo
          workloadIps: ["10.244.1.11"]
          protocol: HBONE
          canonicalName: echo
          canonicalRevision: v2
          clusterId: cluster1
          services: { "apps/echo.apps.svc.cluster.local": { 80: 8080 } }
        services:
        - name: echo
          namespace: apps
          hostname: echo.apps.svc.cluster.local
          vips: ["/10.96.0.10"]
          ports: { 80: 8080 }
        policies:
        - name: deny-8080
          namespace: apps
          scope: Namespace
          action: Deny
          rules: [[[ { destinationPorts: [8080] } ]]]
        """;

    [Fact]
    [Trait("case", "TEL-14")]
    public async Task TEL_14_a_connection_a_policy_denies_counts_opened_with_no_flag_and_closed_and_failed_with_DENY()
    {
        using var netns = new TestNetns();
        var store = new WorkloadStore();
        store.Update(LocalConfigParser.Parse(Yaml));
        using var metrics = new ZtunnelMetrics();
        using var log = new StringWriter();
        using var reporter = new ConnectionReporter(metrics, new AccessLogWriter(log, json: false), pollInterval: Timeout.InfiniteTimeSpan);
        var context = new ProxyContext(new ZtunnelConfig { DnsProxy = false }, store, identities: null!, new PodRegistry(NullLogger<PodRegistry>.Instance), reporter, NullLoggerFactory.Instance);
        await using var pod = new PodProxy(EchoUid, new WorkloadInfo { Name = "echo-5c4b", Namespace = "apps", ServiceAccount = "echo" }, File.OpenHandle(netns.Path), context);
        await using var scrape = await MetricsScrape.StartAsync(metrics.Meter);

        // A client's connection to the app's port 8080 as the pod's 15006 would accept it (TPROXY keeps that destination).
        using var listener = pod.Sockets.Listen(new IPEndPoint(IPAddress.Loopback, 8080), transparent: false);
        using var client = pod.Sockets.Outbound(AddressFamily.InterNetwork, null);
        await client.ConnectAsync(new IPEndPoint(IPAddress.Loopback, 8080)).WaitAsync(Deadline);
        var accepted = await listener.AcceptAsync().WaitAsync(Deadline);
        await context.InboundPlaintext.HandleAsync(pod, accepted).WaitAsync(Deadline);

        // The client is reset, and the access log says why.
        await Assert.ThrowsAsync<SocketException>(async () =>
        {
            var buffer = new byte[1];
            if (await client.ReceiveAsync(buffer, SocketFlags.None).WaitAsync(Deadline) == 0)
            {
                throw new SocketException((int)SocketError.ConnectionReset);
            }
        });
        Assert.Contains("denied by policy", log.ToString(), StringComparison.Ordinal);

        var families = PrometheusText.Parse(await scrape.TextAsync());
        PrometheusSample opened = Assert.Single(families["istio_tcp_connections_opened_total"].Samples);
        PrometheusSample closed = Assert.Single(families["istio_tcp_connections_closed_total"].Samples);
        PrometheusSample failed = Assert.Single(families["istio_tcp_connections_failed_total"].Samples);
        Assert.Equal(("-", 1.0), (opened.Labels["response_flags"], opened.Value));
        Assert.Equal(("DENY", 1.0), (closed.Labels["response_flags"], closed.Value));
        Assert.Equal(("DENY", 1.0), (failed.Labels["response_flags"], failed.Value));
        PrometheusSample received = Assert.Single(families["istio_tcp_received_bytes_total"].Samples);
        Assert.Equal(("-", 0.0), (received.Labels["response_flags"], received.Value));

        // Otherwise the same series: the destination as the model describes it, the service guessed from the target port.
        foreach (PrometheusSample sample in new[] { closed, failed })
        {
            Assert.Equal(opened.Labels.Where(l => l.Key != "response_flags"), sample.Labels.Where(l => l.Key != "response_flags"));
        }

        Assert.Equal("destination", opened.Labels["reporter"]);
        Assert.Equal("echo-5c4b", opened.Labels["destination_workload"]);
        Assert.Equal("echo", opened.Labels["destination_canonical_service"]);
        Assert.Equal("v2", opened.Labels["destination_version"]);
        Assert.Equal("cluster1", opened.Labels["destination_cluster"]);
        Assert.Equal("echo.apps.svc.cluster.local", opened.Labels["destination_service"]);
        Assert.Equal("echo", opened.Labels["destination_service_name"]);
        Assert.Equal("apps", opened.Labels["destination_service_namespace"]);
        Assert.Equal("unknown", opened.Labels["source_principal"]);
        Assert.Equal("unknown", opened.Labels["connection_security_policy"]);
    }
}
