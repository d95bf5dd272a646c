using System.Diagnostics;
using System.Text;
using Hbone.Cli.Tests.Infrastructure;

namespace Hbone.Cli.Tests;

/// <summary>SIGTERM: GOAWAY, open tunnels continue until the drain deadline, then the process exits 0.</summary>
public sealed class DrainTests(DevelopmentCertificates certs) : IClassFixture<DevelopmentCertificates>, IAsyncLifetime
{
    private readonly EchoServer _echo = new();

    [Fact]
    [Trait("case", "FT-09")]
    public async Task Sigterm_with_an_idle_tunnel_exits_0_at_the_drain_deadline()
    {
        using var serve = HboneProcess.Start(certs.ServeArgs("--drain-timeout", "1"));
        var (address, _) = await serve.WaitForListeningAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await using var tunnel = await TunnelClient.ConnectAsync(address, certs.File("client.pem"), certs.File("client.key"), _echo.EndPoint.ToString(), timeout.Token);
        Assert.Equal(200, tunnel.Status);

        var clock = Stopwatch.StartNew();
        serve.Signal(HboneProcess.SIGTERM);
        var code = await serve.WaitForExitAsync(TimeSpan.FromSeconds(1 + 5));

        Assert.True(code == 0, $"exit code {code}. {serve.Describe()}");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(6), $"took {clock.Elapsed}");
    }

    [Fact]
    [Trait("case", "FT-08")]
    public async Task Sigterm_sends_goaway_and_open_tunnels_keep_working_during_the_drain()
    {
        // Longer than System.CommandLine's 2 s default termination timeout, which must not cut the drain short.
        const int drainSeconds = 4;
        using var serve = HboneProcess.Start(certs.ServeArgs("--drain-timeout", drainSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        var (address, _) = await serve.WaitForListeningAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await using var tunnel = await TunnelClient.ConnectAsync(address, certs.File("client.pem"), certs.File("client.key"), _echo.EndPoint.ToString(), timeout.Token);
        Assert.Equal(200, tunnel.Status);

        var clock = Stopwatch.StartNew();
        serve.Signal(HboneProcess.SIGTERM);
        await Task.Delay(TimeSpan.FromSeconds(2.5), timeout.Token);
        Assert.False(serve.HasExited, $"the process must still be draining 2.5 s after SIGTERM. {serve.Describe()}");

        await tunnel.SendAsync(Encoding.UTF8.GetBytes("during drain"), endStream: true, timeout.Token);
        var echoed = Encoding.UTF8.GetString(await tunnel.ReadToEndAsync(timeout.Token));
        var code = await serve.WaitForExitAsync(TimeSpan.FromSeconds(drainSeconds + 5));

        Assert.Equal("during drain", echoed);
        Assert.True(tunnel.GoAwayReceived, "GOAWAY after SIGTERM");
        Assert.True(code == 0, $"exit code {code}. {serve.Describe()}");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(drainSeconds + 5), $"took {clock.Elapsed}");
        Assert.Contains(serve.Stdout, l => l.Contains("status=200", StringComparison.Ordinal) && l.Contains("outcome=completed", StringComparison.Ordinal));
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _echo.DisposeAsync();
}
