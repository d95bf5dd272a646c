using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Hbone.Ztunnel.E2E.Tests.Infrastructure;

namespace Hbone.Ztunnel.E2E.Tests.MeshTraffic;

/// <summary>Traffic through the running mesh: the paths a connection can take, what the apps see, logs, counters, metrics.</summary>
public sealed class TrafficTests(TrafficMeshFixture mesh) : IClassFixture<TrafficMeshFixture>
{
    private static readonly TimeSpan Deadline = TrafficMeshFixture.Deadline;
    private const string EchoHost = "echo.default.svc.cluster.local";
    private MeshLab Lab => mesh.Lab;

    [Fact]
    [Trait("case", "E2E-01")]
    [Trait("case", "INT-12")]
    public async Task E2E_01_cross_node_through_the_vip_carries_1_MiB_each_way_and_both_ztunnels_log_it()
    {
        var prertBefore = await ConnmarkCounterAsync();
        var seenBefore = mesh.Echo.Clients.Count;
        var outboundLog = TrafficLog.Mark(mesh.NodeA);
        var inboundLog = TrafficLog.Mark(mesh.NodeB);
        var data = RandomNumberGenerator.GetBytes(1024 * 1024);

        byte[] reply;
        IPEndPoint local;
        using (var client = await PodSockets.ConnectAsync(Lab.Client.NetnsPath, Lab.EchoVip, Deadline))
        {
            local = (IPEndPoint)client.LocalEndPoint!;
            reply = await TrafficNet.BulkExchangeAsync(client, data, Deadline);
        }

        var seen = await mesh.Echo.WaitForClientAsync(Deadline, seenBefore + 1);
        var outbound = await outboundLog.WaitForAccessAsync(Deadline, ("direction", "outbound"), ("src.addr", local.ToString()));
        var inbound = await inboundLog.WaitForAccessAsync(Deadline, ("direction", "inbound"), ("src.identity", Lab.Client.SpiffeId));

        Assert.Equal(data.Length, reply.Length);
        Assert.Equal(TrafficNet.Sha256(data), TrafficNet.Sha256(reply));
        Assert.Equal(Lab.Client.Ip, seen.Address);

        Assert.Equal("client", outbound["src.workload"]);
        Assert.Equal($"{Lab.Echo.Ip}:15008", outbound["dst.addr"]);
        Assert.Equal(EchoHost, outbound["dst.service"]);
        Assert.Equal("HBONE", outbound["protocol"]);
        Assert.Equal("1048576", outbound["bytes_sent"]);
        Assert.Equal("1048576", outbound["bytes_recv"]);
        Assert.False(outbound.ContainsKey("error"), $"outbound error: {outbound.GetValueOrDefault("error")}");

        Assert.Equal("HBONE", inbound["protocol"]);
        Assert.Equal("200", inbound["status"]);
        Assert.Equal($"{Lab.Echo.Ip}:{Lab.EchoTargetPort}", inbound["dst.addr"]);
        Assert.StartsWith($"{Lab.Client.Ip}:", inbound["src.addr"], StringComparison.Ordinal);
        Assert.Equal("1048576", inbound["bytes_sent"]);
        Assert.Equal("1048576", inbound["bytes_recv"]);
        Assert.False(inbound.ContainsKey("error"), $"inbound error: {inbound.GetValueOrDefault("error")}");

        // INT-12: the app's replies to the spoofed client address were routed back to the proxy (mark 0x539 -> connmark 0x111 -> table 100).
        var prertAfter = await ConnmarkCounterAsync();
        Assert.True(prertAfter > prertBefore, $"CONNMARK rule counter {prertBefore} -> {prertAfter}");
    }

    [Fact]
    [Trait("case", "E2E-02")]
    public async Task E2E_02_same_node_client_to_local_echo_goes_over_hbone_and_keeps_the_client_ip()
    {
        var seenBefore = mesh.LocalEcho.Clients.Count;
        var log = TrafficLog.Mark(mesh.NodeA);
        var target = new IPEndPoint(Lab.LocalEcho.Ip, Lab.EchoTargetPort);

        var (local, reply) = await TrafficNet.ExchangeFromAsync(Lab.Client, target, "same node"u8.ToArray(), Deadline);

        var seen = await mesh.LocalEcho.WaitForClientAsync(Deadline, seenBefore + 1);
        var outbound = await log.WaitForAccessAsync(Deadline, ("direction", "outbound"), ("src.addr", local.ToString()));
        var inbound = await log.WaitForAccessAsync(Deadline, ("direction", "inbound"), ("dst.addr", target.ToString()), ("src.identity", Lab.Client.SpiffeId));

        Assert.Equal("same node"u8.ToArray(), reply);
        Assert.Equal(Lab.Client.Ip, seen.Address);
        Assert.Equal($"{Lab.LocalEcho.Ip}:15008", outbound["dst.addr"]);
        Assert.Equal("HBONE", outbound["protocol"]);
        Assert.Equal("local-echo", outbound["dst.workload"]);
        Assert.Equal("HBONE", inbound["protocol"]);
        Assert.Equal("200", inbound["status"]);
    }

    [Fact]
    [Trait("case", "E2E-03")]
    public async Task E2E_03_destinations_outside_the_mesh_are_reached_as_plain_tcp()
    {
        // An address the config does not know: a listener on node-b's own address.
        var unknown = new IPEndPoint(Lab.NodeB.Ip, 18080);
        var nodeListener = await EchoApp.StartAsync(Lab.NodeB.NetnsPath, unknown);
        await using (nodeListener)
        {
            var log = TrafficLog.Mark(mesh.NodeA);
            var (local, reply) = await TrafficNet.ExchangeFromAsync(Lab.Client, unknown, "passthrough"u8.ToArray(), Deadline);

            var seen = await nodeListener.WaitForClientAsync(Deadline);
            var outbound = await log.WaitForAccessAsync(Deadline, ("direction", "outbound"), ("src.addr", local.ToString()));

            Assert.Equal("passthrough"u8.ToArray(), reply);
            Assert.Equal(Lab.Client.Ip, seen.Address);
            Assert.Equal(unknown.ToString(), outbound["dst.addr"]);
            Assert.Equal("TCP", outbound["protocol"]);
            Assert.False(outbound.ContainsKey("error"), $"error: {outbound.GetValueOrDefault("error")}");
        }

        // A workload of the config that is not in the mesh (protocol TCP).
        {
            var seenBefore = mesh.OutsiderApp.Clients.Count;
            var log = TrafficLog.Mark(mesh.NodeA);
            var target = new IPEndPoint(Lab.Outsider.Ip, Lab.EchoTargetPort);
            var (local, reply) = await TrafficNet.ExchangeFromAsync(Lab.Client, target, "to the outsider"u8.ToArray(), Deadline);

            var seen = await mesh.OutsiderApp.WaitForClientAsync(Deadline, seenBefore + 1);
            var outbound = await log.WaitForAccessAsync(Deadline, ("direction", "outbound"), ("src.addr", local.ToString()));

            Assert.Equal("to the outsider"u8.ToArray(), reply);
            Assert.Equal(Lab.Client.Ip, seen.Address);
            Assert.Equal(target.ToString(), outbound["dst.addr"]);
            Assert.Equal("TCP", outbound["protocol"]);
            Assert.False(outbound.ContainsKey("error"), $"error: {outbound.GetValueOrDefault("error")}");
        }
    }

    [Fact]
    [Trait("case", "E2E-04")]
    [Trait("case", "INT-05")]
    public async Task E2E_04_a_client_outside_the_mesh_arrives_through_15006_and_hbone_through_15008()
    {
        var plaintextBefore = await TproxyCounterAsync(15006);
        var hboneBefore = await TproxyCounterAsync(15008);
        var seenBefore = mesh.Echo.Clients.Count;
        var log = TrafficLog.Mark(mesh.NodeB);

        byte[] reply;
        IPEndPoint local;
        using (var outsider = await PodSockets.ConnectAsync(Lab.Outsider.NetnsPath, mesh.EchoPodEndPoint, Deadline))
        {
            local = (IPEndPoint)outsider.LocalEndPoint!;
            reply = await PodSockets.ExchangeAsync(outsider, "from outside"u8.ToArray(), Deadline);
        }

        var seen = await mesh.Echo.WaitForClientAsync(Deadline, seenBefore + 1);
        var inbound = await log.WaitForAccessAsync(Deadline, ("direction", "inbound"), ("src.addr", local.ToString()));
        var plaintextAfter = await TproxyCounterAsync(15006);

        Assert.Equal("from outside"u8.ToArray(), reply);
        Assert.Equal(Lab.Outsider.Ip, seen.Address);
        Assert.Equal("TCP", inbound["protocol"]);
        Assert.Equal(mesh.EchoPodEndPoint.ToString(), inbound["dst.addr"]);
        Assert.False(inbound.ContainsKey("src.identity"), "a plaintext client has no identity");
        Assert.True(plaintextAfter > plaintextBefore, $"TPROXY 15006 counter {plaintextBefore} -> {plaintextAfter}");

        // The same app port over HBONE (the rule counts every packet to 15008, so the pooled tunnel's pings count too) (the client's ztunnel dials 15008) goes through the other TPROXY rule.
        using (var client = await PodSockets.ConnectAsync(Lab.Client.NetnsPath, mesh.EchoPodEndPoint, Deadline))
        {
            Assert.Equal("over hbone"u8.ToArray(), await PodSockets.ExchangeAsync(client, "over hbone"u8.ToArray(), Deadline));
        }

        var hboneAfter = await TproxyCounterAsync(15008);
        Assert.True(hboneAfter > hboneBefore, $"TPROXY 15008 counter {hboneBefore} -> {hboneAfter}");
    }

    [Fact]
    [Trait("case", "E2E-05")]
    public async Task E2E_05_socks5_on_localhost_15080_reaches_the_echo_service_through_the_mesh()
    {
        var seenBefore = mesh.Echo.Clients.Count;
        var log = TrafficLog.Mark(mesh.NodeA);
        using var socks = await PodSockets.ConnectAsync(Lab.Client.NetnsPath, new IPEndPoint(IPAddress.Loopback, 15080), Deadline);
        using var timeout = new CancellationTokenSource(Deadline);

        await socks.SendAsync(new byte[] { 0x05, 0x01, 0x00 }, SocketFlags.None, timeout.Token);
        Assert.Equal(new byte[] { 0x05, 0x00 }, await ReadExactlyAsync(socks, 2, timeout.Token));

        var host = Encoding.ASCII.GetBytes(EchoHost);
        byte[] request = [0x05, 0x01, 0x00, 0x03, (byte)host.Length, .. host, 0x00, 0x50];
        await socks.SendAsync(request, SocketFlags.None, timeout.Token);
        var head = await ReadExactlyAsync(socks, 4, timeout.Token);
        Assert.Equal(new byte[] { 0x05, 0x00, 0x00 }, head[..3]);
        var addressLength = head[3] switch
        {
            0x01 => 4,
            0x04 => 16,
            0x03 => (await ReadExactlyAsync(socks, 1, timeout.Token))[0],
            var other => throw new InvalidDataException($"SOCKS5 reply address type {other}"),
        };
        await ReadExactlyAsync(socks, addressLength + 2, timeout.Token);

        var reply = await PodSockets.ExchangeAsync(socks, "over socks5"u8.ToArray(), Deadline);
        var seen = await mesh.Echo.WaitForClientAsync(Deadline, seenBefore + 1);
        var outbound = await log.WaitForAccessAsync(Deadline, ("direction", "outbound"), ("dst.service", EchoHost));

        Assert.Equal("over socks5"u8.ToArray(), reply);
        Assert.Equal(Lab.Client.Ip, seen.Address);
        Assert.Equal("HBONE", outbound["protocol"]);
        Assert.Equal($"{Lab.Echo.Ip}:15008", outbound["dst.addr"]);
    }

    [Fact]
    [Trait("case", "E2E-06")]
    public async Task E2E_06_destination_metrics_count_the_clients_mutual_tls_connections_and_bytes()
    {
        var before = ReceivedBytes(await mesh.NodeB.MetricsAsync());
        var data = RandomNumberGenerator.GetBytes(100_000);
        using (var client = await PodSockets.ConnectAsync(Lab.Client.NetnsPath, Lab.EchoVip, Deadline))
        {
            var reply = await TrafficNet.BulkExchangeAsync(client, data, Deadline);
            Assert.Equal(TrafficNet.Sha256(data), TrafficNet.Sha256(reply));
        }

        var after = await TrafficNet.PollAsync(async () => ReceivedBytes(await mesh.NodeB.MetricsAsync()), v => v >= before + data.Length, Deadline, $"istio_tcp_received_bytes_total growing from {before} by {data.Length}");
        var text = await mesh.NodeB.MetricsAsync();
        var opened = text.Split('\n')
            .Where(l => l.StartsWith("istio_tcp_connections_opened_total{", StringComparison.Ordinal) && IsClientToDestination(l) && l.Contains("connection_security_policy=\"mutual_tls\"", StringComparison.Ordinal))
            .ToList();

        // One series per label set (e.g. with and without destination_service): together at least this connection.
        Assert.NotEmpty(opened);
        Assert.True(opened.Sum(Value) >= 1, string.Join('\n', opened));
        Assert.True(after - before >= data.Length, $"received bytes {before} -> {after}");

        // The native binary's exporter writes ztunnel's names only: no OpenTelemetry resource or scope metadata.
        Assert.DoesNotContain("target_info", text, StringComparison.Ordinal);
        Assert.DoesNotContain("otel_scope_", text, StringComparison.Ordinal);
        Assert.All(opened, l => Assert.Contains("destination_canonical_service=", l, StringComparison.Ordinal));
    }

    [Fact]
    [Trait("case", "MEM-05")]
    public async Task Once_ready_both_ztunnels_unmap_their_start_up_pages_and_tunnels_still_carry_bytes_intact()
    {
        foreach (var ztunnel in new[] { mesh.NodeA, mesh.NodeB })
        {
            var line = await ztunnel.WaitForLineAsync(l => l.Contains("start-up pages unmapped", StringComparison.Ordinal), Deadline);
            var figures = System.Text.RegularExpressions.Regex.Match(line, @"resident (?<before>[0-9.]+) MiB, now (?<after>[0-9.]+) MiB");
            Assert.True(figures.Success, line);
            double before = double.Parse(figures.Groups["before"].Value, CultureInfo.InvariantCulture);
            double after = double.Parse(figures.Groups["after"].Value, CultureInfo.InvariantCulture);

            // The native binary alone is ~17 MiB, most of it mapped by start-up: at least 4 MiB must have gone.
            Assert.True(after <= before - 4, $"{ztunnel.DisplayName}: {line}");
        }

        var data = RandomNumberGenerator.GetBytes(256 * 1024);
        using var client = await PodSockets.ConnectAsync(Lab.Client.NetnsPath, Lab.EchoVip, Deadline);
        var reply = await TrafficNet.BulkExchangeAsync(client, data, Deadline);
        Assert.Equal(TrafficNet.Sha256(data), TrafficNet.Sha256(reply));
    }

    private static bool IsClientToDestination(string line) =>
        line.Contains("reporter=\"destination\"", StringComparison.Ordinal)
        && line.Contains("source_principal=\"spiffe://cluster.local/ns/default/sa/client\"", StringComparison.Ordinal);

    private static double ReceivedBytes(string metrics) =>
        metrics.Split('\n')
            .Where(l => l.StartsWith("istio_tcp_received_bytes_total{", StringComparison.Ordinal) && IsClientToDestination(l) && l.Contains("destination_workload=\"echo\"", StringComparison.Ordinal))
            .Sum(Value);

    private static double Value(string line) => double.Parse(line[(line.LastIndexOf('}') + 1)..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);

    private Task<long> ConnmarkCounterAsync() =>
        TrafficNet.RuleCounterAsync(Lab.Echo.Netns, "mangle", "ISTIO_PRERT", "CONNMARK", "mark match 0x539/0xfff");

    private Task<long> TproxyCounterAsync(int port) =>
        TrafficNet.RuleCounterAsync(Lab.Echo.Netns, "mangle", "ISTIO_PRERT", "TPROXY", $"redirect 0.0.0.0:{port}");

    private static async Task<byte[]> ReadExactlyAsync(Socket socket, int count, CancellationToken cancellationToken)
    {
        var buffer = new byte[count];
        var read = 0;
        while (read < count)
        {
            var n = await socket.ReceiveAsync(buffer.AsMemory(read), SocketFlags.None, cancellationToken);
            if (n == 0)
            {
                throw new EndOfStreamException($"closed after {read} of {count} bytes");
            }

            read += n;
        }

        return buffer;
    }
}
