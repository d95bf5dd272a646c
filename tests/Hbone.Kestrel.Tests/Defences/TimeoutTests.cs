// Contract row (docs/http2-server.md): no client preface within PrefaceTimeout after TLS → closed (H2-18).
using Hbone.Kestrel.Tests.Defences.Infrastructure;
using Hbone.Kestrel.Tests.Infrastructure;

namespace Hbone.Kestrel.Tests.Defences;

[Collection(DefencesCollection.Name)]
public sealed class TimeoutTests
{
    [Fact]
    [Trait("case", "H2-18")]
    public async Task H2_18_a_tls_connection_that_never_sends_the_preface_is_closed_within_PrefaceTimeout_plus_2_s()
    {
        var timeout = TimeSpan.FromSeconds(1);
        DefenceServer.SetOption(new HboneServerOptions(), "PrefaceTimeout", timeout); // fails clearly before any server starts
        using var upstream = new TcpUpstream();
        await using var server = await DefenceServer.StartAsync(o => DefenceServer.SetOption(o, "PrefaceTimeout", timeout));
        await using var client = await server.ConnectAsync(sendPreface: false);

        var start = client.Elapsed;
        Assert.True(await client.ClosedWithinAsync(timeout + TimeSpan.FromSeconds(2)), $"the connection is still open {(timeout + TimeSpan.FromSeconds(2)).TotalSeconds} s after TLS without a preface");
        Assert.InRange(client.ClosedAt!.Value - start, TimeSpan.FromSeconds(0.5), timeout + TimeSpan.FromSeconds(2));
        Assert.Equal(0, upstream.AcceptPending());
    }
}
