using Hbone.Identity;
using Hbone.Ztunnel.Identity;

namespace Hbone.Ztunnel.Tests.Identity;

/// <summary><see cref="WorkloadIdentities"/>: one SVID per workload identity, from an in-process or shared CA.</summary>
public sealed class WorkloadIdentitiesTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("hbone-zt-ca-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    [Trait("case", "ZT-UNIT-20")]
    public void Made_up_CA_issues_one_svid_per_id_that_chains_to_its_trust_bundle()
    {
        using var identities = WorkloadIdentities.Create(null, null, null, "cluster.local");
        var echo = SpiffeId.Parse("spiffe://cluster.local/ns/default/sa/echo");
        var client = SpiffeId.Parse("spiffe://cluster.local/ns/default/sa/client");

        ISvidSource first = identities.For(echo);
        ISvidSource again = identities.For(echo);
        ISvidSource other = identities.For(client);

        Assert.Same(first, again);
        Assert.NotSame(first, other);
        Assert.Equal(echo, first.GetSvid().Id);
        Assert.Equal(client, other.GetSvid().Id);
        Assert.Same(first.GetSvid(), again.GetSvid());
        var validator = new SvidValidator(identities.TrustBundle);
        Assert.Equal(echo, validator.Validate(first.GetSvid().Certificate, null, SvidRole.Server));
        Assert.Equal(client, validator.Validate(other.GetSvid().Certificate, null, SvidRole.Client));
        Assert.Equal("cluster.local", identities.GetTrustBundle().TrustDomain);
    }

    [Fact]
    [Trait("case", "ZT-UNIT-20")]
    public async Task Concurrent_first_use_of_an_id_issues_one_svid()
    {
        using var identities = WorkloadIdentities.Create(null, null, null, "cluster.local");
        var id = SpiffeId.Parse("spiffe://cluster.local/ns/default/sa/echo");

        var sources = await Task.WhenAll(Enumerable.Range(0, 16).Select(_ => Task.Run(() => identities.For(id)))).WaitAsync(TimeSpan.FromSeconds(10));

        Assert.All(sources, s => Assert.Same(sources[0], s));
    }

    [Theory]
    [Trait("case", "ZT-UNIT-21")]
    [InlineData(true)]
    [InlineData(false)]
    public void Only_one_of_the_two_CA_paths_is_a_CertificateLoadException(bool certificateOnly)
    {
        string path = Path.Combine(_directory, certificateOnly ? "root-cert.pem" : "root-key.pem");

        var error = Assert.Throws<CertificateLoadException>(() =>
            WorkloadIdentities.Create(null, certificateOnly ? path : null, certificateOnly ? null : path, "cluster.local"));

        Assert.Equal(CertificateLoadError.FileNotFound, error.Error);
        Assert.Equal(path, error.Path);
        Assert.Contains("set both CA_ROOT_CERT and CA_ROOT_KEY, or neither", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    [Trait("case", "ID-07")]
    public void Two_nodes_loading_the_same_CA_files_trust_each_others_svids()
    {
        (string cert, string key) = WriteCa("cluster.local");

        using var nodeA = WorkloadIdentities.Create(null, cert, key, "cluster.local");
        using var nodeB = WorkloadIdentities.Create(null, cert, key, "cluster.local");
        using var stranger = WorkloadIdentities.Create(null, null, null, "cluster.local");
        var echo = SpiffeId.Parse("spiffe://cluster.local/ns/default/sa/echo");
        var client = SpiffeId.Parse("spiffe://cluster.local/ns/default/sa/client");

        Assert.Equal(echo, new SvidValidator(nodeB.TrustBundle).Validate(nodeA.For(echo).GetSvid().Certificate, null, SvidRole.Server));
        Assert.Equal(client, new SvidValidator(nodeA.TrustBundle).Validate(nodeB.For(client).GetSvid().Certificate, null, SvidRole.Client));
        var rejected = Assert.Throws<SvidValidationException>(() =>
            new SvidValidator(stranger.TrustBundle).Validate(nodeA.For(echo).GetSvid().Certificate, null, SvidRole.Server));
        Assert.Equal(SvidValidationError.UntrustedChain, rejected.Error);
    }

    [Fact]
    [Trait("case", "ZT-UNIT-21")]
    public void A_missing_CA_file_is_Unreadable()
    {
        (string cert, _) = WriteCa("cluster.local");
        string missing = Path.Combine(_directory, "absent-key.pem");

        var error = Assert.Throws<CertificateLoadException>(() => WorkloadIdentities.Create(null, cert, missing, "cluster.local"));

        Assert.Equal(CertificateLoadError.Unreadable, error.Error);
        Assert.IsType<FileNotFoundException>(error.InnerException);
    }

    [Fact]
    [Trait("case", "ZT-UNIT-21")]
    public void A_directory_as_CA_file_is_Unreadable()
    {
        (_, string key) = WriteCa("cluster.local");

        var error = Assert.Throws<CertificateLoadException>(() => WorkloadIdentities.Create(null, _directory, key, "cluster.local"));

        Assert.Equal(CertificateLoadError.Unreadable, error.Error);
        Assert.Equal(_directory, error.Path);
    }

    [Fact]
    [Trait("case", "ZT-UNIT-21")]
    public void A_CA_file_that_is_not_PEM_is_a_CertificateLoadException()
    {
        (_, string key) = WriteCa("cluster.local");
        string garbage = Path.Combine(_directory, "garbage.pem");
        File.WriteAllText(garbage, "not a certificate\n");

        Assert.Throws<CertificateLoadException>(() => WorkloadIdentities.Create(null, garbage, key, "cluster.local"));
    }

    private (string Certificate, string Key) WriteCa(string trustDomain)
    {
        using var ca = new DevelopmentCertificateAuthority(trustDomain);
        string cert = Path.Combine(_directory, "root-cert.pem");
        string key = Path.Combine(_directory, "root-key.pem");
        File.WriteAllText(cert, ca.ExportRootPem());
        File.WriteAllText(key, ca.ExportRootKeyPem());
        return (cert, key);
    }
}
