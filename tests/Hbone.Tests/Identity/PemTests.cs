using System.Security.Cryptography.X509Certificates;
using Hbone.Identity;

namespace Hbone.Tests.Identity;

public class PemTests
{
    [Fact]
    public void Svid_round_trips_through_pem()
    {
        using DevelopmentCertificateAuthority ca = new();
        using Svid original = ca.IssueIstio("default", "echo");
        string chainPem = original.ExportCertificateChainPem();
        string keyPem = original.ExportPrivateKeyPem();

        using Svid loaded = Svid.FromPem(chainPem, keyPem);

        Assert.StartsWith("-----BEGIN PRIVATE KEY-----", keyPem, StringComparison.Ordinal);
        Assert.Equal(original.Id, loaded.Id);
        Assert.Equal(original.Certificate.RawData, loaded.Certificate.RawData);
        Assert.True(loaded.Certificate.HasPrivateKey);
        Assert.Equal(original.NotAfter, loaded.NotAfter);
        Assert.Equal(loaded.Id, new SvidValidator(ca.TrustBundle).Validate(loaded.Certificate, loaded.Intermediates, SvidRole.Client));
    }

    [Fact]
    public void Svid_chain_pem_keeps_intermediates_in_order()
    {
        using var root = TestCertificates.CreateRoot();
        using var intermediate = TestCertificates.CreateIntermediate(root);
        using var leaf = TestCertificates.Leaf(intermediate).Build();
        using Svid svid = new(leaf, [intermediate]);

        using Svid loaded = Svid.FromPem(svid.ExportCertificateChainPem(), svid.ExportPrivateKeyPem());

        Assert.Equal(intermediate.RawData, Assert.Single(loaded.Intermediates).RawData);
        Assert.Equal(TestCertificates.WorkloadId, new SvidValidator(new TrustBundle("cluster.local", [root])).Validate(loaded.Certificate, loaded.Intermediates, SvidRole.Server).ToString());
    }

    [Fact]
    public void Trust_bundle_round_trips_through_pem_with_several_roots()
    {
        using DevelopmentCertificateAuthority first = new();
        using DevelopmentCertificateAuthority second = new();
        TrustBundle bundle = new("cluster.local", [first.RootCertificate, second.RootCertificate]);

        TrustBundle loaded = TrustBundle.FromPem("cluster.local", bundle.ExportPem());

        Assert.Equal("cluster.local", loaded.TrustDomain);
        Assert.Equal([first.RootCertificate.Thumbprint, second.RootCertificate.Thumbprint], loaded.Roots.Select(r => r.Thumbprint));
    }

    [Fact]
    public void Trust_bundle_roots_cannot_be_changed_through_the_returned_collection()
    {
        using DevelopmentCertificateAuthority ca = new();
        TrustBundle bundle = ca.TrustBundle;

        bundle.Roots.Clear();

        Assert.Single(bundle.Roots);
    }

    [Theory]
    [InlineData("not pem at all", CertificateLoadError.MalformedPem)]
    [InlineData("-----BEGIN CERTIFICATE-----\nAAAA!!!\n-----END CERTIFICATE-----\n", CertificateLoadError.MalformedPem)]
    [InlineData("-----BEGIN CERTIFICATE-----\nAQID\n-----END CERTIFICATE-----\n", CertificateLoadError.MalformedPem)]
    [InlineData("", CertificateLoadError.NoCertificate)]
    [InlineData("-----BEGIN PUBLIC KEY-----\nAQID\n-----END PUBLIC KEY-----\n", CertificateLoadError.NoCertificate)]
    public void Bad_bundle_pem_is_rejected_with_its_reason(string pem, CertificateLoadError expected)
    {
        CertificateLoadException ex = Assert.Throws<CertificateLoadException>(() => TrustBundle.FromPem("cluster.local", pem));
        Assert.Equal(expected, ex.Error);
        Assert.Equal(HboneErrorReason.CertificateLoad, ex.Reason);
        Assert.Null(ex.Path);
    }

    [Fact]
    public void Truncated_second_certificate_fails_instead_of_being_skipped()
    {
        using DevelopmentCertificateAuthority ca = new();
        string pem = ca.ExportRootPem();
        string truncated = pem + pem[..(pem.Length / 2)];

        CertificateLoadException ex = Assert.Throws<CertificateLoadException>(() => TrustBundle.FromPem("cluster.local", truncated));
        Assert.Equal(CertificateLoadError.MalformedPem, ex.Error);
    }

    [Fact]
    public void Svid_from_pem_reports_key_mismatch_missing_key_and_unsupported_key()
    {
        using DevelopmentCertificateAuthority ca = new();
        using Svid a = ca.IssueIstio("default", "a");
        using Svid b = ca.IssueIstio("default", "b");
        using System.Security.Cryptography.RSA rsa = System.Security.Cryptography.RSA.Create(2048);

        Assert.Equal(CertificateLoadError.KeyMismatch, Assert.Throws<CertificateLoadException>(() => Svid.FromPem(a.ExportCertificateChainPem(), b.ExportPrivateKeyPem())).Error);
        Assert.Equal(CertificateLoadError.KeyMismatch, Assert.Throws<CertificateLoadException>(() => Svid.FromPem(a.ExportCertificateChainPem(), rsa.ExportPkcs8PrivateKeyPem())).Error);
        Assert.Equal(CertificateLoadError.NoPrivateKey, Assert.Throws<CertificateLoadException>(() => Svid.FromPem(a.ExportCertificateChainPem(), a.ExportCertificateChainPem())).Error);
        Assert.Equal(CertificateLoadError.UnsupportedKey, Assert.Throws<CertificateLoadException>(() => Svid.FromPem(a.ExportCertificateChainPem(), rsa.ExportEncryptedPkcs8PrivateKeyPem("pw", new System.Security.Cryptography.PbeParameters(System.Security.Cryptography.PbeEncryptionAlgorithm.Aes128Cbc, System.Security.Cryptography.HashAlgorithmName.SHA256, 1000)))).Error);
        Assert.Equal(CertificateLoadError.NoCertificate, Assert.Throws<CertificateLoadException>(() => Svid.FromPem(a.ExportPrivateKeyPem(), a.ExportPrivateKeyPem())).Error);
    }

    [Fact]
    public void Svid_from_sec1_ec_private_key_loads()
    {
        using DevelopmentCertificateAuthority ca = new();
        using Svid svid = ca.IssueIstio("default", "echo");
        using System.Security.Cryptography.ECDsa key = svid.Certificate.GetECDsaPrivateKey()!;

        using Svid loaded = Svid.FromPem(svid.ExportCertificateChainPem(), key.ExportECPrivateKeyPem());

        Assert.Equal(svid.Id, loaded.Id);
    }

    [Fact]
    public void In_memory_source_raises_changed_and_serves_the_update()
    {
        using DevelopmentCertificateAuthority ca = new();
        using Svid first = ca.IssueIstio("default", "first");
        using Svid second = ca.IssueIstio("default", "second");
        InMemoryCertificateSource source = new(first, ca.TrustBundle);
        int changes = 0;
        source.Changed += (_, _) => changes++;

        source.Update(second);
        TrustBundle empty = new("cluster.local", []);
        source.UpdateTrustBundle(empty);

        Assert.Same(second, source.GetSvid());
        Assert.Same(empty, source.GetTrustBundle());
        Assert.Equal(2, changes);
    }
}
