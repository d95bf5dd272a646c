using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Hbone.Client.Tests.Infrastructure;
using Hbone.Identity;
using Hbone.Interop.Peers;
using Hbone.Kestrel.Tests.Infrastructure;

namespace Hbone.Client.Tests.Pool;

/// <summary>Pool bookkeeping on failure paths: stream slots, shared dial failures, dial timeouts, disposal.</summary>
public sealed class PoolLifecycleTests
{
    private static readonly IPAddress Pod = IPAddress.Parse("10.244.0.9");

    [Fact]
    [Trait("case", "FT-13")]
    public async Task FT13_refused_cancelled_aborted_and_reset_tunnels_free_their_slots_and_the_connection_idles_out()
    {
        var handlerReached = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = await HboneTestServer.StartAsync(handler: hbone => hbone.AddHandler(async context =>
        {
            switch (context.Authority.Port)
            {
                case 503:
                    await context.RejectAsync(503, "test");
                    return;
                case 1000: // never answers until the client gives up
                    handlerReached.TrySetResult();
                    await Task.Delay(Timeout.Infinite, context.Aborted).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                    return;
                case 1001: // answers, then resets
                    var reset = await context.AcceptAsync();
                    reset.Reset(Hbone.Http2.Http2ErrorCode.Cancel);
                    return;
                default:
                    var tunnel = await context.AcceptAsync();
                    await tunnel.Input.CopyToAsync(tunnel.Output, context.Aborted).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                    await tunnel.CompleteWritesAsync();
                    return;
            }
        }));
        await using var client = ClientFixture.CreateClient(o => o.PooledConnectionIdleTimeout = TimeSpan.FromSeconds(1));
        var key = ClientFixture.Key(server.EndPoint);
        Hbone.Client.HboneRequest To(int port) => ClientFixture.Request(server.EndPoint, new IPEndPoint(Pod, port));

        var echo = await client.OpenAsync(To(80));
        var connection = Tunnels.ConnectionOf(echo);

        var refused = await Assert.ThrowsAsync<Hbone.Client.HboneConnectException>(() => client.OpenAsync(To(503)));
        Assert.Equal(503, refused.ResponseStatus);

        using (var cancel = new CancellationTokenSource())
        {
            var pending = client.ConnectAsync(To(1000), cancel.Token).AsTask();
            await handlerReached.Task.WaitAsync(ClientFixture.Deadline);
            await cancel.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => pending.WaitAsync(ClientFixture.Deadline));
        }

        await using (var reset = await client.OpenAsync(To(1001)))
        {
            var error = await Assert.ThrowsAsync<Hbone.Http2.Http2StreamResetException>(() => reset.ReadAsync(new byte[16]).AsTask().WaitAsync(ClientFixture.Deadline));
            Assert.Equal(Hbone.Http2.Http2ErrorCode.Cancel, error.ErrorCode);
        }

        await using (var aborted = await client.OpenAsync(To(81)))
        {
            await Tunnels.EchoExchangeAsync(aborted, 100);
            aborted.Abort();
        }

        Assert.Equal(1, connection.ActiveStreams);
        Assert.Equal("done"u8.ToArray(), await Tunnels.RoundTripAsync(echo, "done"u8.ToArray()));
        await echo.DisposeAsync();

        Assert.True(await Tunnels.EventuallyAsync(() => connection.ActiveStreams == 0, ClientFixture.Deadline), $"{connection.ActiveStreams} stream slots leaked");
        Assert.True(await Tunnels.EventuallyAsync(() => client.Pool.CountConnections(key) == 0, ClientFixture.Deadline), "the idle connection was not released");
        await connection.Closed.WaitAsync(ClientFixture.Deadline);
    }

    [Fact]
    [Trait("case", "FT-13")]
    public async Task FT13_a_failing_dial_is_shared_by_all_concurrent_requests()
    {
        await using var server = await RecordingEchoServer.StartAsync();
        await using var proxy = new FaultProxy(server.EndPoint);
        await using var client = ClientFixture.CreateClient();
        var wrong = SpiffeId.Parse("spiffe://cluster.local/ns/default/sa/somebody-else");

        var attempts = Enumerable.Range(0, 20)
            .Select(_ => Task.Run(() => client.OpenAsync(ClientFixture.Request(proxy.EndPoint, new IPEndPoint(Pod, 80), wrong))))
            .ToArray();
        foreach (var attempt in attempts)
        {
            var error = await Assert.ThrowsAsync<HboneException>(() => attempt);
            Assert.Equal(HboneErrorReason.InvalidSvid, error.Reason);
        }

        Assert.Equal(1, proxy.Accepted);
        Assert.Empty(server.Seen);
    }

    [Fact]
    [Trait("case", "FT-13")]
    public async Task FT13_the_peers_lower_stream_limit_caps_each_connection()
    {
        using var upstream = new TcpUpstream();
        using var stop = new CancellationTokenSource();
        _ = upstream.RunEchoAsync(stop.Token);
        await using var peer = await PeerServer.StartAsync(PeerKind.Python, TestPki.Shared.Server, TestPki.Shared.Ca, "--max-concurrent-streams", "3");
        await using var client = ClientFixture.CreateClient();

        var tunnels = await Task.WhenAll(Enumerable.Range(0, 7).Select(_ => Task.Run(() => client.OpenAsync(ClientFixture.Request(peer.EndPoint, upstream.EndPoint)))));
        try
        {
            Assert.Equal([1, 3, 3], tunnels.GroupBy(Tunnels.ConnectionOf).Select(g => g.Count()).Order().ToArray());
            Assert.Equal(3, client.Pool.CountConnections(ClientFixture.Key(peer.EndPoint)));
            Assert.Equal(0, peer.Count(l => l.Contains("too-many-streams", StringComparison.Ordinal)));
            foreach (var tunnel in tunnels)
            {
                await Tunnels.EchoExchangeAsync(tunnel, 1000);
            }
        }
        finally
        {
            foreach (var tunnel in tunnels)
            {
                await tunnel.DisposeAsync();
            }
        }
    }

    [Fact]
    [Trait("case", "INT-13")]
    public async Task INT13_dial_to_a_silent_port_times_out_with_a_hint_instead_of_hanging()
    {
        // A listener that never accepts: the kernel completes the TCP handshake, the TLS ClientHello is never answered.
        using var silent = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        silent.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        silent.Listen(16);
        await using var client = ClientFixture.CreateClient(o =>
        {
            o.ConnectTimeout = TimeSpan.FromSeconds(1);
            o.MaxDialRetries = 1;
            o.DialRetryDelay = TimeSpan.FromMilliseconds(50);
        });

        var clock = Stopwatch.StartNew();
        var error = await Assert.ThrowsAsync<HboneException>(() => client.OpenAsync(ClientFixture.Request((IPEndPoint)silent.LocalEndPoint!, new IPEndPoint(Pod, 80))));

        Assert.Equal(HboneErrorReason.ConnectionFailed, error.Reason);
        Assert.Contains("timed out", error.Message);
        Assert.Contains("network policy", error.Message);
        Assert.InRange(clock.Elapsed, TimeSpan.FromSeconds(1.9), TimeSpan.FromSeconds(15));
    }

    [Fact]
    [Trait("case", "FT-13")]
    public async Task FT13_disposing_the_client_fails_open_tunnels_and_further_requests()
    {
        await using var server = await RecordingEchoServer.StartAsync();
        var client = ClientFixture.CreateClient();
        var tunnel = await client.OpenAsync(ClientFixture.Request(server.EndPoint, new IPEndPoint(Pod, 80)));
        await Tunnels.EchoExchangeAsync(tunnel, 100);
        var read = tunnel.ReadAsync(new byte[16]).AsTask();

        await client.DisposeAsync().AsTask().WaitAsync(ClientFixture.Deadline);

        var error = await Assert.ThrowsAsync<HboneException>(() => read.WaitAsync(ClientFixture.Deadline));
        Assert.Equal(HboneErrorReason.ConnectionFailed, error.Reason);
        await tunnel.DisposeAsync();
        await Assert.ThrowsAsync<ObjectDisposedException>(() => client.OpenAsync(ClientFixture.Request(server.EndPoint, new IPEndPoint(Pod, 80))));
    }
}
