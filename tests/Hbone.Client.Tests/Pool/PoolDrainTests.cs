using System.Net;
using Hbone.Client.Tests.Infrastructure;
using Hbone.Interop.Peers;
using Hbone.Kestrel.Tests.Infrastructure;

namespace Hbone.Client.Tests.Pool;

/// <summary>
/// <see cref="HboneClient.DrainConnectionsAsync(IPAddress, CancellationToken)"/>: what a node proxy does with a removed
/// pod's pooled connections, checked against Node's http2 server (nghttp2), which logs the GOAWAY it receives.
/// </summary>
public sealed class PoolDrainTests : IAsyncLifetime
{
    private static readonly IPAddress Removed = IPAddress.Parse("127.0.0.2");
    private static readonly IPAddress Staying = IPAddress.Parse("127.0.0.3");
    private readonly TcpUpstream _upstream = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly HboneClient _client = ClientFixture.CreateClient();
    private PeerServer? _peer;

    public async Task InitializeAsync()
    {
        _ = _upstream.RunEchoAsync(_stop.Token);
        _peer = await PeerServer.StartAsync(PeerKind.Node, TestPki.Shared.Server, TestPki.Shared.Ca);
    }

    public async Task DisposeAsync()
    {
        await _client.DisposeAsync();
        if (_peer is not null)
        {
            await _peer.DisposeAsync();
        }

        await _stop.CancelAsync();
        _stop.Dispose();
        _upstream.Dispose();
    }

    [Fact]
    [Trait("case", "E2E-10")]
    public async Task Draining_a_source_address_sends_GOAWAY_keeps_its_open_tunnel_and_closes_the_connection_when_it_ends()
    {
        await using var live = await _client.OpenAsync(From(Removed));
        await using var other = await _client.OpenAsync(From(Staying));
        var drained = Tunnels.ConnectionOf(live);
        var kept = Tunnels.ConnectionOf(other);

        var drain = _client.DrainConnectionsAsync(Removed, CancellationToken.None);
        var goAway = await _peer!.WaitForLineAsync(l => l.Contains("client-goaway", StringComparison.Ordinal), ClientFixture.Deadline);
        await Tunnels.EchoExchangeAsync(live, 1000);
        await using (var fresh = await _client.OpenAsync(From(Removed)))
        {
            Assert.NotSame(drained, Tunnels.ConnectionOf(fresh));
        }

        Assert.False(drain.IsCompleted);
        Assert.Equal("bye"u8.ToArray(), await Tunnels.RoundTripAsync(live, "bye"u8.ToArray()));
        await live.DisposeAsync();

        Assert.Equal(1, await drain.WaitAsync(ClientFixture.Deadline));
        await drained.Closed.WaitAsync(ClientFixture.Deadline);
        Assert.Contains("error=0", goAway, StringComparison.Ordinal);
        Assert.True(kept.IsUsable);
        Assert.Equal("still"u8.ToArray(), await Tunnels.RoundTripAsync(other, "still"u8.ToArray()));
    }

    [Fact]
    [Trait("case", "E2E-10")]
    public async Task A_tunnel_still_open_when_the_grace_period_ends_is_closed_with_its_connection()
    {
        await using var live = await _client.OpenAsync(From(Removed));
        var connection = Tunnels.ConnectionOf(live);
        using var grace = new CancellationTokenSource();

        var drain = _client.DrainConnectionsAsync(Removed, grace.Token);
        await _peer!.WaitForLineAsync(l => l.Contains("client-goaway", StringComparison.Ordinal), ClientFixture.Deadline);
        await grace.CancelAsync();

        Assert.Equal(1, await drain.WaitAsync(ClientFixture.Deadline));
        await connection.Closed.WaitAsync(ClientFixture.Deadline);
        await Assert.ThrowsAnyAsync<Exception>(() => live.ReadAsync(new byte[1]).AsTask().WaitAsync(ClientFixture.Deadline));
    }

    private HboneRequest From(IPAddress source)
    {
        HboneRequest request = ClientFixture.Request(_peer!.EndPoint, _upstream.EndPoint);
        return new HboneRequest
        {
            Destination = request.Destination,
            Authority = request.Authority,
            ExpectedIdentities = request.ExpectedIdentities,
            ForwardedFor = request.ForwardedFor,
            SourceAddress = source,
        };
    }
}
