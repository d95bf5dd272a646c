using System.Security.Cryptography;
using Hbone.Client.Tests.Infrastructure;
using Hbone.Kestrel.Tests.Infrastructure;

namespace Hbone.Client.Tests.Client;

/// <summary>Our client against our server (Hbone.Kestrel) and a real TCP upstream.</summary>
public sealed class KestrelServerTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Tunnel_through_Kestrel_echoes_bytes_and_sends_HBONE_headers()
    {
        using var upstream = new TcpUpstream();
        using var stop = new CancellationTokenSource();
        _ = upstream.RunEchoAsync(stop.Token);
        await using var server = await HboneTestServer.StartAsync();
        await using var client = ClientFixture.CreateClient();

        await using var tunnel = await client.ConnectAsync(ClientFixture.Request(server.EndPoint, upstream.EndPoint)).AsTask().WaitAsync(Deadline);
        var payload = RandomNumberGenerator.GetBytes(3 * 1024 * 1024);
        var reader = Task.Run(async () =>
        {
            var output = new MemoryStream();
            await tunnel.CopyToAsync(output);
            return output.ToArray();
        });
        await tunnel.WriteAsync(payload);
        await tunnel.CompleteWritesAsync();
        var echoed = await reader.WaitAsync(Deadline);

        Assert.Equal(SHA256.HashData(payload), SHA256.HashData(echoed));
        var log = await server.NextLogAsync();
        Assert.Equal(200, log.StatusCode);
        Assert.Equal("10.244.0.2:40690", log.ForwardedFor?.ToString());
        Assert.Equal("spiffe://cluster.local/ns/default/sa/client", log.PeerIdentity?.ToString());
        Assert.Equal(payload.Length, log.BytesFromPeer);
    }

    [Fact]
    public async Task Tunnel_pipes_carry_bytes_both_ways()
    {
        using var upstream = new TcpUpstream();
        using var stop = new CancellationTokenSource();
        _ = upstream.RunEchoAsync(stop.Token);
        await using var server = await HboneTestServer.StartAsync();
        await using var client = ClientFixture.CreateClient();
        await using var tunnel = await client.ConnectAsync(ClientFixture.Request(server.EndPoint, upstream.EndPoint)).AsTask().WaitAsync(Deadline);

        var payload = RandomNumberGenerator.GetBytes(200_000);
        await tunnel.Output.WriteAsync(payload);
        await tunnel.CompleteWritesAsync();
        var received = new MemoryStream();
        while (true)
        {
            var result = await tunnel.Input.ReadAsync().AsTask().WaitAsync(Deadline);
            foreach (var segment in result.Buffer)
            {
                received.Write(segment.Span);
            }

            tunnel.Input.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted)
            {
                break;
            }
        }

        Assert.Equal(SHA256.HashData(payload), SHA256.HashData(received.ToArray()));
        Assert.Equal(payload.Length, tunnel.BytesReceived);
    }
}
