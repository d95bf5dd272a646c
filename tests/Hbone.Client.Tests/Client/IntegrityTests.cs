using Hbone.Client.Tests.Infrastructure;
using Hbone.Kestrel.Tests.Infrastructure;

namespace Hbone.Client.Tests.Client;

/// <summary>CON-14: many concurrent tunnels on one pooled connection, both directions at once, byte-exact.</summary>
public sealed class IntegrityTests
{
    [Fact]
    [Trait("case", "CON-14")]
    public async Task CON14_200_concurrent_streams_on_one_connection_random_sizes_up_to_4MB_byte_exact()
    {
        using var upstream = new TcpUpstream();
        using var stop = new CancellationTokenSource();
        _ = upstream.RunEchoAsync(stop.Token);
        await using var server = await HboneTestServer.StartAsync();
        await using var client = ClientFixture.CreateClient(o => o.MaxStreamsPerConnection = 200);

        var results = await ConcurrentStreams.RunAsync(client, ClientFixture.Request(server.EndPoint, upstream.EndPoint), streams: 200, maxSize: 4 * 1024 * 1024, seed: 14, TimeSpan.FromSeconds(240));

        ConcurrentStreams.AssertExact(results);
        Assert.Single(results.Select(r => r.Connection).Distinct());
        Assert.Equal(1, client.Pool.CountConnections(ClientFixture.Key(server.EndPoint)));
        var remotes = new HashSet<System.Net.IPEndPoint?>();
        for (var i = 0; i < 200; i++)
        {
            var log = await server.NextLogAsync();
            Assert.Equal(200, log.StatusCode);
            remotes.Add(log.RemoteEndPoint);
        }

        Assert.Single(remotes);
        Assert.Equal(200, upstream.Accepted);
    }
}
