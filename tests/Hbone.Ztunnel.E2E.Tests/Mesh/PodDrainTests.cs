using System.Diagnostics;
using System.Net.Sockets;
using Hbone.Ztunnel.E2E.Tests.Infrastructure;

namespace Hbone.Ztunnel.E2E.Tests.MeshTests;

/// <summary>
/// One pod deleted while its node carries on (E2E-10): its pooled outbound HBONE connection drains, a tunnel into it
/// that outlives the grace period is closed at the deadline, and the other pods of the node see nothing. Each test
/// deletes a pod for good, so each has its own lab.
/// </summary>
public sealed class PodDrainTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    // Far below the pool's 5-minute idle release: a pooled connection gone within this was drained, not left to expire.
    private static readonly TimeSpan Short = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan Grace = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan Margin = TimeSpan.FromSeconds(2);

    [Fact]
    [Trait("case", "E2E-10")]
    public async Task E2E_10_a_deleted_pod_s_pooled_outbound_connection_carries_its_open_tunnel_to_the_end_then_closes()
    {
        await using var lab = await MeshLab.UpAsync();
        lab.Track(await EchoApp.StartAsync(lab.Echo, lab.EchoTargetPort));
        var mesh = await LifecycleMesh.StartAsync(lab, Deadline, GracePeriod("node-a", TimeSpan.FromSeconds(60)));
        using var tunnel = await PodSockets.ConnectAsync(lab.Client.NetnsPath, lab.EchoVip, Deadline);
        var before = await Lifecycle.EchoAsync(tunnel, "before"u8.ToArray(), Deadline);
        var pooledBefore = await Lifecycle.HboneConnectionsAsync(lab.Echo, lab.Client);

        await mesh.A.Agent.DeleteAsync(lab.Client);

        var draining = await mesh.A.Ztunnel.WaitForLineAsync(l => l.Contains($"pod {lab.Client.Uid} draining", StringComparison.Ordinal), Deadline);
        var during = await Lifecycle.EchoAsync(tunnel, "during the drain"u8.ToArray(), Deadline);
        var pooledDuring = await Lifecycle.HboneConnectionsAsync(lab.Echo, lab.Client);
        tunnel.Shutdown(SocketShutdown.Send);
        var ended = await Lifecycle.ReadAsync(tunnel, Deadline);
        var clock = Stopwatch.StartNew();
        await Lifecycle.UntilAsync(async () => await Lifecycle.HboneConnectionsAsync(lab.Echo, lab.Client) == 0, Short, "the drained pooled connection closing at the echo pod's 15008");
        var closedAfter = clock.Elapsed;
        var inbound = TrafficLog.Fields(await mesh.B.Ztunnel.WaitForLineAsync(
            l => TrafficLog.IsAccessLine(l) && l.Contains("direction=\"inbound\"", StringComparison.Ordinal) && l.Contains($"src.identity=\"{lab.Client.SpiffeId}\"", StringComparison.Ordinal),
            Deadline));

        Assert.Equal("before"u8.ToArray(), before);
        Assert.Equal(1, pooledBefore);
        Assert.Contains("pooled outbound connections draining", draining, StringComparison.Ordinal);
        Assert.Equal("during the drain"u8.ToArray(), during);
        Assert.Equal(1, pooledDuring); // GOAWAY, not a cut: the open tunnel still rides the same connection
        Assert.Equal(LifecycleReadOutcome.EndOfStream, ended.Outcome);
        Assert.True(closedAfter < Short, $"the pooled connection closed {closedAfter} after its last tunnel ended");
        Assert.Equal("200", inbound["status"]);
        Assert.False(inbound.ContainsKey("error"), $"the tunnel through the draining connection ended with an error: {inbound.GetValueOrDefault("error")}");
    }

    [Fact]
    [Trait("case", "E2E-10")]
    public async Task E2E_10_a_tunnel_into_a_deleted_pod_that_outlives_the_grace_period_is_closed_at_the_deadline_with_the_reason_logged()
    {
        await using var lab = await MeshLab.UpAsync();
        lab.Track(await EchoApp.StartAsync(lab.Echo, lab.EchoTargetPort));
        var mesh = await LifecycleMesh.StartAsync(lab, Deadline, GracePeriod("node-b", Grace));
        using var tunnel = await PodSockets.ConnectAsync(lab.Client.NetnsPath, lab.EchoVip, Deadline);
        var before = await Lifecycle.EchoAsync(tunnel, "before"u8.ToArray(), Deadline);

        await mesh.B.Agent.DeleteAsync(lab.Echo);

        var draining = await mesh.B.Ztunnel.WaitForLineAsync(l => l.Contains($"pod {lab.Echo.Uid} draining", StringComparison.Ordinal), Deadline);
        var clock = Stopwatch.StartNew();
        var during = await Lifecycle.EchoAsync(tunnel, "within the grace period"u8.ToArray(), Deadline);
        var closed = await Lifecycle.ReadAsync(tunnel, Deadline);
        var closedAfter = clock.Elapsed;
        var inbound = TrafficLog.Fields(await mesh.B.Ztunnel.WaitForLineAsync(
            l => TrafficLog.IsAccessLine(l) && l.Contains("direction=\"inbound\"", StringComparison.Ordinal) && l.Contains("error=", StringComparison.Ordinal),
            Deadline));

        Assert.Equal("before"u8.ToArray(), before);
        Assert.Contains($"{Grace.TotalSeconds} s for open tunnels", draining, StringComparison.Ordinal);
        Assert.Equal("within the grace period"u8.ToArray(), during);
        Assert.Contains(closed.Outcome, (LifecycleReadOutcome[])[LifecycleReadOutcome.EndOfStream, LifecycleReadOutcome.Reset]);
        Assert.Empty(closed.Data);

        // The clock started once the drain was logged, a little after the deadline's own start.
        Assert.InRange(closedAfter, Grace - TimeSpan.FromMilliseconds(500), Grace + Margin);
        Assert.Equal("drain deadline reached", inbound["error"]);
        Assert.Equal(lab.Client.SpiffeId, inbound["src.identity"]);
    }

    [Fact]
    [Trait("case", "E2E-10")]
    public async Task E2E_10_deleting_one_pod_sends_no_GOAWAY_to_another_pod_of_the_node_whose_inbound_tunnel_keeps_working()
    {
        await using var lab = await MeshLab.UpAsync();
        lab.Track(await EchoApp.StartAsync(lab.LocalEcho, lab.EchoTargetPort));
        var bystanderApp = lab.Track(await EchoApp.StartAsync(lab.Client, lab.EchoTargetPort));
        var mesh = await LifecycleMesh.StartAsync(lab, Deadline, GracePeriod("node-a", TimeSpan.FromSeconds(60)));

        // Two tunnels from node-b into node-a's pods: one into the pod that goes, one into the pod that stays.
        var leaving = await NodeHboneClient.ConnectAsync(lab, mesh.CaDirectory, lab.NodeB, lab.LocalEcho, Deadline);
        var bystander = await NodeHboneClient.ConnectAsync(lab, mesh.CaDirectory, lab.NodeB, lab.Client, Deadline);
        await NodeHboneClient.EchoAsync(leaving, "leaving before", Deadline);
        await NodeHboneClient.EchoAsync(bystander, "bystander before", Deadline);

        await mesh.A.Agent.DeleteAsync(lab.LocalEcho);

        var goAway = await leaving.WaitForLineAsync(l => l.StartsWith("goaway=", StringComparison.Ordinal), Deadline);
        await NodeHboneClient.EchoAsync(bystander, "bystander during", Deadline);
        leaving.Input.Close();
        var leavingExit = await leaving.WaitForExitAsync(Deadline);
        await Lifecycle.UntilAsync(async () => !(await Lifecycle.ListenersAsync(lab.LocalEcho.Netns)).Any(Lifecycle.IsProxyListener), Deadline, "the deleted pod's drain finishing");
        await NodeHboneClient.EchoAsync(bystander, "bystander after", Deadline);
        bystander.Input.Close();
        var bystanderExit = await bystander.WaitForExitAsync(Deadline);

        Assert.Equal("goaway=0 last=1", goAway);
        Assert.Equal(0, leavingExit);
        Assert.DoesNotContain(bystander.Lines, l => l.StartsWith("goaway=", StringComparison.Ordinal) || l.StartsWith("reset=", StringComparison.Ordinal));
        Assert.True(bystanderExit == 0, $"the bystander's client exited with {bystanderExit}{bystander.Tail()}");
        Assert.Contains("ended", bystander.Lines);
        Assert.Single(bystanderApp.Clients);
        Assert.Contains(mesh.A.Ztunnel.Lines, l => l.Contains($"pod {lab.LocalEcho.Uid} draining: GOAWAY on 1 inbound HBONE connection(s)", StringComparison.Ordinal));
    }

    private static Dictionary<string, IReadOnlyDictionary<string, string?>> GracePeriod(string node, TimeSpan grace) => new()
    {
        [node] = new Dictionary<string, string?> { ["TERMINATION_GRACE_PERIOD_SECONDS"] = ((int)grace.TotalSeconds).ToString(System.Globalization.CultureInfo.InvariantCulture) },
    };
}
