using Hbone.Client.Tests.Infrastructure;
using Hbone.Identity;
using Hbone.Kestrel.Tests.Infrastructure;

namespace Hbone.Client.Tests.Client;

/// <summary>The client checks the server's SVID against the expected identities before sending anything.</summary>
public sealed class IdentityTests
{
    [Fact]
    [Trait("case", "ID-08")]
    public async Task ID08_server_identity_not_expected_fails_with_InvalidSvid_before_any_byte()
    {
        using var refusedTarget = new TcpUpstream();
        using var upstream = new TcpUpstream();
        using var stop = new CancellationTokenSource();
        _ = upstream.RunEchoAsync(stop.Token);
        await using var server = await HboneTestServer.StartAsync();
        await using var client = ClientFixture.CreateClient();
        var expected = SpiffeId.Parse("spiffe://cluster.local/ns/default/sa/payments");

        var error = await Assert.ThrowsAsync<HboneException>(() => client.OpenAsync(ClientFixture.Request(server.EndPoint, refusedTarget.EndPoint, expected)));

        Assert.Equal(HboneErrorReason.InvalidSvid, error.Reason);
        Assert.Contains("spiffe://cluster.local/ns/default/sa/server", error.Message);
        Assert.Contains(expected.ToString(), error.Message);
        Assert.Equal(0, client.Pool.CountConnections(ClientFixture.Key(server.EndPoint, null, expected)));

        // A valid tunnel afterwards: its entry is the server's first, so the refused one left none and dialed nothing.
        await using (var tunnel = await client.OpenAsync(ClientFixture.Request(server.EndPoint, upstream.EndPoint)))
        {
            Assert.Equal("ok"u8.ToArray(), await Tunnels.RoundTripAsync(tunnel, "ok"u8.ToArray()));
        }

        var log = await server.NextLogAsync();
        Assert.Equal(upstream.Authority, log.Authority);
        Assert.Equal(200, log.StatusCode);
        Assert.Null(server.TryNextLog());
        Assert.Equal(0, refusedTarget.AcceptPending());
    }
}
