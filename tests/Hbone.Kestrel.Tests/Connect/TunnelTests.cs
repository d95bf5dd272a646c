using Hbone.Http2;
using System.Net.Sockets;
using System.Security.Cryptography;
using Hbone.Kestrel.Tests.Infrastructure;

namespace Hbone.Kestrel.Tests.Connect;

/// <summary>Tunnel data path through a real Kestrel HBONE server to a real TCP upstream.</summary>
public sealed class TunnelTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Connect_to_echo_upstream_answers_200_and_echoes_bytes()
    {
        using var upstream = new TcpUpstream();
        using var stop = new CancellationTokenSource();
        _ = upstream.RunEchoAsync(stop.Token);
        await using var server = await HboneTestServer.StartAsync();
        await using var connection = await server.ConnectProcessingAsync();

        var stream = await connection.OpenStreamAsync(upstream.Authority, [("forwarded", "for=\"10.0.0.9:4242\"")]);
        Assert.Equal(200, await stream.StatusAsync().WaitAsync(Deadline));
        var payload = RandomNumberGenerator.GetBytes(100_000);
        await stream.WriteAsync(payload);
        await stream.EndAsync();
        var echoed = await stream.ReadToEndAsync().WaitAsync(Deadline);

        Assert.Equal(SHA256.HashData(payload), SHA256.HashData(echoed));
        var log = await server.NextLogAsync();
        Assert.Equal(200, log.StatusCode);
        Assert.Equal(TunnelOutcome.Completed, log.Outcome);
        Assert.Equal(payload.Length, log.BytesFromPeer);
        Assert.Equal(payload.Length, log.BytesToPeer);
        Assert.Equal("10.0.0.9:4242", log.ForwardedFor?.ToString());
        Assert.Equal("spiffe://cluster.local/ns/default/sa/client", log.PeerIdentity?.ToString());
    }

    [Fact]
    [Trait("case", "CON-05")]
    public async Task CON_05_100_MB_upload_in_one_tunnel_arrives_byte_exact()
    {
        using var upstream = new TcpUpstream();
        await using var server = await HboneTestServer.StartAsync();
        await using var connection = await server.ConnectProcessingAsync();
        var stream = await connection.OpenStreamAsync(upstream.Authority);
        using var accepted = await upstream.AcceptAsync();
        Assert.Equal(200, await stream.StatusAsync().WaitAsync(Deadline));

        // 100 MB > Kestrel's default MaxRequestBodySize of 30,000,000 bytes: only the per-tunnel lift lets it through.
        const int total = 100 * 1024 * 1024;
        var chunk = RandomNumberGenerator.GetBytes(1024 * 1024);
        using var sent = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var received = Task.Run(async () =>
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            var buffer = new byte[256 * 1024];
            long count = 0;
            int read;
            while ((read = await accepted.ReceiveAsync(buffer, SocketFlags.None)) > 0)
            {
                hash.AppendData(buffer, 0, read);
                count += read;
            }

            return (count, hash.GetHashAndReset());
        });

        for (var offset = 0; offset < total; offset += chunk.Length)
        {
            chunk[0] = (byte)(offset >> 20);
            sent.AppendData(chunk);
            await stream.WriteAsync(chunk).WaitAsync(Deadline);
        }

        await stream.EndAsync();
        var (receivedCount, receivedHash) = await received.WaitAsync(TimeSpan.FromSeconds(120));
        Assert.Equal(total, receivedCount);
        Assert.Equal(sent.GetHashAndReset(), receivedHash);
    }

    [Fact]
    [Trait("case", "CON-06")]
    public async Task CON_06_idle_tunnel_outlives_Kestrel_data_rate_window_beside_an_active_one()
    {
        using var upstream = new TcpUpstream();
        using var stop = new CancellationTokenSource();
        _ = upstream.RunEchoAsync(stop.Token);
        await using var server = await HboneTestServer.StartAsync();
        await using var connection = await server.ConnectProcessingAsync();
        var idle = await connection.OpenStreamAsync(upstream.Authority);
        var active = await connection.OpenStreamAsync(upstream.Authority);
        Assert.Equal(200, await idle.StatusAsync().WaitAsync(Deadline));
        Assert.Equal(200, await active.StatusAsync().WaitAsync(Deadline));

        // Kestrel's default MinRequestBodyDataRate (240 B/s after a 5 s grace) would kill the connection by ~6 s.
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(9);
        var buffer = new byte[512];
        while (DateTime.UtcNow < until)
        {
            await active.WriteAsync(buffer.AsMemory(0, 16));
            Assert.Equal(16, await ReadExactlyAsync(active, buffer.AsMemory(0, 16)).WaitAsync(Deadline));
            await Task.Delay(250);
        }

        var ping = RandomNumberGenerator.GetBytes(64);
        await idle.WriteAsync(ping);
        var back = new byte[64];
        Assert.Equal(64, await ReadExactlyAsync(idle, back).WaitAsync(Deadline));
        Assert.Equal(ping, back);
        Assert.False(connection.GoAway.Task.IsCompleted, "the connection must not be closed");
    }

    [Fact]
    [Trait("case", "CON-07")]
    public async Task CON_07_client_half_close_reaches_upstream_as_FIN_and_reply_still_flows()
    {
        using var upstream = new TcpUpstream();
        await using var server = await HboneTestServer.StartAsync();
        await using var connection = await server.ConnectProcessingAsync();
        var stream = await connection.OpenStreamAsync(upstream.Authority);
        using var accepted = await upstream.AcceptAsync();
        Assert.Equal(200, await stream.StatusAsync().WaitAsync(Deadline));

        await stream.WriteAsync("request"u8.ToArray());
        await stream.EndAsync();
        var request = await TcpUpstream.ReadToEndAsync(accepted);
        Assert.Equal("request"u8.ToArray(), request);

        await accepted.SendAsync("reply after FIN"u8.ToArray(), SocketFlags.None);
        accepted.Shutdown(SocketShutdown.Send);
        Assert.Equal("reply after FIN"u8.ToArray(), await stream.ReadToEndAsync().WaitAsync(Deadline));
        await stream.EndOfStream.Task.WaitAsync(Deadline);
        Assert.Equal(TunnelOutcome.Completed, (await server.NextLogAsync()).Outcome);
    }

    [Fact]
    [Trait("case", "CON-08")]
    public async Task CON_08_upstream_half_close_becomes_END_STREAM_and_client_keeps_sending()
    {
        using var upstream = new TcpUpstream();
        await using var server = await HboneTestServer.StartAsync();
        await using var connection = await server.ConnectProcessingAsync();
        var stream = await connection.OpenStreamAsync(upstream.Authority);
        using var accepted = await upstream.AcceptAsync();
        Assert.Equal(200, await stream.StatusAsync().WaitAsync(Deadline));

        await accepted.SendAsync("banner"u8.ToArray(), SocketFlags.None);
        accepted.Shutdown(SocketShutdown.Send);
        Assert.Equal("banner"u8.ToArray(), await stream.ReadToEndAsync().WaitAsync(Deadline));
        await stream.EndOfStream.Task.WaitAsync(Deadline);

        await stream.WriteAsync("still sending"u8.ToArray());
        await stream.EndAsync();
        Assert.Equal("still sending"u8.ToArray(), await TcpUpstream.ReadToEndAsync(accepted));
        Assert.False(stream.Reset.Task.IsCompleted);
    }

    [Fact]
    [Trait("case", "CON-09")]
    public async Task CON_09_upstream_RST_becomes_RST_STREAM_CONNECT_ERROR()
    {
        using var upstream = new TcpUpstream();
        await using var server = await HboneTestServer.StartAsync();
        await using var connection = await server.ConnectProcessingAsync();
        var stream = await connection.OpenStreamAsync(upstream.Authority);
        var accepted = await upstream.AcceptAsync();
        Assert.Equal(200, await stream.StatusAsync().WaitAsync(Deadline));

        await accepted.SendAsync(new byte[1000], SocketFlags.None);
        accepted.LingerState = new LingerOption(true, 0);
        accepted.Dispose();

        Assert.Equal((int)Http2ErrorCode.ConnectError, await stream.Reset.Task.WaitAsync(Deadline));
        Assert.False(stream.EndOfStream.Task.IsCompleted, "a reset must not look like a clean END_STREAM");
        var log = await server.NextLogAsync();
        Assert.Equal(TunnelOutcome.UpstreamReset, log.Outcome);
    }

    [Fact]
    [Trait("case", "CON-10")]
    public async Task CON_10_client_RST_STREAM_resets_upstream_within_one_second()
    {
        using var upstream = new TcpUpstream();
        await using var server = await HboneTestServer.StartAsync();
        await using var connection = await server.ConnectProcessingAsync();
        var stream = await connection.OpenStreamAsync(upstream.Authority);
        using var accepted = await upstream.AcceptAsync();
        Assert.Equal(200, await stream.StatusAsync().WaitAsync(Deadline));
        await stream.WriteAsync(new byte[4096]);
        Assert.Equal(4096, (await ReceiveAsync(accepted, 4096)).Length);

        await stream.ResetAsync((int)Http2ErrorCode.Cancel);
        var buffer = new byte[16];
        var error = await Assert.ThrowsAsync<SocketException>(async () =>
            await accepted.ReceiveAsync(buffer, SocketFlags.None).WaitAsync(TimeSpan.FromSeconds(1)));
        Assert.Equal(SocketError.ConnectionReset, error.SocketErrorCode);
        Assert.Equal(TunnelOutcome.PeerReset, (await server.NextLogAsync()).Outcome);
    }

    [Fact]
    [Trait("case", "CON-13")]
    public async Task CON_13_refused_upstream_answers_503_before_any_200()
    {
        var closedPort = TcpUpstream.ClosedPort();

        await using var server = await HboneTestServer.StartAsync();
        await using var connection = await server.ConnectProcessingAsync();
        var stream = await connection.OpenStreamAsync($"127.0.0.1:{closedPort}");
        Assert.Equal(503, await stream.StatusAsync().WaitAsync(Deadline));
        var log = await server.NextLogAsync();
        Assert.Equal(503, log.StatusCode);
        Assert.Contains("ConnectionRefused", log.Error, StringComparison.Ordinal);
    }

    [Fact]
    [Trait("case", "CON-13")]
    public async Task CON_13_blackholed_upstream_answers_503_within_the_connect_timeout()
    {
        // A listener whose accept queue is full drops further SYNs: the connect hangs like a blackhole.
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0));
        listener.Listen(0);
        var fillers = new List<Socket>();
        try
        {
            for (var i = 0; i < 4; i++)
            {
                var filler = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                fillers.Add(filler);
                _ = filler.ConnectAsync(listener.LocalEndPoint!);
            }

            await using var server = await HboneTestServer.StartAsync(forwarder: o => o.ConnectTimeout = TimeSpan.FromSeconds(1));
            await using var connection = await server.ConnectProcessingAsync();
            var started = DateTime.UtcNow;
            var stream = await connection.OpenStreamAsync(listener.LocalEndPoint!.ToString());
            Assert.Equal(503, await stream.StatusAsync().WaitAsync(Deadline));
            Assert.InRange(DateTime.UtcNow - started, TimeSpan.FromSeconds(0.9), TimeSpan.FromSeconds(10));
            Assert.Contains("timed out", (await server.NextLogAsync()).Error, StringComparison.Ordinal);
        }
        finally
        {
            fillers.ForEach(f => f.Dispose());
        }
    }

    [Fact]
    [Trait("case", "CON-14")]
    public async Task CON_14_many_concurrent_streams_both_directions_are_byte_exact()
    {
        using var upstream = new TcpUpstream();
        using var stop = new CancellationTokenSource();
        _ = upstream.RunEchoAsync(stop.Token);
        await using var server = await HboneTestServer.StartAsync();
        await using var connection = await server.ConnectProcessingAsync();

        // Seeded sizes: 196 streams of 0-256 KiB plus a few large ones up to 16 MiB; all on one connection.
        var random = new Random(1414);
        var sizes = new List<int>();
        for (var i = 0; i < 196; i++)
        {
            sizes.Add(random.Next(0, 256 * 1024));
        }

        sizes.AddRange([0, 1, 16 * 1024 * 1024, random.Next(1, 8 * 1024 * 1024)]);
        var tasks = new List<Task>();
        foreach (var size in sizes)
        {
            tasks.Add(EchoOneAsync(connection, upstream.Authority, size, random.Next()));
        }

        await Task.WhenAll(tasks).WaitAsync(TimeSpan.FromSeconds(120));
    }

    [Fact]
    [Trait("case", "ADV-05")]
    public async Task ADV_05_spoofed_headers_never_change_the_identity_seen_by_policy_or_audit()
    {
        using var upstream = new TcpUpstream();
        Identity.SpiffeId? seenByPolicy = null;
        await using var server = await HboneTestServer.StartAsync(forwarder: o => o.Authorize = ctx =>
        {
            seenByPolicy = ctx.PeerIdentity;
            return ValueTask.FromResult(ctx.PeerIdentity.ToString() == "spiffe://cluster.local/ns/admin/sa/root");
        });
        await using var connection = await server.ConnectProcessingAsync();
        var stream = await connection.OpenStreamAsync(upstream.Authority,
        [
            ("forwarded", "for=\"10.9.9.9:1\";by=spiffe://cluster.local/ns/admin/sa/root"),
            ("baggage", "k8s.namespace.name=admin,k8s.deployment.name=root"),
            ("x-forwarded-network", "admin-network"),
            ("x-forwarded-client-cert", "URI=spiffe://cluster.local/ns/admin/sa/root"),
        ]);

        Assert.Equal(401, await stream.StatusAsync().WaitAsync(Deadline));
        Assert.Equal("spiffe://cluster.local/ns/default/sa/client", seenByPolicy?.ToString());
        var log = await server.NextLogAsync();
        Assert.Equal("spiffe://cluster.local/ns/default/sa/client", log.PeerIdentity?.ToString());
        Assert.Equal(0, upstream.Accepted);
    }

    // New case id FWD-01, not in the catalogue: the forwarder's authorization callback, answered at once (the path that
    // keeps no state machine of the forwarder per tunnel) or later, allows a tunnel that then carries bytes, or denies
    // it with 401 before any upstream connect.
    [Theory]
    [Trait("case", "FWD-01")]
    [InlineData(true, true)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    [InlineData(false, false)]
    public async Task FWD_01_authorization_answered_at_once_or_later_allows_or_denies(bool atOnce, bool allow)
    {
        using var upstream = new TcpUpstream();
        using var stop = new CancellationTokenSource();
        _ = upstream.RunEchoAsync(stop.Token);
        await using var server = await HboneTestServer.StartAsync(forwarder: o => o.Authorize = async ctx =>
        {
            if (!atOnce)
            {
                await Task.Yield();
            }

            return allow;
        });
        await using var connection = await server.ConnectProcessingAsync();
        var stream = await connection.OpenStreamAsync(upstream.Authority);

        if (!allow)
        {
            Assert.Equal(401, await stream.StatusAsync().WaitAsync(Deadline));
            Assert.Equal(TunnelOutcome.Refused, (await server.NextLogAsync()).Outcome);
            Assert.Equal(0, upstream.Accepted);
            return;
        }

        Assert.Equal(200, await stream.StatusAsync().WaitAsync(Deadline));
        var payload = RandomNumberGenerator.GetBytes(50_000);
        await stream.WriteAsync(payload);
        await stream.EndAsync();
        var echoed = await stream.ReadToEndAsync().WaitAsync(Deadline);
        Assert.Equal(SHA256.HashData(payload), SHA256.HashData(echoed));
        var log = await server.NextLogAsync();
        Assert.Equal(TunnelOutcome.Completed, log.Outcome);
        Assert.Equal(payload.Length, log.BytesFromPeer);
        Assert.Equal(upstream.Authority, log.Authority);
    }

    [Fact]
    [Trait("case", "ADV-10")]
    public async Task ADV_10_early_data_before_a_denied_CONNECT_is_discarded()
    {
        using var upstream = new TcpUpstream();
        await using var server = await HboneTestServer.StartAsync(forwarder: o => o.Authorize = _ => ValueTask.FromResult(false));
        await using var connection = await server.ConnectProcessingAsync();
        var stream = await connection.OpenStreamAsync(upstream.Authority);
        await stream.WriteAsync(RandomNumberGenerator.GetBytes(32 * 1024));

        Assert.Equal(401, await stream.StatusAsync().WaitAsync(Deadline));
        Assert.Equal(0, upstream.Accepted);
        Assert.Equal(0, (await server.NextLogAsync()).BytesFromPeer);
    }

    [Fact]
    [Trait("case", "ADV-10")]
    public async Task ADV_10_early_data_before_a_refused_upstream_gets_503_and_goes_nowhere()
    {
        var closedPort = TcpUpstream.ClosedPort();

        await using var server = await HboneTestServer.StartAsync();
        await using var connection = await server.ConnectProcessingAsync();
        var stream = await connection.OpenStreamAsync($"127.0.0.1:{closedPort}");
        await stream.WriteAsync(RandomNumberGenerator.GetBytes(32 * 1024));
        Assert.Equal(503, await stream.StatusAsync().WaitAsync(Deadline));
        Assert.Equal(0, (await server.NextLogAsync()).BytesFromPeer);
    }

    private static async Task EchoOneAsync(RawHttp2Connection connection, string authority, int size, int seed)
    {
        var payload = new byte[size];
        new Random(seed).NextBytes(payload);
        var stream = await connection.OpenStreamAsync(authority);
        Assert.Equal(200, await stream.StatusAsync().WaitAsync(Deadline));
        var writer = Task.Run(async () =>
        {
            for (var offset = 0; offset < size; offset += 64 * 1024)
            {
                await stream.WriteAsync(payload.AsMemory(offset, Math.Min(64 * 1024, size - offset)));
            }

            await stream.EndAsync();
        });
        var echoed = await stream.ReadToEndAsync();
        await writer;
        Assert.Equal(size, echoed.Length);
        Assert.Equal(SHA256.HashData(payload), SHA256.HashData(echoed));
    }

    private static async Task<int> ReadExactlyAsync(RawStream stream, Memory<byte> buffer)
    {
        var total = 0;
        while (total < buffer.Length)
        {
            var read = await stream.ReadAsync(buffer[total..]);
            if (read == 0)
            {
                break;
            }

            total += read;
        }

        return total;
    }

    private static async Task<byte[]> ReceiveAsync(Socket socket, int count)
    {
        var buffer = new byte[count];
        var total = 0;
        using var cts = new CancellationTokenSource(Deadline);
        while (total < count)
        {
            var read = await socket.ReceiveAsync(buffer.AsMemory(total), SocketFlags.None, cts.Token);
            if (read == 0)
            {
                break;
            }

            total += read;
        }

        return buffer[..total];
    }
}
