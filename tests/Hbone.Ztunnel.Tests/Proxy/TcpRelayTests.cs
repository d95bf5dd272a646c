using System.Net.Sockets;
using System.Security.Cryptography;
using Hbone.Relay;

namespace Hbone.Ztunnel.Tests.Proxy;

/// <summary>
/// The ztunnel's socket-to-socket relay (<see cref="TunnelRelay"/>, formerly TcpRelay) between two real loopback connections: app ⇄ [A relay B] ⇄ upstream.
/// <c>App</c> talks to the relay's socket A, <c>Upstream</c> to the relay's socket B.
/// </summary>
public sealed class TcpRelayTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);

    [Fact]
    [Trait("case", "CON-14")]
    public async Task Relays_8_MB_one_way_and_1_MB_the_other_byte_exact_with_exact_counts()
    {
        using var app = await SocketPair.CreateAsync();
        using var upstream = await SocketPair.CreateAsync();
        var relay = RunAsync(app.Server, upstream.Client, CancellationToken.None);
        byte[] request = RandomNumberGenerator.GetBytes(8 * 1024 * 1024);
        byte[] response = RandomNumberGenerator.GetBytes(1024 * 1024);

        var appSends = SendAndShutdownAsync(app.Client, request);
        var upstreamSends = SendAndShutdownAsync(upstream.Server, response);
        var upstreamReads = ReadToEndAsync(upstream.Server);
        var appReads = ReadToEndAsync(app.Client);
        await Task.WhenAll(appSends, upstreamSends).WaitAsync(Deadline);

        Assert.Equal(SHA256.HashData(request), SHA256.HashData(await upstreamReads.WaitAsync(Deadline)));
        Assert.Equal(SHA256.HashData(response), SHA256.HashData(await appReads.WaitAsync(Deadline)));
        Assert.Equal((request.LongLength, response.LongLength, false), await relay.WaitAsync(Deadline));
    }

    [Fact]
    [Trait("case", "CON-07")]
    public async Task Half_close_from_the_app_reaches_upstream_as_EOF_while_upstream_keeps_sending()
    {
        using var app = await SocketPair.CreateAsync();
        using var upstream = await SocketPair.CreateAsync();
        var relay = RunAsync(app.Server, upstream.Client, CancellationToken.None);
        byte[] request = RandomNumberGenerator.GetBytes(1000);

        await SendAndShutdownAsync(app.Client, request).WaitAsync(Deadline);
        Assert.Equal(request, await ReadToEndAsync(upstream.Server).WaitAsync(Deadline));

        // After the app's FIN, the other direction still flows, in several writes.
        byte[] response = RandomNumberGenerator.GetBytes(300_000);
        for (int offset = 0; offset < response.Length; offset += 100_000)
        {
            await upstream.Server.SendAsync(response.AsMemory(offset, 100_000)).AsTask().WaitAsync(Deadline);
            byte[] chunk = await ReadExactlyAsync(app.Client, 100_000).WaitAsync(Deadline);
            Assert.Equal(response.AsSpan(offset, 100_000).ToArray(), chunk);
        }

        Assert.False(relay.IsCompleted);
        upstream.Server.Shutdown(SocketShutdown.Send);
        Assert.Empty(await ReadToEndAsync(app.Client).WaitAsync(Deadline));
        Assert.Equal((1000L, 300_000L, false), await relay.WaitAsync(Deadline));
    }

    [Fact]
    [Trait("case", "CON-08")]
    public async Task Half_close_from_upstream_reaches_the_app_as_EOF_while_the_app_keeps_sending()
    {
        using var app = await SocketPair.CreateAsync();
        using var upstream = await SocketPair.CreateAsync();
        var relay = RunAsync(app.Server, upstream.Client, CancellationToken.None);
        byte[] response = RandomNumberGenerator.GetBytes(2000);

        await SendAndShutdownAsync(upstream.Server, response).WaitAsync(Deadline);
        Assert.Equal(response, await ReadToEndAsync(app.Client).WaitAsync(Deadline));

        byte[] request = RandomNumberGenerator.GetBytes(500_000);
        await SendAndShutdownAsync(app.Client, request).WaitAsync(Deadline);
        Assert.Equal(SHA256.HashData(request), SHA256.HashData(await ReadToEndAsync(upstream.Server).WaitAsync(Deadline)));
        Assert.Equal((500_000L, 2000L, false), await relay.WaitAsync(Deadline));
    }

    [Fact]
    [Trait("case", "CON-10")]
    public async Task Reset_by_the_app_resets_the_upstream_connection()
    {
        using var app = await SocketPair.CreateAsync();
        using var upstream = await SocketPair.CreateAsync();
        var relay = RunAsync(app.Server, upstream.Client, CancellationToken.None);
        byte[] request = RandomNumberGenerator.GetBytes(1000);
        await app.Client.SendAsync(request).WaitAsync(Deadline);
        Assert.Equal(request, await ReadExactlyAsync(upstream.Server, 1000).WaitAsync(Deadline));

        app.Client.LingerState = new LingerOption(true, 0);
        app.Client.Close();

        var error = await Assert.ThrowsAsync<SocketException>(() => ReadToEndAsync(upstream.Server).WaitAsync(Deadline));
        Assert.Equal(SocketError.ConnectionReset, error.SocketErrorCode);
        Assert.Equal((1000L, 0L, true), await relay.WaitAsync(Deadline));
    }

    [Fact]
    [Trait("case", "CON-09")]
    public async Task Reset_by_upstream_resets_the_app_connection()
    {
        using var app = await SocketPair.CreateAsync();
        using var upstream = await SocketPair.CreateAsync();
        var relay = RunAsync(app.Server, upstream.Client, CancellationToken.None);
        byte[] response = RandomNumberGenerator.GetBytes(500);
        await upstream.Server.SendAsync(response).WaitAsync(Deadline);
        Assert.Equal(response, await ReadExactlyAsync(app.Client, 500).WaitAsync(Deadline));

        upstream.Server.LingerState = new LingerOption(true, 0);
        upstream.Server.Close();

        var error = await Assert.ThrowsAsync<SocketException>(() => ReadToEndAsync(app.Client).WaitAsync(Deadline));
        Assert.Equal(SocketError.ConnectionReset, error.SocketErrorCode);
        Assert.Equal((0L, 500L, true), await relay.WaitAsync(Deadline));
    }

    [Fact]
    [Trait("case", "ZT-UNIT-04")]
    public async Task Cancellation_resets_both_connections()
    {
        using var app = await SocketPair.CreateAsync();
        using var upstream = await SocketPair.CreateAsync();
        using var cts = new CancellationTokenSource();
        var relay = RunAsync(app.Server, upstream.Client, cts.Token);
        byte[] request = RandomNumberGenerator.GetBytes(64);
        await app.Client.SendAsync(request).WaitAsync(Deadline);
        Assert.Equal(request, await ReadExactlyAsync(upstream.Server, 64).WaitAsync(Deadline));

        await cts.CancelAsync();

        Assert.Equal((64L, 0L, true), await relay.WaitAsync(Deadline));
        var appError = await Assert.ThrowsAsync<SocketException>(() => ReadToEndAsync(app.Client).WaitAsync(Deadline));
        Assert.Equal(SocketError.ConnectionReset, appError.SocketErrorCode);
        var upstreamError = await Assert.ThrowsAsync<SocketException>(() => ReadToEndAsync(upstream.Server).WaitAsync(Deadline));
        Assert.Equal(SocketError.ConnectionReset, upstreamError.SocketErrorCode);
    }

    /// <summary>The relay as the ztunnel runs it, with the old TcpRelay result shape these tests pin.</summary>
    private static async Task<(long FromA, long FromB, bool Reset)> RunAsync(Socket a, Socket b, CancellationToken cancellationToken)
    {
        var relay = new TunnelRelay(RelayEndpoint.Create(a), RelayEndpoint.Create(b));
        var outcome = await relay.RunAsync(cancellationToken);
        return (relay.BytesAToB, relay.BytesBToA, outcome != TunnelOutcome.Completed);
    }

    private static async Task SendAndShutdownAsync(Socket socket, byte[] data)
    {
        int sent = 0;
        while (sent < data.Length)
        {
            sent += await socket.SendAsync(data.AsMemory(sent, Math.Min(256 * 1024, data.Length - sent)));
        }

        socket.Shutdown(SocketShutdown.Send);
    }

    private static async Task<byte[]> ReadToEndAsync(Socket socket)
    {
        using var received = new MemoryStream();
        byte[] buffer = new byte[64 * 1024];
        int read;
        while ((read = await socket.ReceiveAsync(buffer)) > 0)
        {
            received.Write(buffer, 0, read);
        }

        return received.ToArray();
    }

    private static async Task<byte[]> ReadExactlyAsync(Socket socket, int count)
    {
        byte[] buffer = new byte[count];
        int total = 0;
        while (total < count)
        {
            int read = await socket.ReceiveAsync(buffer.AsMemory(total));
            if (read == 0)
            {
                throw new EndOfStreamException($"EOF after {total} of {count} bytes");
            }

            total += read;
        }

        return buffer;
    }
}
