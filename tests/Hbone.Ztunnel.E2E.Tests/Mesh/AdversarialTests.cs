using System.Net;
using System.Net.Sockets;
using System.Text;
using Hbone.Client;
using Hbone.Ztunnel.E2E.Tests.Infrastructure;

namespace Hbone.Ztunnel.E2E.Tests.MeshTraffic;

/// <summary>Attacks on the running mesh: policy, destination binding, proxy ports, loops, plaintext identity.</summary>
public sealed class AdversarialTests(TrafficMeshFixture mesh) : IClassFixture<TrafficMeshFixture>
{
    private static readonly TimeSpan Deadline = TrafficMeshFixture.Deadline;
    private static readonly byte[] Probe = "are you there?"u8.ToArray();
    private MeshLab Lab => mesh.Lab;

    [Fact]
    [Trait("case", "E2E-07")]
    public async Task E2E_07_a_deny_policy_for_the_client_principal_closes_its_connection_through_the_vip_with_401()
    {
        await mesh.ApplyPoliciesAsync(LabPolicies.DenyClient, 1);
        try
        {
            var seenBefore = mesh.Echo.Clients.Count;
            var metricsBefore = await mesh.NodeB.MetricsAsync();
            var log = TrafficLog.Mark(mesh.NodeB);
            var received = await ClientThroughVipAsync();
            var inbound = await log.WaitForAccessAsync(Deadline, ("direction", "inbound"), ("src.identity", Lab.Client.SpiffeId));
            var metricsAfter = await mesh.NodeB.MetricsAsync();

            Assert.Empty(received);
            Assert.Equal("401", inbound["status"]);
            Assert.Equal("HBONE", inbound["protocol"]);
            Assert.Equal($"{Lab.Client.SpiffeId} denied by policy: deny policy matched (default/deny-client)", inbound.GetValueOrDefault("error"));
            Assert.Equal(seenBefore, mesh.Echo.Clients.Count);

            // Counted as ztunnel counts a denial (TEL-14): opened with no flag, then closed and failed with DENY.
            Assert.Equal(1, DeniedClientCount(metricsAfter, "istio_tcp_connections_opened_total", "-") - DeniedClientCount(metricsBefore, "istio_tcp_connections_opened_total", "-"));
            Assert.Equal(1, DeniedClientCount(metricsAfter, "istio_tcp_connections_closed_total", "DENY") - DeniedClientCount(metricsBefore, "istio_tcp_connections_closed_total", "DENY"));
            Assert.Equal(1, DeniedClientCount(metricsAfter, "istio_tcp_connections_failed_total", "DENY") - DeniedClientCount(metricsBefore, "istio_tcp_connections_failed_total", "DENY"));
        }
        finally
        {
            await mesh.RestoreConfigAsync();
        }

        await AssertClientReachesEchoAsync();
    }

    [Fact]
    [Trait("case", "ADV-02")]
    public async Task ADV_02_hbone_to_echo_with_the_authority_of_another_pod_is_400_and_reaches_nobody()
    {
        var seenBefore = mesh.LocalEcho.Clients.Count;
        var log = TrafficLog.Mark(mesh.NodeB);
        await using var attacker = TrafficNet.Attacker(Lab, Lab.Outsider.NetnsPath, "outsider");

        var refused = await Assert.ThrowsAsync<HboneConnectException>(async () =>
            await TrafficNet.ConnectAsync(attacker, new IPEndPoint(Lab.Echo.Ip, 15008), $"{Lab.LocalEcho.Ip}:{Lab.EchoTargetPort}", Lab.Echo, Deadline));
        var inbound = await log.WaitForAccessAsync(Deadline, ("direction", "inbound"), ("src.identity", Lab.Outsider.SpiffeId));

        Assert.Equal(400, refused.ResponseStatus);
        Assert.Equal("400", inbound["status"]);
        Assert.Equal(seenBefore, mesh.LocalEcho.Clients.Count);
        Assert.DoesNotContain(mesh.NodeA.StdoutLines, l => TrafficLog.IsAccessLine(l) && l.Contains(Lab.Outsider.SpiffeId, StringComparison.Ordinal));
    }

    [Fact]
    [Trait("case", "ADV-05")]
    public async Task ADV_05_a_peer_that_is_not_the_waypoint_cannot_name_another_client_in_Forwarded_for_the_app_or_the_access_log()
    {
        var seenBefore = mesh.Echo.Clients.Count;
        var log = TrafficLog.Mark(mesh.NodeB);
        var claimed = new IPEndPoint(Lab.Client.Ip, 4242);
        await using var attacker = TrafficNet.Attacker(Lab, Lab.Outsider.NetnsPath, "outsider");

        byte[] reply;
        await using (var stream = await TrafficNet.ConnectAsync(attacker, new IPEndPoint(Lab.Echo.Ip, 15008), $"{Lab.Echo.Ip}:{Lab.EchoTargetPort}", Lab.Echo, Deadline, forwardedFor: claimed))
        {
            reply = await TrafficNet.ExchangeAsync(stream, Probe, Deadline);
        }

        var seen = await mesh.Echo.WaitForClientAsync(Deadline, seenBefore + 1);
        var inbound = await log.WaitForAccessAsync(Deadline, ("direction", "inbound"), ("src.identity", Lab.Outsider.SpiffeId));

        Assert.Equal(Probe, reply);
        Assert.Equal(Lab.Outsider.Ip, seen.Address);
        Assert.Equal("200", inbound["status"]);
        Assert.Equal(Lab.Outsider.Ip, IPEndPoint.Parse(inbound["src.addr"]).Address);
    }

    [Fact]
    [Trait("case", "ADV-04")]
    public async Task ADV_04_hbone_to_a_proxy_port_of_the_pod_is_503_before_any_connect()
    {
        var seenBefore = mesh.Echo.Clients.Count;
        var log = TrafficLog.Mark(mesh.NodeB);
        await using var attacker = TrafficNet.Attacker(Lab, Lab.Outsider.NetnsPath, "outsider");

        foreach (var port in new[] { 15001, 15006, 15008, 15080 })
        {
            var refused = await Assert.ThrowsAsync<HboneConnectException>(async () =>
                await TrafficNet.ConnectAsync(attacker, new IPEndPoint(Lab.Echo.Ip, 15008), $"{Lab.Echo.Ip}:{port}", Lab.Echo, Deadline));
            var inbound = await log.WaitForAccessAsync(Deadline, ("direction", "inbound"), ("dst.addr", $"{Lab.Echo.Ip}:{port}"));

            Assert.Equal(503, refused.ResponseStatus);
            Assert.Equal("503", inbound["status"]);
            Assert.Equal("0", inbound.GetValueOrDefault("bytes_sent", "0"));
        }

        Assert.Equal(seenBefore, mesh.Echo.Clients.Count);

        // Nothing looped back into the pod's own ports: four refusals, four access lines.
        Assert.Equal(4, log.NewAccessLines.Count);
    }

    [Fact]
    [Trait("case", "ADV-03")]
    public async Task ADV_03_a_captured_pod_dialing_the_proxy_ports_never_loops_and_never_reaches_the_admin()
    {
        var pod = Lab.Client;
        var own = pod.Ip;
        var log = TrafficLog.Mark(mesh.NodeA);

        // 15001 and 15006: the proxy accepts, sees itself as the destination and drops the connection.
        foreach (var address in new[] { own, IPAddress.Loopback })
        {
            foreach (var port in new[] { 15001, 15006 })
            {
                var received = await ConnectAndReadUntilClosedAsync(pod, new IPEndPoint(address, port), Probe);
                Assert.True(received.Length == 0, $"{address}:{port} answered {received.Length} bytes");
            }
        }

        var selfCall = await log.WaitForLineAsync(
            l => TrafficLog.IsAccessLine(l) && TrafficLog.Fields(l).GetValueOrDefault("error", "").Contains("SelfCall", StringComparison.Ordinal)
                && TrafficLog.Fields(l).GetValueOrDefault("dst.addr") == $"{own}:15001",
            Deadline);

        // 15008 wants TLS: plaintext gets no HTTP answer, only the end of the connection (or a TLS alert).
        foreach (var address in new[] { own, IPAddress.Loopback })
        {
            var received = await ConnectAndReadUntilClosedAsync(pod, new IPEndPoint(address, 15008), "GET / HTTP/1.1\r\nHost: x\r\n\r\n"u8.ToArray());
            Assert.True(received.Length == 0 || received[0] == 0x15, $"{address}:15008 answered plaintext: {Encoding.ASCII.GetString(received)}");
        }

        // The node ports are not in the pod: nothing listens there.
        foreach (var address in new[] { own, IPAddress.Loopback })
        {
            foreach (var port in new[] { 15000, 15020, 15021 })
            {
                var error = await Assert.ThrowsAsync<SocketException>(() => PodSockets.ConnectAsync(pod.NetnsPath, new IPEndPoint(address, port), Deadline));
                Assert.Equal(SocketError.ConnectionRefused, error.SocketErrorCode);
            }
        }

        // The admin port listens on the node's loopback only: the node's address gives no HTTP answer.
        var admin = new IPEndPoint(Lab.NodeA.Ip, ZtunnelProcess.AdminPort);
        var answer = await ConnectAndReadUntilClosedAsync(pod, admin, "GET /config_dump HTTP/1.0\r\n\r\n"u8.ToArray());
        Assert.True(answer.Length == 0, $"admin answered from the pod: {Encoding.ASCII.GetString(answer)}");

        var adminLine = await log.WaitForAccessAsync(Deadline, ("direction", "outbound"), ("dst.addr", admin.ToString()));
        Assert.Contains("SelfCall", selfCall, StringComparison.Ordinal);
        Assert.Equal("0", adminLine.GetValueOrDefault("bytes_recv", "0"));
        Assert.Contains("ConnectionRefused", adminLine.GetValueOrDefault("error") ?? "", StringComparison.Ordinal);

        // Each of the four 15001/15006 attempts (own IP and loopback) was refused as a self call.
        var selfCalls = await TrafficNet.PollAsync(
            () => Task.FromResult(log.NewAccessLines.Count(l => TrafficLog.Fields(l).GetValueOrDefault("error", "").Contains("SelfCall", StringComparison.Ordinal))),
            n => n >= 4,
            Deadline,
            "four SelfCall access lines");
        Assert.Equal(4, selfCalls);

        // Nothing loops: about one access line per attempt (4 + 2 + 1), not a storm.
        var lines = log.NewAccessLines;
        Assert.True(lines.Count <= 12, $"{lines.Count} access lines:\n{string.Join('\n', lines)}");
    }

    [Fact]
    [Trait("case", "ADV-13")]
    public async Task ADV_13_a_principals_allow_policy_denies_plaintext_into_15006_and_still_allows_hbone()
    {
        await mesh.ApplyPoliciesAsync(LabPolicies.AllowClient, 1);
        try
        {
            var seenBefore = mesh.Echo.Clients.Count;
            var log = TrafficLog.Mark(mesh.NodeB);
            var received = await ConnectAndReadUntilClosedAsync(Lab.Outsider, mesh.EchoPodEndPoint, Probe);
            var line = await log.WaitForLineAsync(
                l => TrafficLog.IsAccessLine(l) && TrafficLog.Fields(l).GetValueOrDefault("src.addr", "").StartsWith($"{Lab.Outsider.Ip}:", StringComparison.Ordinal),
                Deadline);
            var inbound = TrafficLog.Fields(line);

            Assert.Empty(received);
            Assert.Equal("TCP", inbound["protocol"]);
            Assert.Contains("denied", inbound.GetValueOrDefault("error") ?? "", StringComparison.Ordinal);
            Assert.Equal(seenBefore, mesh.Echo.Clients.Count);

            // The client has the principal: over HBONE it is still let in.
            await AssertClientReachesEchoAsync();
        }
        finally
        {
            await mesh.RestoreConfigAsync();
        }
    }

    [Fact]
    [Trait("case", "ADV-07")]
    public async Task ADV_07_service_account_allow_matches_literally_never_by_prefix()
    {
        const string Template =
            """
            policies:
            - name: allow-sa
              namespace: default
              scope: Namespace
              action: Allow
              rules: [[[ { serviceAccounts: ["SA"] } ]]]
            """;
        try
        {
            // Control: the exact service account is allowed.
            await mesh.ApplyPoliciesAsync(Template.Replace("SA", "client", StringComparison.Ordinal), 1);
            await AssertClientReachesEchoAsync();

            // "clien" is a prefix of "client", not a match.
            await mesh.ApplyPoliciesAsync(Template.Replace("SA", "clien", StringComparison.Ordinal), 1);
            var seenBefore = mesh.Echo.Clients.Count;
            var log = TrafficLog.Mark(mesh.NodeB);
            var received = await ClientThroughVipAsync();
            var inbound = await log.WaitForAccessAsync(Deadline, ("direction", "inbound"), ("src.identity", Lab.Client.SpiffeId));

            Assert.Empty(received);
            Assert.Equal("401", inbound["status"]);
            Assert.Equal(seenBefore, mesh.Echo.Clients.Count);
        }
        finally
        {
            await mesh.RestoreConfigAsync();
        }
    }

    /// <summary>
    /// Connects from <paramref name="pod"/> and reads until the connection ends; the bytes received before. A proxy
    /// that refuses right after accept can reset before connect() returns: that counts as closed too (not as refused).
    /// </summary>
    private static async Task<byte[]> ConnectAndReadUntilClosedAsync(LabPod pod, IPEndPoint target, byte[] probe)
    {
        Socket socket;
        try
        {
            socket = await PodSockets.ConnectAsync(pod.NetnsPath, target, Deadline);
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionReset)
        {
            return [];
        }

        using (socket)
        {
            return (await TrafficNet.ReadUntilClosedAsync(socket, probe, Deadline)).Received;
        }
    }

    private Task<byte[]> ClientThroughVipAsync() => ConnectAndReadUntilClosedAsync(Lab.Client, Lab.EchoVip, Probe);

    private async Task AssertClientReachesEchoAsync()
    {
        var seenBefore = mesh.Echo.Clients.Count;
        using var client = await PodSockets.ConnectAsync(Lab.Client.NetnsPath, Lab.EchoVip, Deadline);
        Assert.Equal(Probe, await PodSockets.ExchangeAsync(client, Probe, Deadline));
        Assert.Equal(Lab.Client.Ip, (await mesh.Echo.WaitForClientAsync(Deadline, seenBefore + 1)).Address);
    }

    /// <summary>The sum of <paramref name="family"/>'s destination-side series for the client's principal with <paramref name="flags"/>.</summary>
    private double DeniedClientCount(string metrics, string family, string flags) =>
        metrics.Split('\n')
            .Where(l => l.StartsWith(family + "{", StringComparison.Ordinal)
                && l.Contains("reporter=\"destination\"", StringComparison.Ordinal)
                && l.Contains($"source_principal=\"{Lab.Client.SpiffeId}\"", StringComparison.Ordinal)
                && l.Contains($"response_flags=\"{flags}\"", StringComparison.Ordinal))
            .Sum(l => double.Parse(l[(l.LastIndexOf('}') + 1)..].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture));
}
