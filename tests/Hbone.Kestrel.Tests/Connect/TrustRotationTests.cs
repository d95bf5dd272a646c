using Hbone.Identity;
using Hbone.Kestrel.Tests.Infrastructure;

namespace Hbone.Kestrel.Tests.Connect;

/// <summary>Trust bundle rotation on a running server, without restart.</summary>
public sealed class TrustRotationTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    [Fact]
    [Trait("case", "ID-12")]
    public async Task ID_12_bundle_rotation_old_and_new_accepted_during_overlap_old_rejected_after()
    {
        using var oldCa = new DevelopmentCertificateAuthority("cluster.local");
        using var newCa = new DevelopmentCertificateAuthority("cluster.local");
        using var oldClient = oldCa.IssueIstio("default", "old");
        using var newClient = newCa.IssueIstio("default", "new");
        using var serverSvid = newCa.IssueIstio("default", "server");
        var overlap = new TrustBundle("cluster.local", [oldCa.RootCertificate, newCa.RootCertificate]);
        var source = new InMemoryCertificateSource(serverSvid, overlap);
        using var upstream = new TcpUpstream();
        using var stop = new CancellationTokenSource();
        _ = upstream.RunEchoAsync(stop.Token);
        await using var server = await HboneTestServer.StartAsync(o => o.Certificate = source);

        Assert.Equal(200, await StatusWithAsync(server, oldClient, upstream.Authority));
        Assert.Equal(200, await StatusWithAsync(server, newClient, upstream.Authority));

        // An open connection made with the old root survives the rotation; new handshakes follow the new bundle.
        await using var live = await server.ConnectProcessingAsync(oldClient);
        Assert.Equal(200, await (await live.OpenStreamAsync(upstream.Authority)).StatusAsync().WaitAsync(Deadline));

        source.UpdateTrustBundle(new TrustBundle("cluster.local", [newCa.RootCertificate]));

        Assert.Equal(200, await StatusWithAsync(server, newClient, upstream.Authority));
        await Assert.ThrowsAnyAsync<IOException>(() => StatusWithAsync(server, oldClient, upstream.Authority));
        Assert.Equal(200, await (await live.OpenStreamAsync(upstream.Authority)).StatusAsync().WaitAsync(Deadline));
    }

    private static async Task<int> StatusWithAsync(HboneTestServer server, Svid client, string authority)
    {
        await using var connection = await server.ConnectProcessingAsync(client);
        var stream = await connection.OpenStreamAsync(authority);
        return await stream.StatusAsync().WaitAsync(Deadline);
    }
}
