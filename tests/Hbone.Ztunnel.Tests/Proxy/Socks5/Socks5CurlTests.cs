using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Hbone.Ztunnel.Proxy.Socks5;

namespace Hbone.Ztunnel.Tests.Proxy.Socks5;

/// <summary>curl, an independent SOCKS5 client, fetches a page through a tiny relay built on the handshake.</summary>
public sealed class Socks5CurlTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);

    [Theory]
    [Trait("case", "SOCKS-10")]
    [InlineData("--socks5", "127.0.0.1")] // curl resolves: an IPv4 request
    [InlineData("--socks5-hostname", "localhost")] // the proxy resolves: a domain request
    public async Task SOCKS_10_curl_fetches_a_page_through_the_handshake_and_a_relay(string mode, string host)
    {
        using var cts = new CancellationTokenSource(Deadline);
        const string Body = "hello through socks5\n";
        using var http = new TcpListener(IPAddress.Loopback, 0);
        http.Start();
        var httpServer = ServeHttpOnceAsync(http, Body, cts.Token);
        using var socks = new TcpListener(IPAddress.Loopback, 0);
        socks.Start();
        var requests = new List<Socks5Request>();
        var socksServer = RelayOnceAsync(socks, requests, cts.Token);

        var httpPort = ((IPEndPoint)http.LocalEndpoint).Port;
        var socksPort = ((IPEndPoint)socks.LocalEndpoint).Port;
        var (exitCode, output, error) = await RunCurlAsync(cts.Token, "--silent", "--show-error", "--max-time", "10", mode, $"127.0.0.1:{socksPort}", $"http://{host}:{httpPort}/");

        Assert.True(exitCode == 0, $"curl exited {exitCode}: {error}");
        Assert.Equal(Body, output);
        await Task.WhenAll(httpServer, socksServer).WaitAsync(cts.Token);
        var request = Assert.Single(requests);
        Assert.Equal(httpPort, request.Port);
        Assert.Equal(mode == "--socks5-hostname" ? host : null, request.Host);
    }

    private static async Task RelayOnceAsync(TcpListener listener, List<Socks5Request> requests, CancellationToken cancellationToken)
    {
        using var client = await listener.AcceptTcpClientAsync(cancellationToken);
        var clientStream = client.GetStream();
        var request = await Socks5Handshake.ReadRequestAsync(clientStream, cancellationToken);
        requests.Add(request);
        using var upstream = new TcpClient(AddressFamily.InterNetwork);
        if (request.Address is { } address)
        {
            await upstream.ConnectAsync(address, cancellationToken);
        }
        else
        {
            await upstream.ConnectAsync(request.Host!, request.Port, cancellationToken);
        }

        await Socks5Handshake.WriteReplyAsync(clientStream, Socks5Reply.Succeeded, (IPEndPoint)upstream.Client.LocalEndPoint!, cancellationToken);
        var upstreamStream = upstream.GetStream();
        var toUpstream = Pump(clientStream, upstream.Client, upstreamStream, cancellationToken);
        var toClient = Pump(upstreamStream, client.Client, clientStream, cancellationToken);
        await Task.WhenAll(toUpstream, toClient);
    }

    private static async Task Pump(Stream from, Socket toSocket, Stream to, CancellationToken cancellationToken)
    {
        await from.CopyToAsync(to, cancellationToken);
        toSocket.Shutdown(SocketShutdown.Send);
    }

    private static async Task ServeHttpOnceAsync(TcpListener listener, string body, CancellationToken cancellationToken)
    {
        using var client = await listener.AcceptTcpClientAsync(cancellationToken);
        var stream = client.GetStream();
        var received = new StringBuilder();
        var buffer = new byte[1024];
        while (!received.ToString().Contains("\r\n\r\n", StringComparison.Ordinal))
        {
            var read = await stream.ReadAsync(buffer, cancellationToken);
            if (read == 0)
            {
                return;
            }

            received.Append(Encoding.ASCII.GetString(buffer, 0, read));
        }

        var bytes = Encoding.UTF8.GetBytes(body);
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"HTTP/1.1 200 OK\r\nContent-Length: {bytes.Length}\r\nConnection: close\r\n\r\n"), cancellationToken);
        await stream.WriteAsync(bytes, cancellationToken);
        client.Client.Shutdown(SocketShutdown.Send);

        // Wait for curl to close its side so the relay sees both directions end.
        while (await stream.ReadAsync(buffer, cancellationToken) > 0)
        {
        }
    }

    private static async Task<(int ExitCode, string Output, string Error)> RunCurlAsync(CancellationToken cancellationToken, params string[] arguments)
    {
        var start = new ProcessStartInfo("curl") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var error = process.StandardError.ReadToEndAsync(cancellationToken);
        try
        {
            await process.WaitForExitAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }

        return (process.ExitCode, await output, await error);
    }
}
