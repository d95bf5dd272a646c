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
        var echo = upstream.RunEchoAsync(stop.Token);
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
        stop.Cancel();
    }
}
