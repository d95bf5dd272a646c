using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using Hbone.Ztunnel.E2E.Tests.Infrastructure;

namespace Hbone.Ztunnel.E2E.Tests.MeshTests;

/// <summary>
/// The life of pods, agents and workloads under a running mesh: a pod removed, the node agent restarted, a workload
/// that reaches the config late, a destination workload removed mid-session, a policy flipped under an open tunnel,
/// and the loop mark. Each test changes the mesh for good, so each has its own lab.
/// </summary>
public sealed class LifecycleTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan Short = TimeSpan.FromSeconds(10);
    private const string LateUid = "cluster1//v1/Pod/default/late";

    [Fact]
    [Trait("case", "E2E-10")]
    public async Task E2E_10_a_removed_pod_loses_its_listeners_and_its_entry_while_other_pods_keep_working()
    {
        await using var lab = await MeshLab.UpAsync();
        var echo = lab.Track(await EchoApp.StartAsync(lab.Echo, lab.EchoTargetPort));
        var mesh = await LifecycleMesh.StartAsync(lab, Deadline);
        var before = await Lifecycle.ListenersAsync(lab.LocalEcho.Netns);

        await mesh.A.Agent.RemoveAsync(lab.LocalEcho);

        var removed = await mesh.A.Ztunnel.WaitForLineAsync(l => l.Contains($"pod removed: {lab.LocalEcho.Uid}", StringComparison.Ordinal), Deadline);
        await Lifecycle.UntilAsync(async () => !(await Lifecycle.ListenersAsync(lab.LocalEcho.Netns)).Any(Lifecycle.IsProxyListener), Deadline, "the local-echo listeners closing");
        var after = await Lifecycle.ListenersAsync(lab.LocalEcho.Netns);
        var pods = PodUids(await mesh.A.Ztunnel.GetAsync("/config_dump"));
        byte[] reply;
        using (var client = await PodSockets.ConnectAsync(lab.Client.NetnsPath, lab.EchoVip, Deadline))
        {
            reply = await PodSockets.ExchangeAsync(client, "others unaffected"u8.ToArray(), Deadline);
        }

        Assert.Equal(7, before.Count(Lifecycle.IsProxyListener)); // 15001, 15006, 15008 on 0.0.0.0 and [::], and 127.0.0.1:15080
        Assert.Contains("pod removed", removed, StringComparison.Ordinal);
        Assert.DoesNotContain(after, Lifecycle.IsProxyListener);
        Assert.Equal([lab.Client.Uid], pods);
        Assert.Equal("others unaffected"u8.ToArray(), reply);
        Assert.Equal(lab.Client.Ip, (await echo.WaitForClientAsync(Deadline)).Address);
    }

    [Fact]
    [Trait("case", "E2E-10")]
    public async Task E2E_10_a_removed_pod_sends_GOAWAY_and_its_live_tunnel_finishes_in_the_grace_period_while_the_node_carries_on()
    {
        await using var lab = await MeshLab.UpAsync();
        var localEcho = lab.Track(await EchoApp.StartAsync(lab.LocalEcho, lab.EchoTargetPort));
        lab.Track(await EchoApp.StartAsync(lab.Echo, lab.EchoTargetPort));
        var grace = new Dictionary<string, string?> { ["TERMINATION_GRACE_PERIOD_SECONDS"] = "60" };
        var mesh = await LifecycleMesh.StartAsync(lab, Deadline, new Dictionary<string, IReadOnlyDictionary<string, string?>> { ["node-a"] = grace });

        // A tunnel into local-echo from a client we did not write (Node's http2), from node-b's namespace.
        var peer = await NodeHboneClient.ConnectAsync(lab, mesh.CaDirectory, lab.NodeB, lab.LocalEcho, Deadline);
        await NodeHboneClient.EchoAsync(peer, "before", Deadline);
        using var unrelated = await PodSockets.ConnectAsync(lab.Client.NetnsPath, lab.EchoVip, Deadline);
        Assert.Equal("unrelated"u8.ToArray(), await PodSockets.ExchangeAsync(unrelated, "unrelated"u8.ToArray(), Deadline, halfClose: false));

        // Deleted, as a pod is: its namespace keeps its rules until it goes, so the open tunnel can finish.
        await mesh.A.Agent.DeleteAsync(lab.LocalEcho);

        var draining = await mesh.A.Ztunnel.WaitForLineAsync(l => l.Contains($"pod {lab.LocalEcho.Uid} draining", StringComparison.Ordinal), Deadline);
        var goAway = await peer.WaitForLineAsync(l => l.StartsWith("goaway=", StringComparison.Ordinal), Deadline);
        await NodeHboneClient.EchoAsync(peer, "after", Deadline);
        var refused = await Lifecycle.ProbeAsync(lab.Client.NetnsPath, new IPEndPoint(lab.LocalEcho.Ip, lab.EchoTargetPort), "new"u8.ToArray(), Short);
        peer.Input.Close();
        var exit = await peer.WaitForExitAsync(Deadline);
        var afterRemoval = await PodSockets.ExchangeAsync(unrelated, "still there"u8.ToArray(), Deadline);
        byte[] fresh;
        using (var another = await PodSockets.ConnectAsync(lab.Client.NetnsPath, lab.EchoVip, Deadline))
        {
            fresh = await PodSockets.ExchangeAsync(another, "new after removal"u8.ToArray(), Deadline);
        }

        Assert.Contains("GOAWAY on 1 inbound HBONE connection(s)", draining, StringComparison.Ordinal);
        Assert.Equal("goaway=0 last=1", goAway); // NO_ERROR, and the open stream 1 is still served
        Assert.NotEqual(LifecycleReadOutcome.Data, refused.Outcome);
        Assert.True(exit == 0, $"the Node client exited with {exit}{peer.Tail()}");
        Assert.Contains("ended", peer.Lines);
        Assert.Single(localEcho.Clients);
        Assert.Equal("still there"u8.ToArray(), afterRemoval);
        Assert.Equal("new after removal"u8.ToArray(), fresh);
    }

    [Fact]
    [Trait("case", "E2E-11")]
    public async Task E2E_11_an_agent_restart_keeps_open_tunnels_and_pods_and_the_ztunnel_reconnects()
    {
        await using var lab = await MeshLab.UpAsync();
        var echo = lab.Track(await EchoApp.StartAsync(lab.Echo, lab.EchoTargetPort));
        var mesh = await LifecycleMesh.StartAsync(lab, Deadline);
        using var tunnel = await PodSockets.ConnectAsync(lab.Client.NetnsPath, lab.EchoVip, Deadline);
        var first = await Lifecycle.EchoAsync(tunnel, "before"u8.ToArray(), Deadline);

        var agentExit = await mesh.A.Agent.StopAsync(Deadline);
        var whileDown = await Lifecycle.EchoAsync(tunnel, "agent down"u8.ToArray(), Deadline);
        var agent = lab.Track(AgentProcess.Start(lab.NodeA, lab.WorkDir));
        await mesh.A.Ztunnel.WaitForLineAsync(l => l.Contains($"pod kept: {lab.Client.Uid}", StringComparison.Ordinal), Deadline);
        await mesh.A.Ztunnel.WaitForLineAsync(l => l.Contains($"pod kept: {lab.LocalEcho.Uid}", StringComparison.Ordinal), Deadline);
        byte[] fresh;
        using (var client = await PodSockets.ConnectAsync(lab.Client.NetnsPath, lab.EchoVip, Deadline))
        {
            fresh = await PodSockets.ExchangeAsync(client, "new after restart"u8.ToArray(), Deadline);
        }

        var pods = PodUids(await mesh.A.Ztunnel.GetAsync("/config_dump"));
        var afterRestart = await Lifecycle.EchoAsync(tunnel, "still open"u8.ToArray(), Deadline);

        Assert.Equal(0, agentExit);
        Assert.Equal(agent.SocketPath, mesh.A.Agent.SocketPath);
        Assert.Equal("before"u8.ToArray(), first);
        Assert.Equal("agent down"u8.ToArray(), whileDown);
        Assert.Equal("new after restart"u8.ToArray(), fresh);
        Assert.Equal([lab.Client.Uid, lab.LocalEcho.Uid], pods.Order(StringComparer.Ordinal));
        Assert.Equal("still open"u8.ToArray(), afterRestart);
        Assert.DoesNotContain(mesh.A.Ztunnel.Lines, l => l.Contains("pod removed", StringComparison.Ordinal));
        Assert.Equal(2, echo.Clients.Count);
    }

    [Fact]
    [Trait("case", "FT-05")]
    public async Task FT_05_outbound_from_a_pod_unknown_to_the_config_waits_bounded_then_is_denied_or_proceeds_when_it_arrives()
    {
        await using var lab = await MeshLab.UpAsync();
        var echo = lab.Track(await EchoApp.StartAsync(lab.Echo, lab.EchoTargetPort));
        var mesh = await LifecycleMesh.StartAsync(lab, Deadline, new Dictionary<string, IReadOnlyDictionary<string, string?>>
        {
            ["node-b"] = new Dictionary<string, string?> { ["WORKLOAD_WAIT_TIMEOUT"] = "2s" },
        });
        await Lifecycle.EnrollAsync(mesh.B.Agent, lab.Outsider.NetnsPath, LateUid, "late", "late");
        await mesh.B.Ztunnel.WaitForLineAsync(l => l.Contains($"pod added: {LateUid}", StringComparison.Ordinal), Deadline);

        var clock = Stopwatch.StartNew();
        var early = await Lifecycle.ProbeAsync(lab.Outsider.NetnsPath, lab.EchoVip, "too early"u8.ToArray(), Short);

        var closedAfter = clock.Elapsed;
        var denied = await mesh.B.Ztunnel.WaitForLineAsync(l => l.Contains("unknown source workload", StringComparison.Ordinal), Deadline);

        var yaml = LifecycleConfig.WithWorkload(LifecycleConfig.WithoutWorkload(await lab.ConfigYamlAsync(), "outsider"), LateUid, "late", lab.Outsider.Ip, "node-b", "late");
        using var waiting = await PodSockets.ConnectAsync(lab.Outsider.NetnsPath, lab.EchoVip, Deadline);
        clock.Restart();
        await mesh.RewriteConfigAsync(yaml);
        var reply = await PodSockets.ExchangeAsync(waiting, "just in time"u8.ToArray(), Short);
        var proceededAfter = clock.Elapsed;
        var seen = await echo.WaitForClientAsync(Deadline);
        var inbound = await mesh.B.Ztunnel.WaitForLineAsync(l => l.Contains("direction=\"inbound\"", StringComparison.Ordinal) && l.Contains("sa/late", StringComparison.Ordinal), Deadline);

        Assert.Contains(early.Outcome, (LifecycleReadOutcome[])[LifecycleReadOutcome.EndOfStream, LifecycleReadOutcome.Reset]);
        Assert.Empty(early.Data);
        Assert.InRange(closedAfter, TimeSpan.FromSeconds(1.5), TimeSpan.FromSeconds(6));
        Assert.Contains("direction=\"outbound\"", denied, StringComparison.Ordinal);
        Assert.Contains($"src.addr={lab.Outsider.Ip}:", denied, StringComparison.Ordinal);
        Assert.Contains($"unknown source workload {LateUid}", denied, StringComparison.Ordinal);
        Assert.Equal("just in time"u8.ToArray(), reply);
        Assert.True(proceededAfter < TimeSpan.FromSeconds(4), $"the waiting connection proceeded {proceededAfter} after the config change.{mesh.B.Ztunnel.Tail()}");
        Assert.Equal(lab.Outsider.Ip, seen.Address);
        Assert.Single(echo.Clients);
        Assert.Contains("src.identity=\"spiffe://cluster.local/ns/default/sa/late\"", inbound, StringComparison.Ordinal);
    }

    [Fact]
    [Trait("case", "FT-11")]
    public async Task FT_11_a_destination_workload_removed_mid_session_fails_the_open_tunnel_and_new_connections()
    {
        await using var lab = await MeshLab.UpAsync();
        var echo = lab.Track(await EchoApp.StartAsync(lab.Echo, lab.EchoTargetPort));
        var mesh = await LifecycleMesh.StartAsync(lab, Deadline);
        using var tunnel = await PodSockets.ConnectAsync(lab.Client.NetnsPath, lab.EchoVip, Deadline);
        var before = await Lifecycle.EchoAsync(tunnel, "before"u8.ToArray(), Deadline);

        await mesh.RewriteConfigAsync(LifecycleConfig.WithoutWorkload(await lab.ConfigYamlAsync(), "echo"));
        await mesh.B.Ztunnel.WaitForLineAsync(l => l.Contains("Loaded", StringComparison.Ordinal) && l.Contains(": 3 workloads", StringComparison.Ordinal), Deadline);
        await mesh.A.Ztunnel.WaitForLineAsync(l => l.Contains("Loaded", StringComparison.Ordinal) && l.Contains(": 3 workloads", StringComparison.Ordinal), Deadline);
        var clock = Stopwatch.StartNew();
        var next = await Lifecycle.SendAndReadAsync(tunnel, "after removal"u8.ToArray(), Short);
        var failedAfter = clock.Elapsed;
        var inbound = await mesh.B.Ztunnel.WaitForLineAsync(l => l.Contains("direction=\"inbound\"", StringComparison.Ordinal), Deadline);
        var fresh = await Lifecycle.ProbeAsync(lab.Client.NetnsPath, lab.EchoVip, "new"u8.ToArray(), Short);

        Assert.Equal("before"u8.ToArray(), before);
        Assert.Contains(next.Outcome, (LifecycleReadOutcome[])[LifecycleReadOutcome.EndOfStream, LifecycleReadOutcome.Reset]);
        Assert.Empty(next.Data);
        Assert.True(failedAfter < Short, $"the tunnel failed {failedAfter} after use");
        Assert.Contains("error=\"the destination workload was removed\"", inbound, StringComparison.Ordinal);
        Assert.Contains(fresh.Outcome, (LifecycleReadOutcome[])[LifecycleReadOutcome.EndOfStream, LifecycleReadOutcome.Reset]);
        Assert.Empty(fresh.Data);
        Assert.Single(echo.Clients);
    }

    [Fact]
    [Trait("case", "ADV-12")]
    public async Task ADV_12_a_policy_flipped_to_deny_closes_the_open_tunnel_and_denies_new_ones()
    {
        await using var lab = await MeshLab.UpAsync();
        var echo = lab.Track(await EchoApp.StartAsync(lab.Echo, lab.EchoTargetPort));
        var mesh = await LifecycleMesh.StartAsync(lab, Deadline);
        using var tunnel = await PodSockets.ConnectAsync(lab.Client.NetnsPath, lab.EchoVip, Deadline);
        var before = await Lifecycle.EchoAsync(tunnel, "before"u8.ToArray(), Deadline);

        await mesh.RewriteConfigAsync(LifecycleConfig.WithPolicies(await lab.ConfigYamlAsync(), LabPolicies.DenyClient));
        var closed = await mesh.B.Ztunnel.WaitForLineAsync(l => l.Contains("config changed: closed", StringComparison.Ordinal), Deadline);
        var late = await Lifecycle.ReadAsync(tunnel, Short);
        var lateLine = await mesh.B.Ztunnel.WaitForLineAsync(l => l.Contains("direction=\"inbound\"", StringComparison.Ordinal), Deadline);
        var fresh = await Lifecycle.ProbeAsync(lab.Client.NetnsPath, lab.EchoVip, "new"u8.ToArray(), Short);

        var denied = await mesh.B.Ztunnel.WaitForLineAsync(l => l.Contains("direction=\"inbound\"", StringComparison.Ordinal) && l.Contains("status=401", StringComparison.Ordinal), Deadline);
        var metrics = await mesh.B.Ztunnel.MetricsAsync();

        Assert.Equal("before"u8.ToArray(), before);
        Assert.Contains("config changed: closed 1 connections the new policy denies", closed, StringComparison.Ordinal);
        Assert.Contains(late.Outcome, (LifecycleReadOutcome[])[LifecycleReadOutcome.EndOfStream, LifecycleReadOutcome.Reset]);
        Assert.Contains("error=\"denied after a policy change", lateLine, StringComparison.Ordinal);
        Assert.Contains(fresh.Outcome, (LifecycleReadOutcome[])[LifecycleReadOutcome.EndOfStream, LifecycleReadOutcome.Reset]);
        Assert.Empty(fresh.Data);
        Assert.Contains($"src.identity=\"{lab.Client.SpiffeId}\"", denied, StringComparison.Ordinal);
        Assert.Single(echo.Clients);

        // Both closes count as denials (TEL-14): the tunnel the re-check closed and the new one the policy refused.
        Assert.Equal(2, InboundFromClient(metrics, lab, "istio_tcp_connections_opened_total", "-"));
        Assert.Equal(2, InboundFromClient(metrics, lab, "istio_tcp_connections_closed_total", "DENY"));
        Assert.Equal(2, InboundFromClient(metrics, lab, "istio_tcp_connections_failed_total", "DENY"));
    }

    /// <summary>The sum of <paramref name="family"/>'s destination-side series for the lab client's principal with <paramref name="flags"/>.</summary>
    private static double InboundFromClient(string metrics, MeshLab lab, string family, string flags) =>
        metrics.Split('\n')
            .Where(l => l.StartsWith(family + "{", StringComparison.Ordinal)
                && l.Contains("reporter=\"destination\"", StringComparison.Ordinal)
                && l.Contains($"source_principal=\"{lab.Client.SpiffeId}\"", StringComparison.Ordinal)
                && l.Contains($"response_flags=\"{flags}\"", StringComparison.Ordinal))
            .Sum(l => double.Parse(l[(l.LastIndexOf('}') + 1)..].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture));

    [Fact]
    [Trait("case", "INT-03")]
    public async Task INT_03_with_a_mark_the_in_pod_rules_do_not_skip_a_passthrough_connection_is_a_SelfCall_not_a_loop_and_with_the_right_one_one_hop()
    {
        await using var lab = await MeshLab.UpAsync();
        var destination = new IPEndPoint(lab.NodeB.Ip, 18080);
        var listener = lab.Track(await EchoApp.StartAsync(lab.NodeB.NetnsPath, destination));
        var mesh = await LifecycleMesh.StartAsync(lab, Deadline, new Dictionary<string, IReadOnlyDictionary<string, string?>>
        {
            // A misconfigured mark (not the 1337 the rules let through): the proxy's own connection is captured again.
            ["node-a"] = new Dictionary<string, string?> { ["PACKET_MARK"] = "7" },
        });
        var toDestination = $"dst.addr={destination}";

        var looped = await Lifecycle.ProbeAsync(lab.Client.NetnsPath, destination, "loop?"u8.ToArray(), Short);

        var selfCall = await mesh.A.Ztunnel.WaitForLineAsync(l => l.Contains("connection complete", StringComparison.Ordinal) && l.Contains("SelfCall", StringComparison.Ordinal), Deadline);

        // A loop would add lines without end: watch for a while that the count stays small.
        var most = 0;
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < TimeSpan.FromSeconds(2))
        {
            most = Math.Max(most, Lifecycle.AccessLines(mesh.A.Ztunnel, "outbound").Count);
            await Task.Delay(TimeSpan.FromMilliseconds(100));
        }

        var reachedDuringLoop = listener.Clients.Count;
        Assert.Equal(0, await mesh.A.Ztunnel.StopAsync(Deadline));
        var marked = mesh.StartZtunnel(mesh.A);
        await marked.WaitReadyAsync(Deadline);
        byte[] reply;
        using (var client = await PodSockets.ConnectAsync(lab.Client.NetnsPath, destination, Deadline))
        {
            reply = await PodSockets.ExchangeAsync(client, "one hop"u8.ToArray(), Deadline);
        }

        var seen = await listener.WaitForClientAsync(Deadline);
        var hop = await marked.WaitForLineAsync(l => l.Contains("connection complete", StringComparison.Ordinal) && l.Contains(toDestination, StringComparison.Ordinal), Deadline);

        Assert.Contains(looped.Outcome, (LifecycleReadOutcome[])[LifecycleReadOutcome.EndOfStream, LifecycleReadOutcome.Reset]);
        Assert.Empty(looped.Data);
        Assert.Contains("direction=\"outbound\"", selfCall, StringComparison.Ordinal);
        Assert.InRange(most, 1, 3);
        Assert.Equal(0, reachedDuringLoop);
        Assert.Equal("one hop"u8.ToArray(), reply);
        Assert.Equal(lab.Client.Ip, seen.Address);
        Assert.Single(listener.Clients);
        Assert.Single(Lifecycle.AccessLines(marked, "outbound"));
        Assert.Contains("protocol=\"TCP\"", hop, StringComparison.Ordinal);
        Assert.DoesNotContain("SelfCall", hop, StringComparison.Ordinal);
    }

    private static List<string> PodUids(string configDump)
    {
        using var json = JsonDocument.Parse(Encoding.UTF8.GetBytes(configDump));
        return [.. json.RootElement.GetProperty("pods").EnumerateArray().Select(p => p.GetProperty("uid").GetString()!)];
    }
}
