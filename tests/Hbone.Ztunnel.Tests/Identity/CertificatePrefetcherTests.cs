using Hbone.Identity;
using Hbone.Istio.Ca;
using Hbone.Ztunnel.Config;
using Hbone.Ztunnel.Identity;
using Hbone.Ztunnel.State;
using Microsoft.Extensions.Logging.Abstractions;

namespace Hbone.Ztunnel.Tests.Identity;

/// <summary>
/// ZT-UNIT-43: <see cref="CertificatePrefetcher"/> asks istiod's CA (here a development CA behind the real certificate
/// manager) ahead of time for this node's HBONE workloads only, forgets identities no local workload uses any more, and
/// reports every local identity available only once each has its certificate.
/// </summary>
public sealed class CertificatePrefetcherTests : IAsyncLifetime
{
    private const string ThisNode = "node-a";
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);
    private static readonly SpiffeId Echo = SpiffeId.Parse("spiffe://cluster.local/ns/default/sa/echo");
    private static readonly SpiffeId Client = SpiffeId.Parse("spiffe://cluster.local/ns/default/sa/client");
    private static readonly SpiffeId Db = SpiffeId.Parse("spiffe://cluster.local/ns/default/sa/db");

    private readonly GatedIssuer _issuer = new();
    private readonly IstioWorkloadCertificates _certificates;
    private readonly CertificatePrefetcher _prefetcher;

    public CertificatePrefetcherTests()
    {
        _certificates = new IstioWorkloadCertificates(new IstioCertificateManager(_issuer));
        _prefetcher = new CertificatePrefetcher(_certificates, ThisNode, NullLogger.Instance);
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        await _certificates.DisposeAsync();
        _issuer.Dispose();
    }

    [Fact]
    [Trait("case", "ZT-UNIT-43")]
    public async Task Only_this_nodes_HBONE_workloads_are_prefetched()
    {
        ReleaseAll();

        _prefetcher.Update(Snapshot(
            Pod("echo", "echo"), Pod("client", "client"),
            Pod("remote", "remote", node: "node-b"), Pod("legacy", "legacy", protocol: WorkloadProtocol.Tcp)));
        await WaitIssuedAsync(Echo, Client);

        Assert.Equal([Client, Echo], Sorted(_prefetcher.LocalIdentities));
        Assert.Equal([Client.ToString(), Echo.ToString()], _certificates.Describe().Select(c => c.Identity));
        Assert.Equal([Client, Echo], Sorted(_issuer.Requested));
        Assert.True(_prefetcher.AllAvailable);
    }

    [Fact]
    [Trait("case", "ZT-UNIT-43")]
    public async Task An_identity_is_forgotten_when_its_last_local_workload_goes()
    {
        ReleaseAll();
        _prefetcher.Update(Snapshot(Pod("echo-1", "echo"), Pod("echo-2", "echo"), Pod("client", "client")));
        await WaitIssuedAsync(Echo, Client);

        // One echo pod is left, so its identity stays; the client pod moved to another node, so its identity goes.
        _prefetcher.Update(Snapshot(Pod("echo-2", "echo"), Pod("client", "client", node: "node-b")));

        Assert.Equal([Echo], _prefetcher.LocalIdentities);
        Assert.Equal([Echo.ToString()], _certificates.Describe().Select(c => c.Identity));
        Assert.True(_certificates.IsAvailable(Echo));
        Assert.False(_certificates.IsAvailable(Client));

        _prefetcher.Update(Snapshot());

        Assert.Empty(_prefetcher.LocalIdentities);
        Assert.Empty(_certificates.Describe());
        Assert.Equal([Client, Echo], Sorted(_issuer.Requested));
    }

    [Fact]
    [Trait("case", "ZT-UNIT-43")]
    public async Task AllAvailable_stays_false_until_every_local_identity_is_issued()
    {
        _prefetcher.Update(Snapshot(Pod("echo", "echo"), Pod("client", "client")));
        Assert.False(_prefetcher.AllAvailable);

        _issuer.Release(Echo);
        await WaitIssuedAsync(Echo);
        Assert.False(_prefetcher.AllAvailable);

        _issuer.Release(Client);
        await WaitIssuedAsync(Client);
        Assert.True(_prefetcher.AllAvailable);

        // A pod scheduled later holds readiness back again until its certificate is in.
        _prefetcher.Update(Snapshot(Pod("echo", "echo"), Pod("client", "client"), Pod("db", "db")));
        Assert.False(_prefetcher.AllAvailable);

        _issuer.Release(Db);
        await WaitIssuedAsync(Db);
        Assert.True(_prefetcher.AllAvailable);
    }

    [Fact]
    [Trait("case", "ZT-UNIT-43")]
    public void Without_a_node_name_nothing_is_prefetched_and_nothing_is_waited_for()
    {
        var prefetcher = new CertificatePrefetcher(_certificates, nodeName: null, NullLogger.Instance);

        prefetcher.Update(Snapshot(Pod("echo", "echo")));

        Assert.Empty(prefetcher.LocalIdentities);
        Assert.Empty(_certificates.Describe());
        Assert.Empty(_issuer.Requested);
        Assert.True(prefetcher.AllAvailable);
    }

    private void ReleaseAll()
    {
        foreach (SpiffeId id in (SpiffeId[])[Echo, Client, Db])
        {
            _issuer.Release(id);
        }
    }

    // GetAsync completes when the manager installed the certificate the prefetch started.
    private async Task WaitIssuedAsync(params SpiffeId[] ids)
    {
        using var deadline = new CancellationTokenSource(Deadline);
        foreach (SpiffeId id in ids)
        {
            await _certificates.GetAsync(id, deadline.Token);
            Assert.True(_certificates.IsAvailable(id));
        }
    }

    private static SpiffeId[] Sorted(IEnumerable<SpiffeId> ids) => [.. ids.OrderBy(id => id.ToString(), StringComparer.Ordinal)];

    private static WorkloadSnapshot Snapshot(params Workload[] workloads) => new(new LocalConfig(workloads, [], []));

    private static Workload Pod(string name, string serviceAccount, string node = ThisNode, WorkloadProtocol protocol = WorkloadProtocol.Hbone) => new()
    {
        Uid = $"Kubernetes//Pod/default/{name}", Name = name, Namespace = "default", ServiceAccount = serviceAccount, Node = node, Protocol = protocol,
    };
}
