using System.Net;
using System.Net.Sockets;

namespace Hbone.Ztunnel.Tests.Proxy.Socks5;

/// <summary>Two ends of a real loopback TCP connection: what a SOCKS client writes, the server reads.</summary>
internal sealed class LoopbackPair : IAsyncDisposable
{
    private readonly TcpClient _client;
    private readonly TcpClient _server;

    private LoopbackPair(TcpClient client, TcpClient server)
    {
        _client = client;
        _server = server;
        Client = client.GetStream();
        Server = server.GetStream();
    }

    public NetworkStream Client { get; }

    public NetworkStream Server { get; }

    public static async Task<LoopbackPair> CreateAsync()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var client = new TcpClient();
        await client.ConnectAsync((IPEndPoint)listener.LocalEndpoint);
        var server = await listener.AcceptTcpClientAsync();
        return new LoopbackPair(client, server);
    }

    /// <summary>Reads everything the server sends until it closes (bounded by a deadline).</summary>
    public async Task<byte[]> ReadToEndFromServerAsync()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        using var buffer = new MemoryStream();
        await Client.CopyToAsync(buffer, cts.Token);
        return buffer.ToArray();
    }

    public ValueTask DisposeAsync()
    {
        _client.Dispose();
        _server.Dispose();
        return ValueTask.CompletedTask;
    }
}
