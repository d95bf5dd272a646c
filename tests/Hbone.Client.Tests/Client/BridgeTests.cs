using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Hbone.Client.Tests.Infrastructure;
using Hbone.Kestrel.Tests.Infrastructure;

namespace Hbone.Client.Tests.Client;

/// <summary>HboneStream.BridgeAsync: an accepted local socket joined to a tunnel, half-close and resets kept.</summary>
public sealed class BridgeTests
{
    [Fact]
    [Trait("case", "CON-08")]
    [Trait("case", "CON-07")]
    public async Task CON07_CON08_half_close_travels_both_ways_through_the_bridge()
    {
        using var upstream = new TcpUpstream();
        await using var server = await HboneTestServer.StartAsync();
        await using var client = ClientFixture.CreateClient();
        await using var tunnel = await client.OpenAsync(ClientFixture.Request(server.EndPoint, upstream.EndPoint));
        using var target = await upstream.AcceptAsync();
        var (app, local) = await SocketPairAsync();
        using var appSocket = app;
        using var localSocket = local;
        var bridge = tunnel.BridgeAsync(local);

        // The upstream speaks first and half-closes; the app still sends afterwards (CON-08).
        var greeting = RandomNumberGenerator.GetBytes(300_000);
        await target.SendAsync(greeting, SocketFlags.None);
        target.Shutdown(SocketShutdown.Send);
        Assert.Equal(SHA256.HashData(greeting), SHA256.HashData(await TcpUpstream.ReadToEndAsync(app, ClientFixture.Deadline)));

        // Then the app sends and half-closes: the upstream sees the bytes and its FIN (CON-07).
        var reply = RandomNumberGenerator.GetBytes(500_000);
        await app.SendAsync(reply, SocketFlags.None);
        app.Shutdown(SocketShutdown.Send);
        Assert.Equal(SHA256.HashData(reply), SHA256.HashData(await TcpUpstream.ReadToEndAsync(target, ClientFixture.Deadline)));

        Assert.Equal(TunnelOutcome.Completed, await bridge.WaitAsync(ClientFixture.Deadline));
        var log = await server.NextLogAsync();
        Assert.Equal(TunnelOutcome.Completed, log.Outcome);
        Assert.Equal(reply.Length, log.BytesFromPeer);
        Assert.Equal(greeting.Length, log.BytesToPeer);
    }

    [Fact]
    [Trait("case", "CON-10")]
    public async Task CON10_local_socket_RST_resets_the_tunnel_with_CONNECT_ERROR_and_the_upstream_with_RST()
    {
        using var upstream = new TcpUpstream();
        await using var server = await HboneTestServer.StartAsync();
        await using var client = ClientFixture.CreateClient();
        await using var tunnel = await client.OpenAsync(ClientFixture.Request(server.EndPoint, upstream.EndPoint));
        using var target = await upstream.AcceptAsync();
        var (app, local) = await SocketPairAsync();
        using var localSocket = local;
        var bridge = tunnel.BridgeAsync(local);

        await app.SendAsync(new byte[1000], SocketFlags.None);
        var received = new byte[1000];
        await ReceiveExactlyAsync(target, received);
        app.LingerState = new LingerOption(true, 0);
        app.Dispose();

        Assert.Equal(TunnelOutcome.UpstreamReset, await bridge.WaitAsync(ClientFixture.Deadline));
        var error = await Assert.ThrowsAsync<SocketException>(() => TcpUpstream.ReadToEndAsync(target, ClientFixture.Deadline));
        Assert.Equal(SocketError.ConnectionReset, error.SocketErrorCode);
        var log = await server.NextLogAsync();
        Assert.Equal(TunnelOutcome.PeerReset, log.Outcome);
    }

    private static async Task<(Socket App, Socket Local)> SocketPairAsync()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        var app = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await app.ConnectAsync(listener.LocalEndPoint!);
        var local = await listener.AcceptAsync().WaitAsync(ClientFixture.Deadline);
        return (app, local);
    }

    private static async Task ReceiveExactlyAsync(Socket socket, byte[] buffer)
    {
        using var deadline = new CancellationTokenSource(ClientFixture.Deadline);
        for (var offset = 0; offset < buffer.Length;)
        {
            var read = await socket.ReceiveAsync(buffer.AsMemory(offset), SocketFlags.None, deadline.Token);
            Assert.NotEqual(0, read);
            offset += read;
        }
    }
}
