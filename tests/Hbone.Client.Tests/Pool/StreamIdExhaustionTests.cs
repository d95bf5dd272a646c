using System.Net;
using Hbone.Client.Tests.Infrastructure;

namespace Hbone.Client.Tests.Pool;

/// <summary>H2-16: a connection running out of stream ids retires; the pool moves on transparently.</summary>
public sealed class StreamIdExhaustionTests
{
    private static readonly IPEndPoint Target = new(IPAddress.Parse("10.244.0.9"), 8080);

    [Fact]
    [Trait("case", "H2-16")]
    public async Task H216_stream_ids_near_2pow31_retire_the_connection_and_the_next_tunnel_uses_a_new_one()
    {
        await using var server = await RecordingEchoServer.StartAsync();
        await using (var client = ClientFixture.CreateClient(firstStreamId: int.MaxValue - 4))
        {
            // Ids 2^31-5, 2^31-3 and 2^31-1 (the largest valid one) fit on the first connection; the fourth cannot.
            var connections = new List<Hbone.Http2.Http2ClientConnection>();
            for (var i = 0; i < 4; i++)
            {
                await using var tunnel = await client.OpenAsync(ClientFixture.Request(server.EndPoint, Target));
                var payload = System.Security.Cryptography.RandomNumberGenerator.GetBytes(10_000);
                Assert.Equal(payload, await Tunnels.RoundTripAsync(tunnel, payload));
                connections.Add(Tunnels.ConnectionOf(tunnel));
            }

            Assert.Same(connections[0], connections[1]);
            Assert.Same(connections[0], connections[2]);
            Assert.NotSame(connections[0], connections[3]);
            Assert.False(connections[0].IsUsable);
            var seen = server.Seen;
            Assert.Equal(4, seen.Count);
            Assert.Equal(2, server.DistinctConnections);
            Assert.Equal(seen[0].RemoteEndPoint, seen[2].RemoteEndPoint);
            Assert.NotEqual(seen[0].RemoteEndPoint, seen[3].RemoteEndPoint);
        }
    }
}
