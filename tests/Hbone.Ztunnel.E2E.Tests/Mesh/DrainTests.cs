using System.Diagnostics;
using System.Net;
using Hbone.Ztunnel.E2E.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Hbone.Ztunnel.E2E.Tests.MeshTests;

/// <summary>Graceful shutdown of a ztunnel with open tunnels: SIGTERM and POST /quitquitquit, timed from the signal.</summary>
public sealed class DrainTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan DrainDeadline = TimeSpan.FromSeconds(3);
    private static readonly TimeSpan ExitMargin = TimeSpan.FromSeconds(3);

    // A draining pod resets new connections at once, so a new one ends well before any dial timeout (10 s).
    private static readonly TimeSpan FreshDeadline = TimeSpan.FromSeconds(8);

    private static Dictionary<string, IReadOnlyDictionary<string, string?>> NodeBGrace => new()
    {
        ["node-b"] = new Dictionary<string, string?> { ["TERMINATION_GRACE_PERIOD_SECONDS"] = "3" },
    };

    [Fact]
    [Trait("case", "FT-08")]
    public async Task FT_08_sigterm_lets_open_tunnels_run_until_the_deadline_refuses_new_ones_then_exits_0()
    {
        await using var lab = await MeshLab.UpAsync();
        var echo = lab.Track(await EchoApp.StartAsync(lab.Echo, lab.EchoTargetPort));
        var mesh = await LifecycleMesh.StartAsync(lab, Deadline, NodeBGrace);
        using var tunnel = await PodSockets.ConnectAsync(lab.Client.NetnsPath, lab.EchoVip, Deadline);
        var before = await Lifecycle.EchoAsync(tunnel, "before"u8.ToArray(), Deadline);

        var clock = Stopwatch.StartNew();
        Lifecycle.Terminate(mesh.B.Ztunnel);
        var draining = await mesh.B.Ztunnel.WaitForLineAsync(l => l.Contains("draining: open connections may continue for", StringComparison.Ordinal), Deadline);
        var echoedAfterSignal = 0;
        do
        {
            var payload = System.Text.Encoding.ASCII.GetBytes($"after signal {echoedAfterSignal}");
            Assert.Equal(payload, await Lifecycle.EchoAsync(tunnel, payload, TimeSpan.FromSeconds(2)));
            echoedAfterSignal++;
        }
        while (clock.Elapsed < TimeSpan.FromSeconds(1));

        var lastEchoAt = clock.Elapsed;

        // A new connection during the drain: node-b's draining pod resets it (GOAWAY on the pooled connection, then a
        // reset on the new dial), so node-a fails it fast and it never reaches the app.
        var freshStartedAt = clock.Elapsed;
        var freshStartedDuringDrain = !mesh.B.Ztunnel.HasExited;
        var freshProbe = Lifecycle.ProbeAsync(lab.Client.NetnsPath, lab.EchoVip, "new during drain"u8.ToArray(), FreshDeadline);
        var closed = await Lifecycle.ReadAsync(tunnel, Deadline);
        var closedAt = clock.Elapsed;
        var exitedAt = await Lifecycle.WaitExitAsync(mesh.B.Ztunnel, clock, Deadline);
        var exitCode = await mesh.B.Ztunnel.StopAsync();
        var inbound = Lifecycle.AccessLines(mesh.B.Ztunnel, "inbound");
        var fresh = await freshProbe;
        var freshDoneAt = clock.Elapsed;
        var freshLine = await mesh.A.Ztunnel.WaitForLineAsync(
            l => l.Contains("direction=\"outbound\"", StringComparison.Ordinal) && !l.Contains("status=200", StringComparison.Ordinal), Deadline);
        output.WriteLine($"since SIGTERM: {echoedAfterSignal} echoes until {lastEchoAt}, open tunnel closed at {closedAt}, exit at {exitedAt}, new connection ended at {freshDoneAt}");

        Assert.Equal("before"u8.ToArray(), before);
        Assert.Contains("may continue for 3 s", draining, StringComparison.Ordinal);
        Assert.True(lastEchoAt < DrainDeadline, $"the last echo after the signal ended at {lastEchoAt}");
        Assert.True(freshStartedDuringDrain && freshStartedAt < DrainDeadline, $"the new connection started at {freshStartedAt}");
        Assert.True(fresh.Outcome is LifecycleReadOutcome.EndOfStream or LifecycleReadOutcome.Reset, $"the new connection during the drain: {fresh.Outcome} at {freshDoneAt}.{mesh.A.Ztunnel.Tail()}");
        Assert.Empty(fresh.Data);
        Assert.Contains("bytes_sent=0 ", freshLine, StringComparison.Ordinal);
        Assert.Contains("error=\"", freshLine, StringComparison.Ordinal);
        Assert.DoesNotContain("timed out", freshLine, StringComparison.Ordinal);
        Assert.True(freshDoneAt < DrainDeadline + ExitMargin, $"the new connection ended at {freshDoneAt}");
        Assert.Single(echo.Clients);
        Assert.Contains(closed.Outcome, (LifecycleReadOutcome[])[LifecycleReadOutcome.EndOfStream, LifecycleReadOutcome.Reset]);
        Assert.True(closedAt >= DrainDeadline - TimeSpan.FromMilliseconds(200), $"the open tunnel closed at {closedAt}, before the {DrainDeadline} deadline");
        Assert.Equal(0, exitCode);
        Assert.True(exitedAt < DrainDeadline + ExitMargin, $"exited {exitedAt} after SIGTERM (deadline {DrainDeadline})");
        Assert.Contains(inbound, l => l.Contains("error=\"drain deadline", StringComparison.Ordinal) && l.Contains($"src.identity=\"{lab.Client.SpiffeId}\"", StringComparison.Ordinal));
    }

    [Fact]
    [Trait("case", "FT-09")]
    public async Task FT_09_an_idle_tunnel_that_never_closes_does_not_hold_the_exit_past_the_deadline_and_quitquitquit_drains_too()
    {
        await using var lab = await MeshLab.UpAsync();
        var echo = lab.Track(await EchoApp.StartAsync(lab.Echo, lab.EchoTargetPort));
        var mesh = await LifecycleMesh.StartAsync(lab, Deadline, NodeBGrace);
        using var tunnel = await PodSockets.ConnectAsync(lab.Client.NetnsPath, lab.EchoVip, Deadline);
        await echo.WaitForClientAsync(Deadline);

        var clock = Stopwatch.StartNew();
        Lifecycle.Terminate(mesh.B.Ztunnel);
        var exitedAt = await Lifecycle.WaitExitAsync(mesh.B.Ztunnel, clock, Deadline);
        var exitCode = await mesh.B.Ztunnel.StopAsync();
        var idle = await Lifecycle.ReadAsync(tunnel, Deadline);
        tunnel.Dispose();

        var quitClock = Stopwatch.StartNew();
        var quit = await mesh.A.Ztunnel.QuitAsync();
        var quitExitedAt = await Lifecycle.WaitExitAsync(mesh.A.Ztunnel, quitClock, Deadline);
        var quitExitCode = await mesh.A.Ztunnel.StopAsync();
        output.WriteLine($"node-b exit {exitedAt} after SIGTERM (idle tunnel); node-a exit {quitExitedAt} after /quitquitquit");

        Assert.Equal(0, exitCode);
        Assert.InRange(exitedAt, DrainDeadline - TimeSpan.FromMilliseconds(200), DrainDeadline + ExitMargin);
        Assert.Contains(idle.Outcome, (LifecycleReadOutcome[])[LifecycleReadOutcome.EndOfStream, LifecycleReadOutcome.Reset]);
        Assert.Empty(idle.Data);
        Assert.Equal(HttpStatusCode.OK, quit);
        Assert.Equal(0, quitExitCode);
        Assert.Contains(mesh.A.Ztunnel.Lines, l => l.Contains("draining: open connections may continue for 5 s", StringComparison.Ordinal));
        Assert.True(quitExitedAt < TimeSpan.FromSeconds(5) + ExitMargin, $"node-a exited {quitExitedAt} after /quitquitquit");
    }
}
