using System.Net;
using Hbone.Client.Tests.Infrastructure;
using Hbone.Identity;
using Hbone.Kestrel.Tests.Infrastructure;

namespace Hbone.Client.Tests.Pool;

/// <summary>The connection pool against a real Kestrel HBONE server that records each CONNECT's TCP peer.</summary>
public sealed class PoolTests
{
    private static readonly IPEndPoint Target = new(IPAddress.Parse("10.244.0.9"), 8080);

    [Fact]
    [Trait("case", "FT-13")]
    public async Task FT13_concurrent_requests_for_one_key_share_a_single_dial()
    {
        await using var server = await RecordingEchoServer.StartAsync();
        await using var client = ClientFixture.CreateClient();

        var tunnels = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => Task.Run(() => client.OpenAsync(ClientFixture.Request(server.EndPoint, Target)))));
        try
        {
            Assert.Equal(1, client.Pool.CountConnections(ClientFixture.Key(server.EndPoint)));
            Assert.Equal(20, server.Seen.Count);
            Assert.Equal(1, server.DistinctConnections);
            Assert.Single(tunnels.Select(Tunnels.ConnectionOf).Distinct());
            foreach (var tunnel in tunnels)
            {
                await Tunnels.EchoExchangeAsync(tunnel, 1024);
            }
        }
        finally
        {
            foreach (var tunnel in tunnels)
            {
                await tunnel.DisposeAsync();
            }
        }
    }

    [Fact]
    [Trait("case", "FT-13")]
    public async Task FT13_streams_beyond_the_per_connection_limit_spill_to_new_connections()
    {
        await using var server = await RecordingEchoServer.StartAsync();
        await using var client = ClientFixture.CreateClient(o => o.MaxStreamsPerConnection = 5);

        var tunnels = await Task.WhenAll(Enumerable.Range(0, 12).Select(_ => Task.Run(() => client.OpenAsync(ClientFixture.Request(server.EndPoint, Target)))));
        try
        {
            Assert.Equal(3, client.Pool.CountConnections(ClientFixture.Key(server.EndPoint)));
            Assert.Equal(3, server.DistinctConnections);
            var perConnection = tunnels.GroupBy(Tunnels.ConnectionOf).Select(g => g.Count()).Order().ToArray();
            Assert.Equal([2, 5, 5], perConnection);
            foreach (var tunnel in tunnels)
            {
                await Tunnels.EchoExchangeAsync(tunnel, 1024);
            }
        }
        finally
        {
            foreach (var tunnel in tunnels)
            {
                await tunnel.DisposeAsync();
            }
        }
    }

    [Fact]
    [Trait("case", "FT-13")]
    public async Task FT13_distinct_keys_never_share_a_connection()
    {
        await using var server = await RecordingEchoServer.StartAsync();
        await using var client = ClientFixture.CreateClient();
        var alsoExpected = SpiffeId.Parse("spiffe://cluster.local/ns/default/sa/server-canary");
        var otherSource = new InMemoryCertificateSource(TestPki.Shared.Other, TestPki.Shared.Ca.TrustBundle);

        await using var plain = await client.OpenAsync(ClientFixture.Request(server.EndPoint, Target));
        await using var widerExpectation = await client.OpenAsync(ClientFixture.Request(server.EndPoint, Target, ClientFixture.ServerId, alsoExpected));
        await using var otherIdentity = await client.OpenAsync(new Hbone.Client.HboneRequest
        {
            Destination = server.EndPoint,
            Authority = Hbone.Protocol.HboneAuthority.FromEndPoint(Target),
            ExpectedIdentities = [ClientFixture.ServerId],
            Source = otherSource,
        });
        await using var plainAgain = await client.OpenAsync(ClientFixture.Request(server.EndPoint, Target));

        Assert.Same(Tunnels.ConnectionOf(plain), Tunnels.ConnectionOf(plainAgain));
        Assert.Equal(3, new[] { plain, widerExpectation, otherIdentity }.Select(Tunnels.ConnectionOf).Distinct().Count());
        Assert.Equal(3, server.DistinctConnections);
        Assert.Equal(1, client.Pool.CountConnections(ClientFixture.Key(server.EndPoint)));
        Assert.Equal(1, client.Pool.CountConnections(ClientFixture.Key(server.EndPoint, null, ClientFixture.ServerId, alsoExpected)));
        Assert.Equal(1, client.Pool.CountConnections(ClientFixture.Key(server.EndPoint, TestPki.Shared.Other)));
        Assert.Equal(
            [TestPki.Shared.Client.Id, TestPki.Shared.Client.Id, TestPki.Shared.Other.Id, TestPki.Shared.Client.Id],
            server.Seen.Select(s => s.PeerIdentity));
    }

    [Fact]
    [Trait("case", "FT-13")]
    public async Task FT13_idle_connection_is_closed_after_the_idle_timeout()
    {
        await using var server = await RecordingEchoServer.StartAsync();
        await using var proxy = new FaultProxy(server.EndPoint);
        await using var client = ClientFixture.CreateClient(o => o.PooledConnectionIdleTimeout = TimeSpan.FromMilliseconds(500));
        var key = ClientFixture.Key(proxy.EndPoint);

        await using (var tunnel = await client.OpenAsync(ClientFixture.Request(proxy.EndPoint, Target)))
        {
            Assert.Equal("idle"u8.ToArray(), await Tunnels.RoundTripAsync(tunnel, "idle"u8.ToArray()));
        }

        Assert.Equal(1, client.Pool.CountConnections(key));
        Assert.True(await Tunnels.EventuallyAsync(() => client.Pool.CountConnections(key) == 0, TimeSpan.FromSeconds(10)), "the idle connection was not released");
        Assert.True(await Tunnels.EventuallyAsync(() => client.Pool.KeyCount == 0, TimeSpan.FromSeconds(10)), "the key of the released connection stayed in the pool");

        // The next tunnel needs a new dial.
        await using var next = await client.OpenAsync(ClientFixture.Request(proxy.EndPoint, Target));
        Assert.Equal(2, proxy.Accepted);
        Assert.Equal(2, server.DistinctConnections);
    }

    [Fact]
    [Trait("case", "ADV-06")]
    public async Task ADV06_source_identities_and_expectations_never_reuse_another_keys_connection()
    {
        await using var server = await RecordingEchoServer.StartAsync();
        await using var client = ClientFixture.CreateClient();
        var otherSource = new InMemoryCertificateSource(TestPki.Shared.Other, TestPki.Shared.Ca.TrustBundle);

        // Two source identities to one destination: two TLS peers at the server.
        await using var asClient = await client.OpenAsync(ClientFixture.Request(server.EndPoint, Target));
        await using var asOther = await client.OpenAsync(new Hbone.Client.HboneRequest
        {
            Destination = server.EndPoint,
            Authority = Hbone.Protocol.HboneAuthority.FromEndPoint(Target),
            ExpectedIdentities = [ClientFixture.ServerId],
            Source = otherSource,
        });
        Assert.NotSame(Tunnels.ConnectionOf(asClient), Tunnels.ConnectionOf(asOther));
        var seen = server.Seen;
        Assert.Equal(2, seen.Count);
        Assert.NotEqual(seen[0].RemoteEndPoint, seen[1].RemoteEndPoint);
        Assert.Equal(TestPki.Shared.Client.Id, seen[0].PeerIdentity);
        Assert.Equal(TestPki.Shared.Other.Id, seen[1].PeerIdentity);

        // A request expecting another identity is not given the pooled connection (which would carry it to the
        // wrong workload): it dials, and the handshake refuses the server's SVID.
        var elsewhere = SpiffeId.Parse("spiffe://cluster.local/ns/default/sa/not-the-server");
        var error = await Assert.ThrowsAsync<HboneException>(() => client.OpenAsync(ClientFixture.Request(server.EndPoint, Target, elsewhere)));
        Assert.Equal(HboneErrorReason.InvalidSvid, error.Reason);
        Assert.Equal(2, server.Seen.Count);
        Assert.Equal(1, client.Pool.CountConnections(ClientFixture.Key(server.EndPoint)));
        Assert.Equal(0, client.Pool.CountConnections(ClientFixture.Key(server.EndPoint, null, elsewhere)));
    }

    [Fact]
    [Trait("case", "FT-14")]
    public async Task FT14_rotated_source_certificate_gets_a_new_connection_and_the_old_one_takes_no_new_streams()
    {
        await using var server = await RecordingEchoServer.StartAsync();
        var source = new InMemoryCertificateSource(TestPki.Shared.Client, TestPki.Shared.Ca.TrustBundle);
        await using var client = new Hbone.Client.HboneClient(new Hbone.Client.HboneClientOptions { Certificate = source });
        var key = ClientFixture.Key(server.EndPoint);
        using var rotated = TestPki.Shared.Ca.IssueIstio("default", "client");
        Assert.Equal(TestPki.Shared.Client.Id, rotated.Id);
        Assert.NotEqual(TestPki.Shared.Client.Certificate.SerialNumber, rotated.Certificate.SerialNumber);

        var before = await client.OpenAsync(ClientFixture.Request(server.EndPoint, Target));
        try
        {
            source.Update(rotated);
            await using var after = await client.OpenAsync(ClientFixture.Request(server.EndPoint, Target));

            Assert.NotSame(Tunnels.ConnectionOf(before), Tunnels.ConnectionOf(after));
            var seen = server.Seen;
            Assert.Equal(2, seen.Count);
            Assert.NotEqual(seen[0].RemoteEndPoint, seen[1].RemoteEndPoint);
            Assert.Equal(TestPki.Shared.Client.Certificate.SerialNumber, seen[0].PeerSerial);
            Assert.Equal(rotated.Certificate.SerialNumber, seen[1].PeerSerial);

            // The old connection keeps its open tunnel working.
            await Tunnels.EchoExchangeAsync(before, 4096);
            await Tunnels.EchoExchangeAsync(after, 4096);
            Assert.Equal(2, client.Pool.CountConnections(key));
        }
        finally
        {
            await before.DisposeAsync();
        }

        // Still pooled until the sweeper closes it, but never handed out again.
        await using var third = await client.OpenAsync(ClientFixture.Request(server.EndPoint, Target));
        Assert.Equal(rotated.Certificate.SerialNumber, server.Seen[2].PeerSerial);
        Assert.Equal(server.Seen[1].RemoteEndPoint, server.Seen[2].RemoteEndPoint);
    }
}
