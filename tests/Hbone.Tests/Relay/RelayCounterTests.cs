using System.Security.Cryptography;
using Hbone.Relay;
using static Hbone.Tests.Relay.Loopback;

namespace Hbone.Tests.Relay;

/// <summary>
/// <see cref="TunnelRelay"/>'s byte counters rise while it runs. The relay copies one direction in order, so once a
/// second chunk arrived at the far end the first chunk's bytes must already be counted: no sleep, no polling.
/// </summary>
public sealed class RelayCounterTests
{
    private const int First = 200_000;
    private const int Second = 1_000;

    [Fact]
    [Trait("case", "CON-14")]
    public async Task Socket_to_socket_counters_are_visible_mid_transfer_in_both_directions()
    {
        var (app, a) = await PairAsync();
        var (upstream, b) = await PairAsync();
        using var _ = new Sockets(app, a, upstream, b);
        var relay = new TunnelRelay(RelayEndpoint.Create(a), RelayEndpoint.Create(b));
        var run = relay.RunAsync();

        await app.SendAsync(RandomNumberGenerator.GetBytes(First));
        await ReadExactlyAsync(upstream, First);
        await app.SendAsync(RandomNumberGenerator.GetBytes(Second));
        await ReadExactlyAsync(upstream, Second);
        Assert.InRange(relay.BytesAToB, First, First + Second);
        Assert.Equal(0, relay.BytesBToA);

        await upstream.SendAsync(RandomNumberGenerator.GetBytes(First));
        await ReadExactlyAsync(app, First);
        await upstream.SendAsync(RandomNumberGenerator.GetBytes(Second));
        await ReadExactlyAsync(app, Second);
        Assert.InRange(relay.BytesBToA, First, First + Second);
        Assert.False(run.IsCompleted, "the counters were read while the relay was still running");

        app.Shutdown(System.Net.Sockets.SocketShutdown.Send);
        upstream.Shutdown(System.Net.Sockets.SocketShutdown.Send);
        Assert.Equal(TunnelOutcome.Completed, await run.WaitAsync(Deadline));
        Assert.Equal((First + Second, (long)First + Second), (relay.BytesAToB, relay.BytesBToA));
    }

    [Fact]
    [Trait("case", "CON-14")]
    public async Task Socket_to_pipe_counter_is_visible_mid_transfer()
    {
        var (upstream, socket) = await PairAsync();
        using var _ = new Sockets(upstream, socket);
        var tunnel = TestPipeEndpoint.Create();
        var relay = new TunnelRelay(tunnel, RelayEndpoint.Create(socket));
        var run = relay.RunAsync();

        await upstream.SendAsync(RandomNumberGenerator.GetBytes(First));
        await ReadFromPeerAsync(tunnel, First);
        await upstream.SendAsync(RandomNumberGenerator.GetBytes(Second));
        await ReadFromPeerAsync(tunnel, Second);

        Assert.InRange(relay.BytesBToA, First, First + Second);
        Assert.False(run.IsCompleted, "the counter was read while the relay was still running");
        tunnel.PeerReset();
        Assert.Equal(TunnelOutcome.PeerReset, await run.WaitAsync(Deadline));
    }

    private static async Task ReadFromPeerAsync(TestPipeEndpoint tunnel, int count)
    {
        long total = 0;
        while (total < count)
        {
            var result = await tunnel.ToPeer.ReadAsync().AsTask().WaitAsync(Deadline);
            var take = result.Buffer.Slice(0, Math.Min(result.Buffer.Length, count - total));
            total += take.Length;
            tunnel.ToPeer.AdvanceTo(take.End);
            Assert.False(result.IsCompleted && total < count, "the relay ended the tunnel early");
        }
    }
}
