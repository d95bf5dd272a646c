using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Hbone.Cli.Tests.Infrastructure;

namespace Hbone.Cli.Tests;

/// <summary><c>hbone forward</c> -&gt; <c>hbone serve</c> -&gt; a TCP server, driven by plain TCP clients.</summary>
public sealed class ForwardCommandTests(DevelopmentCertificates certs) : IClassFixture<DevelopmentCertificates>, IAsyncLifetime
{
    private readonly EchoServer _echo = new();
    private readonly CancellationTokenSource _timeout = new(TimeSpan.FromSeconds(90));

    [Fact]
    public async Task Forward_carries_20_concurrent_connections_byte_exact_and_logs_each()
    {
        const int clients = 20;
        using var serve = HboneProcess.Start(certs.ServeArgs());
        var (address, _) = await serve.WaitForListeningAsync();
        using var forward = HboneProcess.Start(certs.ClientArgs("forward", address, _echo.EndPoint.ToString(), "--listen", "127.0.0.1:0"));
        var listen = await forward.WaitForForwardListeningAsync();

        var payloads = Enumerable.Range(0, clients).Select(_ => RandomNumberGenerator.GetBytes(256 * 1024)).ToArray();
        var results = await Task.WhenAll(payloads.Select(p => EchoRoundTripAsync(listen, p, _timeout.Token)));

        for (var i = 0; i < clients; i++)
        {
            Assert.True(payloads[i].AsSpan().SequenceEqual(results[i].Received), $"client {i}: sent {payloads[i].Length} bytes, received {results[i].Received.Length}");
        }

        var forwardLines = await WaitForLinesAsync(forward, clients);
        Assert.All(forwardLines, l =>
        {
            Assert.Contains("status=200", l, StringComparison.Ordinal);
            Assert.Contains("outcome=completed", l, StringComparison.Ordinal);
            Assert.Contains($"bytes_sent={256 * 1024} bytes_recv={256 * 1024}", l, StringComparison.Ordinal);
        });

        var clientEndPoints = results.Select(r => r.Local.ToString()).Order().ToArray();
        Assert.Equal(clientEndPoints, forwardLines.Select(l => Field(l, "src")).Order().ToArray());
        var serveLines = await WaitForLinesAsync(serve, clients);
        Assert.All(serveLines, l => Assert.Contains($"peer={DevelopmentCertificates.ClientId}", l, StringComparison.Ordinal));
        Assert.Equal(clientEndPoints, serveLines.Select(l => Field(l, "forwarded_for")).Order().ToArray());
    }

    [Fact]
    public async Task Forward_to_a_closed_target_port_closes_the_client_without_data_and_logs_503()
    {
        using var serve = HboneProcess.Start(certs.ServeArgs());
        var (address, _) = await serve.WaitForListeningAsync();
        using var forward = HboneProcess.Start(certs.ClientArgs("forward", address, ClientCommands.ClosedPort(), "--listen", "127.0.0.1:0"));
        var listen = await forward.WaitForForwardListeningAsync();

        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(listen, _timeout.Token);
        var received = 0;
        try
        {
            received = await client.ReceiveAsync(new byte[1024], SocketFlags.None, _timeout.Token);
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionReset)
        {
            // A reset, as ztunnel's outbound listener answers a refused CONNECT.
        }

        Assert.Equal(0, received);
        var line = await forward.WaitForStdoutAsync(l => l.Contains("outcome=", StringComparison.Ordinal));
        Assert.Contains("status=503", line, StringComparison.Ordinal);
        Assert.Contains("bytes_recv=0", line, StringComparison.Ordinal);
        Assert.Contains($"src={client.LocalEndPoint}", line, StringComparison.Ordinal);
        Assert.False(forward.HasExited, "one refused connection does not stop the listener");
    }

    [Fact]
    [Trait("case", "ID-08")]
    public async Task Forward_with_expect_naming_another_identity_resets_the_client_and_opens_no_tunnel()
    {
        using var serve = HboneProcess.Start(certs.ServeArgs());
        var (address, _) = await serve.WaitForListeningAsync();
        using var forward = HboneProcess.Start(certs.ClientArgs("forward", address, _echo.EndPoint.ToString(), "--listen", "127.0.0.1:0", "--expect", DevelopmentCertificates.IntruderId));
        var listen = await forward.WaitForForwardListeningAsync();

        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(listen, _timeout.Token);
        var received = 0;
        try
        {
            await client.SendAsync(Encoding.UTF8.GetBytes("must not arrive"), SocketFlags.None, _timeout.Token);
            received = await client.ReceiveAsync(new byte[1024], SocketFlags.None, _timeout.Token);
        }
        catch (SocketException ex) when (ex.SocketErrorCode is SocketError.ConnectionReset or SocketError.Shutdown)
        {
        }

        Assert.Equal(0, received);
        var line = await forward.WaitForStdoutAsync(l => l.Contains("outcome=", StringComparison.Ordinal));
        Assert.Contains(DevelopmentCertificates.ServerId, line, StringComparison.Ordinal);
        Assert.Contains("bytes_sent=0", line, StringComparison.Ordinal);
        Assert.DoesNotContain("outcome=completed", line, StringComparison.Ordinal);
        Assert.DoesNotContain(serve.Stdout, l => l.Contains("status=", StringComparison.Ordinal));
        Assert.False(forward.HasExited, "a failed handshake does not stop the listener");
    }

    [Fact]
    [Trait("case", "CON-07")]
    public async Task Forward_keeps_the_reply_flowing_after_the_client_half_closes()
    {
        // Replies only once it has seen the FIN, so the reply proves both halves.
        await using var upstream = new ScriptedTcpServer(async (socket, token) =>
        {
            var data = await ScriptedTcpServer.ReadToEndAsync(socket, token);
            await socket.SendAsync(Encoding.UTF8.GetBytes("after FIN: " + Encoding.UTF8.GetString(data)), SocketFlags.None, token);
            socket.Shutdown(SocketShutdown.Send);
        });
        using var serve = HboneProcess.Start(certs.ServeArgs());
        var (address, _) = await serve.WaitForListeningAsync();
        using var forward = HboneProcess.Start(certs.ClientArgs("forward", address, upstream.EndPoint.ToString(), "--listen", "127.0.0.1:0"));
        var listen = await forward.WaitForForwardListeningAsync();

        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(listen, _timeout.Token);
        await client.SendAsync(Encoding.UTF8.GetBytes("half-close"), SocketFlags.None, _timeout.Token);
        client.Shutdown(SocketShutdown.Send);
        var reply = Encoding.UTF8.GetString(await ReadToEndAsync(client, _timeout.Token));

        Assert.Equal("after FIN: half-close", reply);
        var line = await forward.WaitForStdoutAsync(l => l.Contains("outcome=", StringComparison.Ordinal));
        Assert.Contains("status=200", line, StringComparison.Ordinal);
        Assert.Contains("outcome=completed", line, StringComparison.Ordinal);
        var served = await serve.WaitForStdoutAsync(l => l.Contains("outcome=", StringComparison.Ordinal));
        Assert.Contains("outcome=completed", served, StringComparison.Ordinal);
    }

    [Fact]
    [Trait("case", "FT-09")]
    public async Task Sigterm_with_an_idle_connection_exits_0_at_the_drain_deadline()
    {
        using var serve = HboneProcess.Start(certs.ServeArgs());
        var (address, _) = await serve.WaitForListeningAsync();
        using var forward = HboneProcess.Start(certs.ClientArgs("forward", address, _echo.EndPoint.ToString(), "--listen", "127.0.0.1:0", "--drain-timeout", "1"));
        var listen = await forward.WaitForForwardListeningAsync();
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(listen, _timeout.Token);
        Assert.Equal("open", await EchoAsync(client, "open", _timeout.Token));

        var clock = Stopwatch.StartNew();
        forward.Signal(HboneProcess.SIGTERM);
        var code = await forward.WaitForExitAsync(TimeSpan.FromSeconds(1 + 5));

        Assert.True(code == 0, $"exit code {code}. {forward.Describe()}");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(1 + 5), $"took {clock.Elapsed}");
        Assert.Contains(forward.Stdout, l => l.Contains("status=200", StringComparison.Ordinal) && l.Contains("outcome=aborted", StringComparison.Ordinal));
    }

    [Fact]
    [Trait("case", "FT-08")]
    public async Task Sigterm_stops_accepting_and_an_active_connection_keeps_working_during_the_drain()
    {
        const int drainSeconds = 4;
        using var serve = HboneProcess.Start(certs.ServeArgs());
        var (address, _) = await serve.WaitForListeningAsync();
        using var forward = HboneProcess.Start(certs.ClientArgs("forward", address, _echo.EndPoint.ToString(), "--listen", "127.0.0.1:0", "--drain-timeout", drainSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        var listen = await forward.WaitForForwardListeningAsync();
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(listen, _timeout.Token);
        Assert.Equal("before", await EchoAsync(client, "before", _timeout.Token));

        var clock = Stopwatch.StartNew();
        forward.Signal(HboneProcess.SIGTERM);
        await Task.Delay(TimeSpan.FromSeconds(2.5), _timeout.Token);
        Assert.False(forward.HasExited, $"the process must still be draining 2.5 s after SIGTERM. {forward.Describe()}");

        using (var late = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            var refused = await Assert.ThrowsAsync<SocketException>(async () => await late.ConnectAsync(listen, _timeout.Token));
            Assert.Equal(SocketError.ConnectionRefused, refused.SocketErrorCode);
        }

        Assert.Equal("during drain", await EchoAsync(client, "during drain", _timeout.Token));
        client.Shutdown(SocketShutdown.Send);
        Assert.Empty(await ReadToEndAsync(client, _timeout.Token));
        var code = await forward.WaitForExitAsync(TimeSpan.FromSeconds(drainSeconds + 5));

        Assert.True(code == 0, $"exit code {code}. {forward.Describe()}");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(drainSeconds + 5), $"took {clock.Elapsed}");
        var line = Assert.Single(forward.Stdout);
        Assert.Contains("status=200", line, StringComparison.Ordinal);
        Assert.Contains("outcome=completed", line, StringComparison.Ordinal);
        Assert.Contains("bytes_sent=18 bytes_recv=18", line, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("nonsense")]
    [InlineData("1.2.3.4")]
    [InlineData("127.0.0.1:99999")]
    [InlineData("in-use")]
    public async Task Forward_with_a_bad_listen_address_exits_1_with_one_line_naming_it(string listen)
    {
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        if (listen == "in-use")
        {
            listen = taken.LocalEndpoint.ToString()!;
        }

        var (code, stdout, stderr) = await HboneProcess.RunAsync(certs.ClientArgs("forward", ClientCommands.ClosedPort(), _echo.EndPoint.ToString(), "--listen", listen));

        ClientCommands.AssertOneLine(code, stdout, stderr, 1, "hbone: error: ", listen);
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        await _echo.DisposeAsync();
        _timeout.Dispose();
    }

    private static async Task<(IPEndPoint Local, byte[] Received)> EchoRoundTripAsync(IPEndPoint listen, byte[] payload, CancellationToken cancellationToken)
    {
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(listen, cancellationToken);
        var local = (IPEndPoint)client.LocalEndPoint!;

        // Send and receive at once: 256 KB does not fit in the socket buffers of both hops.
        var sending = Task.Run(async () =>
        {
            await client.SendAsync(payload, SocketFlags.None, cancellationToken);
            client.Shutdown(SocketShutdown.Send);
        }, cancellationToken);
        var received = await ReadToEndAsync(client, cancellationToken);
        await sending;
        return (local, received);
    }

    private static async Task<string> EchoAsync(Socket client, string text, CancellationToken cancellationToken)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        await client.SendAsync(bytes, SocketFlags.None, cancellationToken);
        var buffer = new byte[bytes.Length];
        for (var read = 0; read < buffer.Length;)
        {
            var n = await client.ReceiveAsync(buffer.AsMemory(read), SocketFlags.None, cancellationToken);
            Assert.True(n > 0, $"the connection ended after {read} of {buffer.Length} echoed bytes");
            read += n;
        }

        return Encoding.UTF8.GetString(buffer);
    }

    private static Task<byte[]> ReadToEndAsync(Socket client, CancellationToken cancellationToken) =>
        ScriptedTcpServer.ReadToEndAsync(client, cancellationToken);

    private static async Task<string[]> WaitForLinesAsync(HboneProcess process, int count)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            var lines = process.Stdout.Where(l => l.Contains("outcome=", StringComparison.Ordinal)).ToArray();
            if (lines.Length >= count || DateTime.UtcNow > deadline)
            {
                Assert.True(lines.Length == count, $"expected {count} access-log lines, got {lines.Length}. {process.Describe()}");
                return lines;
            }

            await Task.Delay(100);
        }
    }

    private static string Field(string line, string name)
    {
        var match = Regex.Match(line, $@"\b{name}=(\S+)");
        Assert.True(match.Success, $"no {name}= in: {line}");
        return match.Groups[1].Value;
    }
}
