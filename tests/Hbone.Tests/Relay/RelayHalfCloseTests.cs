using System.Net.Sockets;
using System.Security.Cryptography;
using Hbone.Relay;
using static Hbone.Tests.Relay.Loopback;

namespace Hbone.Tests.Relay;

/// <summary><see cref="TunnelRelay"/> keeps half-close both ways: a FIN (or END_STREAM) ends one direction only.</summary>
public sealed class RelayHalfCloseTests
{
    [Fact]
    [Trait("case", "CON-07")]
    [Trait("case", "CON-08")]
    public async Task Socket_to_socket_half_close_each_way_while_the_other_direction_keeps_flowing()
    {
        var (app, a) = await PairAsync();
        var (upstream, b) = await PairAsync();
        using var _ = new Sockets(app, a, upstream, b);
        var relay = new TunnelRelay(RelayEndpoint.Create(a), RelayEndpoint.Create(b));
        var run = relay.RunAsync();

        // The upstream speaks first and half-closes; the app reads its EOF and still sends afterwards.
        var greeting = RandomNumberGenerator.GetBytes(300_000);
        await SendAndShutdownAsync(upstream, greeting);
        Assert.Equal(SHA256.HashData(greeting), SHA256.HashData(await ReadToEndAsync(app)));
        Assert.False(run.IsCompleted);

        var request = RandomNumberGenerator.GetBytes(500_000);
        await SendAndShutdownAsync(app, request);
        Assert.Equal(SHA256.HashData(request), SHA256.HashData(await ReadToEndAsync(upstream)));

        Assert.Equal(TunnelOutcome.Completed, await run.WaitAsync(Deadline));
        Assert.Equal((500_000L, 300_000L), (relay.BytesAToB, relay.BytesBToA));
    }

    [Fact]
    [Trait("case", "CON-07")]
    public async Task Peer_END_STREAM_becomes_a_FIN_and_the_socket_keeps_sending_to_the_peer()
    {
        var (upstream, socket) = await PairAsync();
        using var _ = new Sockets(upstream, socket);
        var tunnel = TestPipeEndpoint.Create();
        var relay = new TunnelRelay(tunnel, RelayEndpoint.Create(socket));
        var run = relay.RunAsync();

        await tunnel.FromPeer.WriteAsync("request"u8.ToArray());
        await tunnel.FromPeer.CompleteAsync();
        Assert.Equal("request"u8.ToArray(), await ReadToEndAsync(upstream));

        await upstream.SendAsync("reply after FIN"u8.ToArray(), SocketFlags.None);
        upstream.Shutdown(SocketShutdown.Send);
        Assert.Equal("reply after FIN"u8.ToArray(), await tunnel.ReadToEndAsync());

        Assert.Equal(TunnelOutcome.Completed, await run.WaitAsync(Deadline));
        Assert.False(tunnel.Failed.IsCompleted, "a clean end must not reset the tunnel");
        Assert.Equal((7L, 15L), (relay.BytesAToB, relay.BytesBToA));
    }

    [Fact]
    [Trait("case", "CON-08")]
    public async Task Socket_FIN_becomes_END_STREAM_and_the_peer_keeps_sending()
    {
        var (upstream, socket) = await PairAsync();
        using var _ = new Sockets(upstream, socket);
        var tunnel = TestPipeEndpoint.Create();
        var run = new TunnelRelay(tunnel, RelayEndpoint.Create(socket)).RunAsync();

        await upstream.SendAsync("banner"u8.ToArray(), SocketFlags.None);
        upstream.Shutdown(SocketShutdown.Send);
        Assert.Equal("banner"u8.ToArray(), await tunnel.ReadToEndAsync());
        Assert.False(run.IsCompleted);

        await tunnel.FromPeer.WriteAsync("still sending"u8.ToArray());
        await tunnel.FromPeer.CompleteAsync();
        Assert.Equal("still sending"u8.ToArray(), await ReadToEndAsync(upstream));
        Assert.Equal(TunnelOutcome.Completed, await run.WaitAsync(Deadline));
    }
}

/// <summary>Disposes the test's sockets.</summary>
internal sealed class Sockets(params Socket[] sockets) : IDisposable
{
    public void Dispose()
    {
        foreach (var socket in sockets)
        {
            socket.Dispose();
        }
    }
}
