using System.Security.Cryptography;
using System.Text.Json;
using Hbone.Kestrel.Tests.Infrastructure;

namespace Hbone.Kestrel.Tests.Interop;

/// <summary>
/// The HBONE server against Node's http2 client (<c>Interop/hbone_node_client.js</c>, run with /usr/bin/node): real
/// CONNECT tunnels over mTLS, Node verifying the server's chain against the test CA. Node advertises a 1,024-byte
/// SETTINGS_INITIAL_WINDOW_SIZE and keeps the 65,535-byte connection window, so everything the server sends crosses
/// tiny windows while the client uploads at the same time.
/// </summary>
public sealed class NodeHttp2InteropTests : IDisposable
{
    private const string Node = "/usr/bin/node";
    private const int TinyWindow = 1024;
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(120);
    private readonly ForeignPeer _peer = new();

    public void Dispose() => _peer.Dispose();

    [Fact]
    [Trait("case", "CON-14")]
    public async Task CON_14_node_http2_tunnels_16_MiB_each_way_at_once_through_a_1024_byte_stream_window()
    {
        using var upstream = new TcpUpstream();
        using var stop = new CancellationTokenSource();
        var echo = upstream.RunEchoAsync(stop.Token);
        await using var server = await HboneTestServer.StartAsync();
        var payload = RandomNumberGenerator.GetBytes(16 * 1024 * 1024);
        await File.WriteAllBytesAsync(_peer.PathOf("send.bin"), payload);

        var (result, report) = await RunAsync(server, upstream,
            "--mode", "file", "--send-file", _peer.PathOf("send.bin"), "--recv-file", _peer.PathOf("recv.bin"));

        Assert.True(result.ExitCode == 0, result.ToString());
        var stream = Assert.Single(report.Streams);
        Assert.Equal(200, stream.Status);
        Assert.Equal(payload.Length, stream.Sent);
        var received = await File.ReadAllBytesAsync(_peer.PathOf("recv.bin"));
        Assert.Equal(payload.Length, received.Length);
        Assert.Equal(SHA256.HashData(payload), SHA256.HashData(received));
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(payload)), stream.SentSha256);
        var log = await server.NextLogAsync();
        Assert.Equal(200, log.StatusCode);
        Assert.Equal(TunnelOutcome.Completed, log.Outcome);
        Assert.Equal(payload.Length, log.BytesFromPeer);
        Assert.Equal(payload.Length, log.BytesToPeer);
        Assert.Equal("spiffe://cluster.local/ns/default/sa/client", log.PeerIdentity?.ToString());
        Assert.Equal(1, upstream.Accepted);
        stop.Cancel();
        await echo.WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Fact]
    [Trait("case", "CON-14")]
    public async Task CON_14_node_http2_100_concurrent_connect_streams_on_one_session_each_echo_256_KiB_byte_exact()
    {
        const int Streams = 100, Size = 256 * 1024;
        using var upstream = new TcpUpstream();
        using var stop = new CancellationTokenSource();
        var echo = upstream.RunEchoAsync(stop.Token);
        await using var server = await HboneTestServer.StartAsync();

        var (result, report) = await RunAsync(server, upstream,
            "--mode", "streams", "--streams", Streams.ToString(), "--size", Size.ToString());

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal(Streams, report.Streams.Length);
        Assert.All(report.Streams, stream =>
        {
            Assert.Equal(200, stream.Status);
            Assert.Equal(Size, stream.Sent);
            Assert.Equal(Size, stream.Received);
            Assert.Equal(stream.SentSha256, stream.ReceivedSha256);
        });
        Assert.Equal(Streams, report.Streams.Select(stream => stream.SentSha256).Distinct().Count());
        for (var i = 0; i < Streams; i++)
        {
            var log = await server.NextLogAsync();
            Assert.Equal(200, log.StatusCode);
            Assert.Equal(TunnelOutcome.Completed, log.Outcome);
            Assert.Equal(Size, log.BytesFromPeer);
            Assert.Equal(Size, log.BytesToPeer);
        }

        Assert.Equal(Streams, upstream.Accepted);
        stop.Cancel();
        await echo.WaitAsync(TimeSpan.FromSeconds(10));
    }

    private async Task<(PeerResult Result, NodeReport Report)> RunAsync(HboneTestServer server, TcpUpstream upstream, params string[] arguments)
    {
        ForeignPeer.Require(Node, "nodejs");
        var result = await ForeignPeer.RunAsync(Node,
            [ForeignPeer.Script("hbone_node_client.js"), "--server", server.EndPoint.ToString(), "--cert", _peer.ClientCertificate,
             "--key", _peer.ClientKey, "--ca", _peer.Ca, "--authority", upstream.Authority, "--window", TinyWindow.ToString(),
             "--timeout", "100", .. arguments],
            Deadline);
        Assert.False(string.IsNullOrWhiteSpace(result.Stdout), result.ToString());
        var report = JsonSerializer.Deserialize<NodeReport>(result.Stdout, JsonSerializerOptions.Web)!;
        Assert.Equal("h2", report.Alpn);
        Assert.Equal("spiffe://cluster.local/ns/default/sa/server", report.PeerUri);
        Assert.Equal(TinyWindow, report.LocalWindow);
        return (result, report);
    }

    private sealed record NodeReport(string? Alpn, string? PeerUri, int? LocalWindow, NodeStream[] Streams);

    private sealed record NodeStream(int Status, long Sent, long Received, string? SentSha256, string? ReceivedSha256);
}
