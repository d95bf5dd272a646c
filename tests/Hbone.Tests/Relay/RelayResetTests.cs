using System.Security.Cryptography;
using Hbone.Relay;
using static Hbone.Tests.Relay.Loopback;

namespace Hbone.Tests.Relay;

/// <summary><see cref="TunnelRelay"/> propagates resets: TCP RST ↔ RST_STREAM (CONNECT_ERROR towards the tunnel).</summary>
public sealed class RelayResetTests
{
    [Fact]
    [Trait("case", "CON-10")]
    public async Task Socket_RST_on_one_side_resets_the_other_socket()
    {
        var (app, a) = await PairAsync();
        var (upstream, b) = await PairAsync();
        using var _ = new Sockets(app, a, upstream, b);
        var relay = new TunnelRelay(RelayEndpoint.Create(a), RelayEndpoint.Create(b));
        var run = relay.RunAsync();
        await app.SendAsync(new byte[1000]);
        await ReadExactlyAsync(upstream, 1000);

        Rst(app);

        await AssertResetAsync(upstream);
        Assert.Equal(TunnelOutcome.UpstreamReset, await run.WaitAsync(Deadline));
        Assert.Equal(1000, relay.BytesAToB);
    }

    [Fact]
    [Trait("case", "CON-09")]
    public async Task Socket_RST_resets_the_tunnel_as_an_upstream_reset_which_an_HTTP2_tunnel_sends_as_CONNECT_ERROR()
    {
        var (upstream, socket) = await PairAsync();
        using var _ = new Sockets(upstream, socket);
        var tunnel = TestPipeEndpoint.Create();
        var run = new TunnelRelay(tunnel, RelayEndpoint.Create(socket)).RunAsync();
        await upstream.SendAsync(new byte[500]);

        Rst(upstream);

        Assert.Equal(TunnelOutcome.UpstreamReset, await run.WaitAsync(Deadline));
        Assert.Equal(TunnelOutcome.UpstreamReset, await tunnel.Failed.WaitAsync(Deadline));
    }

    [Fact]
    [Trait("case", "CON-10")]
    public async Task Peer_reset_of_the_tunnel_resets_the_socket_with_a_TCP_RST()
    {
        var (upstream, socket) = await PairAsync();
        using var _ = new Sockets(upstream, socket);
        var tunnel = TestPipeEndpoint.Create();
        var run = new TunnelRelay(tunnel, RelayEndpoint.Create(socket)).RunAsync();
        var data = RandomNumberGenerator.GetBytes(4096);
        await tunnel.FromPeer.WriteAsync(data);
        Assert.Equal(data, await ReadExactlyAsync(upstream, 4096));

        tunnel.PeerReset();

        await AssertResetAsync(upstream);
        Assert.Equal(TunnelOutcome.PeerReset, await run.WaitAsync(Deadline));
        Assert.Equal(TunnelOutcome.PeerReset, await tunnel.Failed.WaitAsync(Deadline));
    }

    [Fact]
    [Trait("case", "CON-10")]
    public async Task Cancellation_aborts_and_resets_both_sockets()
    {
        var (app, a) = await PairAsync();
        var (upstream, b) = await PairAsync();
        using var _ = new Sockets(app, a, upstream, b);
        using var cts = new CancellationTokenSource();
        var run = new TunnelRelay(RelayEndpoint.Create(a), RelayEndpoint.Create(b)).RunAsync(cts.Token);

        await cts.CancelAsync();

        Assert.Equal(TunnelOutcome.Aborted, await run.WaitAsync(Deadline));
        await AssertResetAsync(app);
        await AssertResetAsync(upstream);
    }
}
