using System.Diagnostics;
using System.Net.Sockets;
using Hbone.Client.Tests.Infrastructure;
using Hbone.Interop.Peers;
using Hbone.Kestrel.Tests.Infrastructure;

namespace Hbone.Client.Tests.Pool;

/// <summary>FT-06 / FT-07: the server goes away gracefully (GOAWAY), dies (RST), or silently vanishes.</summary>
public sealed class PeerRestartTests
{
    [Theory]
    [InlineData(PeerKind.Python)]
    [InlineData(PeerKind.Node)]
    [Trait("case", "FT-06")]
    public async Task FT06_peer_GOAWAY_lets_in_flight_streams_finish_and_the_next_tunnel_dials_a_new_connection(PeerKind kind)
    {
        using var upstream = new TcpUpstream();
        using var stop = new CancellationTokenSource();
        _ = upstream.RunEchoAsync(stop.Token);
        await using var peer = await PeerServer.StartAsync(kind, TestPki.Shared.Server, TestPki.Shared.Ca, "--goaway-after", "2");
        await using var client = ClientFixture.CreateClient();
        var key = ClientFixture.Key(peer.EndPoint);

        await using var first = await client.OpenAsync(ClientFixture.Request(peer.EndPoint, upstream.EndPoint));
        await using var second = await client.OpenAsync(ClientFixture.Request(peer.EndPoint, upstream.EndPoint));
        var goneAway = Tunnels.ConnectionOf(first);
        Assert.Same(goneAway, Tunnels.ConnectionOf(second));

        // The peer wrote GOAWAY right after the second 200; echoed bytes behind it prove the client has read it.
        await Tunnels.EchoExchangeAsync(second, 1024);
        Assert.False(goneAway.IsUsable);

        await using var third = await client.OpenAsync(ClientFixture.Request(peer.EndPoint, upstream.EndPoint));
        Assert.NotSame(goneAway, Tunnels.ConnectionOf(third));
        await peer.WaitForLineAsync(l => l.StartsWith("conn n=2 ", StringComparison.Ordinal) && l.Contains(" open "), ClientFixture.Deadline);

        // The streams in flight on the GOAWAY'd connection still finish, byte-exact.
        var payloads = new[] { RandomBytes(300_000), RandomBytes(200_000), RandomBytes(100_000) };
        var echoed = await Task.WhenAll(
            Tunnels.RoundTripAsync(first, payloads[0]),
            Tunnels.RoundTripAsync(second, payloads[1]),
            Tunnels.RoundTripAsync(third, payloads[2]));
        for (var i = 0; i < payloads.Length; i++)
        {
            Assert.Equal(System.Security.Cryptography.SHA256.HashData(payloads[i]), System.Security.Cryptography.SHA256.HashData(echoed[i]));
        }

        Assert.Equal(2, peer.OpenedConnections);
        Assert.Equal(0, peer.Count(l => l.Contains("refused-after-goaway", StringComparison.Ordinal)));
        // Node logs a stream when it closes, which may trail our read of its END_STREAM.
        Assert.True(await Tunnels.EventuallyAsync(() => peer.StreamLines.Count(l => l.Contains("status=200")) == 3, ClientFixture.Deadline), string.Join(" | ", peer.Lines));
        Assert.True(await Tunnels.EventuallyAsync(() => client.Pool.CountConnections(key) == 1, ClientFixture.Deadline), "the drained connection stayed in the pool");
    }

    [Fact]
    [Trait("case", "FT-06")]
    public async Task FT06_Kestrel_stopping_lets_the_open_tunnel_finish_and_the_next_request_dials_instead_of_reusing()
    {
        using var upstream = new TcpUpstream();
        using var stop = new CancellationTokenSource();
        _ = upstream.RunEchoAsync(stop.Token);
        await using var server = await HboneTestServer.StartAsync();
        await using var client = ClientFixture.CreateClient();

        await using var tunnel = await client.OpenAsync(ClientFixture.Request(server.EndPoint, upstream.EndPoint));
        await Tunnels.EchoExchangeAsync(tunnel, 1024);
        var connection = Tunnels.ConnectionOf(tunnel);
        using var stopDeadline = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var stopping = Task.Run(() => server.App.StopAsync(stopDeadline.Token));

        Assert.True(await Tunnels.EventuallyAsync(() => !connection.IsUsable, TimeSpan.FromSeconds(15)), "no GOAWAY from the stopping server");

        // The listener is gone: a new request must dial (refused), never use the GOAWAY'd connection.
        var error = await Assert.ThrowsAsync<HboneException>(() => client.OpenAsync(ClientFixture.Request(server.EndPoint, upstream.EndPoint)));
        Assert.Equal(HboneErrorReason.ConnectionFailed, error.Reason);
        Assert.Equal(SocketError.ConnectionRefused, Assert.IsType<SocketException>(error.InnerException).SocketErrorCode);

        var payload = RandomBytes(512 * 1024);
        Assert.Equal(System.Security.Cryptography.SHA256.HashData(payload), System.Security.Cryptography.SHA256.HashData(await Tunnels.RoundTripAsync(tunnel, payload)));
        await stopping.WaitAsync(ClientFixture.Deadline);
    }

    [Fact]
    [Trait("case", "FT-06")]
    public async Task FT06_peer_dying_with_RST_fails_in_flight_streams_fast_and_the_next_request_gets_a_new_connection()
    {
        using var upstream = new TcpUpstream();
        using var stop = new CancellationTokenSource();
        _ = upstream.RunEchoAsync(stop.Token);
        await using var peer = await PeerServer.StartAsync(PeerKind.Python, TestPki.Shared.Server, TestPki.Shared.Ca, "--reset-connection-after", "2", "--reset-delay", "1.5");
        await using var client = ClientFixture.CreateClient();

        await using var first = await client.OpenAsync(ClientFixture.Request(peer.EndPoint, upstream.EndPoint));
        await using var second = await client.OpenAsync(ClientFixture.Request(peer.EndPoint, upstream.EndPoint));
        var dead = Tunnels.ConnectionOf(first);
        var reads = new[] { first, second }.Select(t => t.ReadAsync(new byte[1024]).AsTask()).ToArray();

        await peer.WaitForLineAsync(l => l.Contains("tcp-reset"), ClientFixture.Deadline);
        var clock = Stopwatch.StartNew();
        foreach (var read in reads)
        {
            var error = await Assert.ThrowsAsync<HboneException>(() => read.WaitAsync(TimeSpan.FromSeconds(10)));
            Assert.Equal(HboneErrorReason.ConnectionFailed, error.Reason);
        }

        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"in-flight reads failed only after {clock.Elapsed}");
        var writeError = await Assert.ThrowsAsync<HboneException>(() => first.WriteAsync(new byte[10]).AsTask().WaitAsync(ClientFixture.Deadline));
        Assert.Equal(HboneErrorReason.ConnectionFailed, writeError.Reason);
        Assert.False(dead.IsUsable);

        await using var next = await client.OpenAsync(ClientFixture.Request(peer.EndPoint, upstream.EndPoint));
        Assert.NotSame(dead, Tunnels.ConnectionOf(next));
        var payload = RandomBytes(100_000);
        Assert.Equal(payload, await Tunnels.RoundTripAsync(next, payload));
        Assert.Equal(2, peer.OpenedConnections);
        Assert.Equal(1, client.Pool.CountConnections(ClientFixture.Key(peer.EndPoint)));
    }

    [Fact]
    [Trait("case", "FT-07")]
    [Trait("case", "H2-21")]
    public async Task FT07_H221_silently_vanished_peer_is_detected_by_PING_and_the_next_request_dials_anew()
    {
        using var upstream = new TcpUpstream();
        using var stop = new CancellationTokenSource();
        _ = upstream.RunEchoAsync(stop.Token);
        await using var server = await HboneTestServer.StartAsync();
        await using var proxy = new FaultProxy(server.EndPoint);
        await using var client = ClientFixture.CreateClient(o =>
        {
            o.KeepAlivePingDelay = TimeSpan.FromSeconds(1);
            o.KeepAlivePingTimeout = TimeSpan.FromSeconds(2);
        });
        var key = ClientFixture.Key(proxy.EndPoint);

        await using var tunnel = await client.OpenAsync(ClientFixture.Request(proxy.EndPoint, upstream.EndPoint));
        await Tunnels.EchoExchangeAsync(tunnel, 1024);
        var read = tunnel.ReadAsync(new byte[1024]).AsTask();

        proxy.Blackhole();
        var clock = Stopwatch.StartNew();
        var error = await Assert.ThrowsAsync<HboneException>(() => read.WaitAsync(TimeSpan.FromSeconds(20)));
        Assert.Equal(HboneErrorReason.ConnectionFailed, error.Reason);
        Assert.Contains("PING", error.Message);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(8), $"the dead peer was detected only after {clock.Elapsed}");
        Assert.True(await Tunnels.EventuallyAsync(() => client.Pool.CountConnections(key) == 0, TimeSpan.FromSeconds(10)), "the dead connection stayed in the pool");

        await using var next = await client.OpenAsync(ClientFixture.Request(proxy.EndPoint, upstream.EndPoint));
        Assert.Equal("alive"u8.ToArray(), await Tunnels.RoundTripAsync(next, "alive"u8.ToArray()));
        Assert.Equal(2, proxy.Accepted);
    }

    private static byte[] RandomBytes(int count) => System.Security.Cryptography.RandomNumberGenerator.GetBytes(count);
}
