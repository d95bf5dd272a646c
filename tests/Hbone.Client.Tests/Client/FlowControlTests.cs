using System.Net.Sockets;
using Hbone.Client.Tests.Infrastructure;
using Hbone.Http2;
using Hbone.Interop.Peers;
using Hbone.Kestrel.Tests.Infrastructure;

namespace Hbone.Client.Tests.Client;

/// <summary>Flow control on the client: blocked writers, and credit that must come back when tunnels end early.</summary>
public sealed class FlowControlTests
{
    [Fact]
    [Trait("case", "CON-09")]
    public async Task CON09_upstream_RST_while_the_client_write_waits_for_window_fails_the_write_with_CONNECT_ERROR()
    {
        using var upstream = new TcpUpstream();
        await using var peer = await PeerServer.StartAsync(PeerKind.Python, TestPki.Shared.Server, TestPki.Shared.Ca);
        await using var client = ClientFixture.CreateClient();
        await using var tunnel = await client.OpenAsync(ClientFixture.Request(peer.EndPoint, upstream.EndPoint));
        using var target = await upstream.AcceptAsync();

        // The upstream never reads: the peer stops granting window, and the writer blocks on flow control.
        using var stopWriting = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var chunk = new byte[64 * 1024];
        var writer = Task.Run(async () =>
        {
            for (var i = 0; i < 4096; i++)
            {
                await tunnel.WriteAsync(chunk, stopWriting.Token);
            }
        });
        Assert.True(await WaitUntilStalledAsync(tunnel, writer), "the writer never blocked on flow control");

        target.LingerState = new LingerOption(true, 0);
        target.Close();
        var error = await Assert.ThrowsAsync<Http2StreamResetException>(() => writer.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(Http2ErrorCode.ConnectError, error.ErrorCode);
        Assert.False(stopWriting.IsCancellationRequested);
    }

    [Fact]
    [Trait("case", "CON-10")]
    public async Task CON10_tunnels_disposed_with_unread_data_give_the_connection_window_back()
    {
        // Each tunnel receives a full stream window (4 MiB) that the application never reads, then is disposed.
        // Five of them exceed the 16 MiB connection window: without the credit back, the connection stalls.
        const int Window = 4 * 1024 * 1024;
        await using var server = await HboneTestServer.StartAsync(handler: hbone => hbone.AddHandler(async context =>
        {
            var tunnel = await context.AcceptAsync();
            try
            {
                if (context.Authority.Port == 1)
                {
                    await tunnel.Output.WriteAsync(new byte[Window], context.Aborted);
                }

                await tunnel.Input.CopyToAsync(tunnel.Output, context.Aborted);
                await tunnel.CompleteWritesAsync();
            }
            catch (Exception ex) when (ex is OperationCanceledException or IOException or InvalidOperationException)
            {
            }
        }));
        await using var client = ClientFixture.CreateClient();
        var flood = ClientFixture.Request(server.EndPoint, new System.Net.IPEndPoint(System.Net.IPAddress.Parse("10.244.0.9"), 1));
        var echo = ClientFixture.Request(server.EndPoint, new System.Net.IPEndPoint(System.Net.IPAddress.Parse("10.244.0.9"), 2));

        Http2ClientConnection? connection = null;
        for (var i = 0; i < 5; i++)
        {
            await using var tunnel = await client.OpenAsync(flood);
            connection ??= Tunnels.ConnectionOf(tunnel);
            Assert.Same(connection, Tunnels.ConnectionOf(tunnel));
            await WaitBufferedAsync(tunnel, Window);
        }

        await using var last = await client.OpenAsync(echo);
        Assert.Same(connection, Tunnels.ConnectionOf(last));
        await Tunnels.EchoExchangeAsync(last, 64 * 1024, TimeSpan.FromSeconds(15));
    }

    [Theory]
    [Trait("case", "H2-03")]
    [InlineData(PeerKind.Python)]
    [InlineData(PeerKind.Node)]
    public async Task H203_smallest_windows_65535_never_send_a_zero_WINDOW_UPDATE_and_stay_byte_exact(PeerKind kind)
    {
        // With the connection window at the protocol default there is nothing to add at start-up: an increment
        // of 0 would be a connection PROTOCOL_ERROR (RFC 9113 §6.9).
        using var upstream = new TcpUpstream();
        using var stop = new CancellationTokenSource();
        _ = upstream.RunEchoAsync(stop.Token);
        await using var peer = await PeerServer.StartAsync(kind, TestPki.Shared.Server, TestPki.Shared.Ca);
        await using var client = ClientFixture.CreateClient(o =>
        {
            o.InitialStreamWindowSize = 65535;
            o.InitialConnectionWindowSize = 65535;
        });

        var payloads = Enumerable.Range(0, 4).Select(i => System.Security.Cryptography.RandomNumberGenerator.GetBytes(300_000 + i)).ToArray();
        var tunnels = await Task.WhenAll(payloads.Select(_ => client.OpenAsync(ClientFixture.Request(peer.EndPoint, upstream.EndPoint))));
        try
        {
            var echoed = await Task.WhenAll(tunnels.Select((t, i) => Tunnels.RoundTripAsync(t, payloads[i], TimeSpan.FromSeconds(60))));
            for (var i = 0; i < payloads.Length; i++)
            {
                Assert.Equal(System.Security.Cryptography.SHA256.HashData(payloads[i]), System.Security.Cryptography.SHA256.HashData(echoed[i]));
            }
        }
        finally
        {
            foreach (var tunnel in tunnels)
            {
                await tunnel.DisposeAsync();
            }
        }

        Assert.Equal(1, peer.OpenedConnections);
        Assert.Equal(0, peer.Count(l => l.Contains("error", StringComparison.OrdinalIgnoreCase)));
    }

    /// <summary>Waits until the tunnel holds <paramref name="count"/> received bytes, without consuming any.</summary>
    private static async Task WaitBufferedAsync(Hbone.Client.HboneStream tunnel, int count)
    {
        using var deadline = new CancellationTokenSource(ClientFixture.Deadline);
        while (true)
        {
            var result = await tunnel.Input.ReadAsync(deadline.Token);
            if (result.Buffer.Length >= count)
            {
                tunnel.Input.AdvanceTo(result.Buffer.Start);
                return;
            }

            tunnel.Input.AdvanceTo(result.Buffer.Start, result.Buffer.End);
        }
    }

    /// <summary>True once <paramref name="writer"/> is pending and the bytes sent stopped growing for a second.</summary>
    private static async Task<bool> WaitUntilStalledAsync(Hbone.Client.HboneStream tunnel, Task writer)
    {
        var deadline = DateTime.UtcNow + ClientFixture.Deadline;
        long last = -1;
        var stableSince = DateTime.UtcNow;
        while (DateTime.UtcNow < deadline && !writer.IsCompleted)
        {
            var sent = tunnel.BytesSent;
            if (sent != last)
            {
                last = sent;
                stableSince = DateTime.UtcNow;
            }
            else if (DateTime.UtcNow - stableSince > TimeSpan.FromSeconds(1))
            {
                return true;
            }

            await Task.Delay(50);
        }

        return false;
    }
}
