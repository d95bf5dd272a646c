using System.Net;
using System.Net.Sockets;
using Hbone.Ztunnel.Config;
using Hbone.Ztunnel.Dns;
using Hbone.Ztunnel.InPod;
using Hbone.Ztunnel.State;
using Hbone.Ztunnel.Telemetry;
using Hbone.Ztunnel.Tests.Telemetry;
using Hbone.Ztunnel.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using static Hbone.Ztunnel.Tests.Dns.DnsMessages;

using static Hbone.Ztunnel.Tests.Dns.DnsFixtures;

namespace Hbone.Ztunnel.Tests.Dns;

/// <summary>
/// A pod's DNS proxy in a real network namespace, asked by <c>dig</c> (BIND's client) and by raw sockets, forwarding to
/// dnsmasq in the same namespace.
/// </summary>
public sealed class PodDnsServerTests : IAsyncLifetime
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);
    private const string UpstreamAddress = "127.0.0.53";
    private static readonly IPEndPoint ProxyAddress = new(IPAddress.Loopback, 15053);
    private static readonly Workload Client = Pod("client", "default", "10.244.1.2");
    private readonly TestNetns _netns = new();
    private readonly string _resolvConf = Path.GetTempFileName();
    private PodNetnsScope? _scope;
    private Dnsmasq? _upstream;
    private PodDnsServer? _server;

    private PodSockets Sockets => _scope!.Sockets;

    public async Task InitializeAsync()
    {
        _scope = new PodNetnsScope(_netns);
        await File.WriteAllTextAsync(_resolvConf, $"# as kubelet writes it\nsearch default.svc.cluster.local svc.cluster.local\nnameserver {UpstreamAddress}\noptions ndots:5\n");
        _upstream = await Dnsmasq.StartAsync(_netns.Name, UpstreamAddress, new Dictionary<string, string> { ["external.test"] = "192.0.2.7" }, Deadline);
        var store = new WorkloadStore();
        store.Update(new LocalConfig(
            [Client, .. Enumerable.Range(1, 40).Select(i => Pod($"big-{i}", "data", $"10.244.3.{i}", service: "data/big.data.svc.cluster.local"))],
            [Svc("echo", "default", "echo.default.svc.cluster.local", "10.96.0.10"), Svc("big", "data", "big.data.svc.cluster.local")],
            []));
        _server = new PodDnsServer(Sockets, ProxyAddress, () => Client, Responder(store, _resolvConf));
    }

    public async Task DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }

        if (_upstream is not null)
        {
            await _upstream.DisposeAsync();
        }

        _scope?.Dispose();
        _netns.Dispose();
        File.Delete(_resolvConf);
    }

    [Fact]
    [Trait("case", "INT-04")]
    public void Dig_resolves_a_mesh_service_to_its_VIP_over_UDP_and_over_TCP()
    {
        Assert.Equal("10.96.0.10", Dig("echo.default.svc.cluster.local").Trim());
        Assert.Equal("10.96.0.10", Dig("echo.default.svc.cluster.local", "+tcp").Trim());
        Assert.Equal("10.96.0.10", Dig("echo").Trim());
    }

    [Fact]
    [Trait("case", "INT-04")]
    public void An_answer_too_big_for_UDP_comes_truncated_and_dig_gets_it_whole_over_TCP()
    {
        byte[] reply = Exchange(Query("big.data.svc.cluster.local", 1));
        string retried = _netns.Exec("dig", "@127.0.0.1", "-p", "15053", "+noedns", "big.data.svc.cluster.local", "A");

        Assert.True(Truncated(reply));
        Assert.Equal(0, Count(reply, 1));
        Assert.Contains("Truncated, retrying in TCP mode", retried, StringComparison.Ordinal);
        Assert.Equal(Enumerable.Range(1, 40).Select(i => $"10.244.3.{i}").Order(), Dig("big.data.svc.cluster.local", "+noedns").Split('\n', StringSplitOptions.RemoveEmptyEntries).Order());
    }

    [Fact]
    [Trait("case", "INT-04")]
    public void A_name_outside_the_mesh_gets_the_upstream_s_reply_byte_for_byte_over_UDP_and_TCP()
    {
        byte[] query = Query("external.test", 1, id: 0x4242, ednsSize: 1232);

        byte[] viaProxy = Exchange(query);
        byte[] direct = Exchange(query, new IPEndPoint(IPAddress.Parse(UpstreamAddress), 53));

        Assert.Equal(direct, viaProxy);
        Assert.Equal([(1, "192.0.2.7")], Answers(viaProxy).Select(a => ((int)a.Type, a.Data)));
        Assert.Equal("192.0.2.7", Dig("external.test", "+tcp").Trim());
    }

    [Fact]
    [Trait("case", "INT-04")]
    public void A_malformed_packet_gets_FORMERR_and_the_proxy_keeps_answering()
    {
        byte[] garbage = [0xAB, 0xCD, 0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0x3F, 0x61, 0x62];

        byte[] reply = Exchange(garbage);

        Assert.Equal((0xABCD, 1), (Id(reply), Rcode(reply)));
        Assert.Equal("10.96.0.10", Dig("echo.default.svc.cluster.local").Trim());
    }

    [Fact]
    [Trait("case", "INT-04")]
    public async Task A_pod_the_config_does_not_know_and_a_dead_upstream_both_get_SERVFAIL()
    {
        string deadResolvConf = Path.GetTempFileName();
        try
        {
            await File.WriteAllTextAsync(deadResolvConf, "nameserver 127.0.0.54\n");
            var store = new WorkloadStore();
            store.Update(new LocalConfig([Client], [], []));
            var unknown = new IPEndPoint(IPAddress.Loopback, 15054);
            var deadEnd = new IPEndPoint(IPAddress.Loopback, 15055);
            await using var forUnknown = new PodDnsServer(Sockets, unknown, () => null, Responder(store, _resolvConf));
            await using var forDeadEnd = new PodDnsServer(Sockets, deadEnd, () => Client, Responder(store, deadResolvConf));

            Assert.Equal(2, Rcode(Exchange(Query("external.test", 1), unknown)));
            Assert.Equal(2, Rcode(Exchange(Query("external.test", 1), deadEnd)));
        }
        finally
        {
            File.Delete(deadResolvConf);
        }
    }

    [Fact]
    public async Task The_DNS_counters_count_every_request_each_forward_and_each_failed_forward_with_ztunnel_s_labels()
    {
        using var metrics = new ZtunnelMetrics();
        using var exporter = new CounterRecorder(metrics.Meter);
        string deadResolvConf = Path.GetTempFileName();
        try
        {
            await File.WriteAllTextAsync(deadResolvConf, "nameserver 127.0.0.54\n");
            var store = new WorkloadStore();
            store.Update(new LocalConfig([Client with { CanonicalName = "client-app", CanonicalRevision = "v1" }], [Svc("echo", "default", "echo.default.svc.cluster.local", "10.96.0.10")], []));
            var counted = new IPEndPoint(IPAddress.Loopback, 15056);
            var deadEnd = new IPEndPoint(IPAddress.Loopback, 15057);
            await using var server = new PodDnsServer(Sockets, counted, () => store.Current.FindWorkloadByUid(Client.Uid), Responder(store, _resolvConf, metrics));
            await using var failing = new PodDnsServer(Sockets, deadEnd, () => store.Current.FindWorkloadByUid(Client.Uid), Responder(store, deadResolvConf, metrics));

            Exchange(Query("echo.default.svc.cluster.local", 1), counted);
            Exchange(Query("external.test", 28), counted);
            Exchange(Query("external.test", 1), deadEnd);
            string text = exporter.Render();

            // The recorder writes labels in name order.
            const string Source = "source_canonical_revision=\"v1\",source_canonical_service=\"client-app\"";
            Assert.Contains($"istio_dns_requests_total{{request_protocol=\"udp\",request_query_type=\"a\",{Source}}} 2", text, StringComparison.Ordinal);
            Assert.Contains($"istio_dns_requests_total{{request_protocol=\"udp\",request_query_type=\"aaaa\",{Source}}} 1", text, StringComparison.Ordinal);
            Assert.Contains($"istio_dns_upstream_requests_total{{request_protocol=\"udp\",request_query_type=\"aaaa\",{Source}}} 1", text, StringComparison.Ordinal);
            Assert.Contains($"istio_dns_upstream_requests_total{{request_protocol=\"udp\",request_query_type=\"a\",{Source}}} 1", text, StringComparison.Ordinal);
            Assert.Contains($"istio_dns_upstream_failures_total{{request_protocol=\"udp\",request_query_type=\"a\",{Source}}} 1", text, StringComparison.Ordinal);
            Assert.DoesNotContain("istio_dns_upstream_failures_total{request_protocol=\"udp\",request_query_type=\"aaaa\"", text, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(deadResolvConf);
        }
    }

    [Fact]
    [Trait("case", "INT-04")]
    public async Task Queries_beyond_the_in_flight_bound_are_dropped_until_one_finishes()
    {
        string silentResolvConf = Path.GetTempFileName();
        try
        {
            // An upstream that takes every query and answers none: the forward holds its slot until the 5 s timeout.
            using Socket silent = Sockets.Datagram(new IPEndPoint(IPAddress.Parse("127.0.0.55"), 53));
            await File.WriteAllTextAsync(silentResolvConf, "nameserver 127.0.0.55\n");
            var store = new WorkloadStore();
            store.Update(new LocalConfig([Client], [Svc("echo", "default", "echo.default.svc.cluster.local", "10.96.0.10")], []));
            var bounded = new IPEndPoint(IPAddress.Loopback, 15058);
            await using var server = new PodDnsServer(Sockets, bounded, () => Client, Responder(store, silentResolvConf, upstreamTimeout: TimeSpan.FromSeconds(5)), maxInFlight: 1);
            using Socket forwarding = Connected(bounded);
            using Socket asking = Connected(bounded);

            forwarding.Send(Query("external.test", 1, id: 1));
            byte[] buffer = new byte[512];
            silent.ReceiveTimeout = (int)Deadline.TotalMilliseconds;
            Assert.True(silent.Receive(buffer) > 0); // the forward is in flight now
            asking.Send(Query("echo.default.svc.cluster.local", 1, id: 2));
            asking.ReceiveTimeout = 500;
            var dropped = Assert.Throws<SocketException>(() => asking.Receive(buffer));
            forwarding.ReceiveTimeout = (int)Deadline.TotalMilliseconds;
            int failed = forwarding.Receive(buffer);

            // The slot frees just after that reply went out: ask again as a resolver client does, until answered.
            byte[] answered = AskUntilAnswered(asking, Query("echo.default.svc.cluster.local", 1, id: 3));

            Assert.Equal(SocketError.TimedOut, dropped.SocketErrorCode);
            Assert.True(failed >= 12);
            Assert.Equal((3, 0), (Id(answered), Rcode(answered)));
        }
        finally
        {
            File.Delete(silentResolvConf);
        }
    }

    private static byte[] AskUntilAnswered(Socket socket, byte[] query)
    {
        socket.ReceiveTimeout = 200;
        byte[] buffer = new byte[512];
        var deadline = DateTime.UtcNow + Deadline;
        while (true)
        {
            socket.Send(query);
            try
            {
                return buffer[..socket.Receive(buffer)];
            }
            catch (SocketException ex) when (ex.SocketErrorCode == SocketError.TimedOut && DateTime.UtcNow < deadline)
            {
                // Dropped or slow: retry, as a resolver client does.
            }
        }
    }

    private Socket Connected(IPEndPoint to)
    {
        Socket socket = Sockets.OutboundDatagram(AddressFamily.InterNetwork);
        socket.Connect(to);
        return socket;
    }

    private static DnsResponder Responder(WorkloadStore store, string resolvConf, ZtunnelMetrics? metrics = null, TimeSpan? upstreamTimeout = null) =>
        new(store, new MeshNameLookup(), new DnsUpstream(ResolvConf.Load(resolvConf), upstreamTimeout ?? TimeSpan.FromSeconds(2)), NullLogger<DnsResponder>.Instance, metrics);

    /// <summary><c>dig +short</c> inside the pod's namespace, against the proxy's address.</summary>
    private string Dig(string name, params string[] options) =>
        _netns.Exec(["dig", "@127.0.0.1", "-p", "15053", "+short", "+time=5", "+tries=1", .. options, name, "A"]);

    /// <summary>One UDP exchange from a socket inside the pod's namespace.</summary>
    private byte[] Exchange(byte[] query, IPEndPoint? to = null)
    {
        using Socket socket = Sockets.OutboundDatagram(AddressFamily.InterNetwork);
        socket.ReceiveTimeout = (int)Deadline.TotalMilliseconds;
        socket.Connect(to ?? ProxyAddress);
        socket.Send(query);
        byte[] buffer = new byte[65535];
        return buffer[..socket.Receive(buffer)];
    }

    /// <summary>The namespace's handle, its thread and its socket factory (marked as the proxy's).</summary>
    private sealed class PodNetnsScope : IDisposable
    {
        private readonly Microsoft.Win32.SafeHandles.SafeFileHandle _handle;
        private readonly NetnsExecutor _executor;

        public PodNetnsScope(TestNetns netns)
        {
            _handle = File.OpenHandle(netns.Path);
            _executor = new NetnsExecutor(_handle, netns.Name);
            Sockets = new PodSockets(_executor, SocketOptions.ProxyMark);
        }

        public PodSockets Sockets { get; }

        public void Dispose()
        {
            _executor.Dispose();
            _handle.Dispose();
        }
    }
}
