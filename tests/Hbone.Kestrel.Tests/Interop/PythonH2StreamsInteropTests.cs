using System.Text.Json;
using System.Text.Json.Serialization;
using Hbone.Kestrel.Tests.Infrastructure;

namespace Hbone.Kestrel.Tests.Interop;

/// <summary>
/// The HBONE server against python3-h2 (<c>Interop/hbone_h2_streams.py</c>) with tiny flow-control windows: the client
/// advertises a 1,024-byte SETTINGS_INITIAL_WINDOW_SIZE, keeps the 65,535-byte connection window and returns window
/// only as it consumes. <c>hbone_h2_client.py</c> covers one stream with 4 MiB windows; this covers many streams
/// and 16 MiB through the tiny window.
/// </summary>
public sealed class PythonH2StreamsInteropTests : IDisposable
{
    private const string Python = "/usr/bin/python3";
    private const int TinyWindow = 1024;
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(120);
    private readonly ForeignPeer _peer = new();

    public void Dispose() => _peer.Dispose();

    /// <summary>The server's MaxStreamsPerConnection (200) streams at once, none refused, each byte-exact both ways.</summary>
    [Fact]
    [Trait("case", "CON-14")]
    public Task CON_14_python_h2_200_concurrent_tunnels_each_echo_64_KiB_through_a_1024_byte_stream_window() =>
        EchoAsync(streams: 200, size: 64 * 1024);

    [Fact]
    [Trait("case", "CON-14")]
    public Task CON_14_python_h2_tunnels_16_MiB_each_way_at_once_through_a_1024_byte_stream_window() =>
        EchoAsync(streams: 1, size: 16 * 1024 * 1024);

    private async Task EchoAsync(int streams, int size)
    {
        using var upstream = new TcpUpstream();
        using var stop = new CancellationTokenSource();
        var echo = upstream.RunEchoAsync(stop.Token);
        await using var server = await HboneTestServer.StartAsync();
        Assert.True(File.Exists(Python), $"{Python} is missing: run 'apt-get install -y python3-h2'.");

        var result = await ForeignPeer.RunAsync(Python,
            [ForeignPeer.Script("hbone_h2_streams.py"), "--server", server.EndPoint.ToString(), "--cert", _peer.ClientCertificate,
             "--key", _peer.ClientKey, "--ca", _peer.Ca, "--authority", upstream.Authority, "--streams", streams.ToString(),
             "--size", size.ToString(), "--window", TinyWindow.ToString(), "--timeout", "100"],
            Deadline);

        Assert.True(result.ExitCode == 0, result.ToString());
        var report = JsonSerializer.Deserialize<PythonReport>(result.Stdout)!;
        Assert.Equal(streams, report.Streams.Length);
        Assert.All(report.Streams, stream =>
        {
            Assert.Equal(200, stream.Status);
            Assert.Equal(size, stream.Sent);
            Assert.Equal(size, stream.Received);
            Assert.Equal(stream.SentSha256, stream.ReceivedSha256);
            Assert.InRange(stream.MaxDataFrame, 1, TinyWindow);
        });
        Assert.Equal(streams, report.Streams.Select(stream => stream.SentSha256).Distinct().Count());
        for (var i = 0; i < streams; i++)
        {
            var log = await server.NextLogAsync();
            Assert.Equal(200, log.StatusCode);
            Assert.Equal(TunnelOutcome.Completed, log.Outcome);
            Assert.Equal(size, log.BytesFromPeer);
            Assert.Equal(size, log.BytesToPeer);
        }

        Assert.Equal(streams, upstream.Accepted);
        stop.Cancel();
        await echo.WaitAsync(TimeSpan.FromSeconds(10));
    }

    private sealed record PythonReport([property: JsonPropertyName("streams")] PythonStream[] Streams);

    private sealed record PythonStream(
        [property: JsonPropertyName("status")] int Status,
        [property: JsonPropertyName("sent")] long Sent,
        [property: JsonPropertyName("received")] long Received,
        [property: JsonPropertyName("max_data_frame")] int MaxDataFrame,
        [property: JsonPropertyName("sent_sha256")] string SentSha256,
        [property: JsonPropertyName("received_sha256")] string ReceivedSha256);
}
