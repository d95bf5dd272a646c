using System.Security.Cryptography.X509Certificates;
using Hbone.Identity;

namespace Hbone.Tests.Identity;

public class DevelopmentCertificateAuthorityTests
{
    [Fact]
    public void Issued_istio_svid_validates_for_both_peer_roles()
    {
        using DevelopmentCertificateAuthority ca = new();
        using Svid svid = ca.IssueIstio("default", "echo");
        SvidValidator validator = new(ca.TrustBundle);

        Assert.Equal("spiffe://cluster.local/ns/default/sa/echo", svid.Id.ToString());
        Assert.True(svid.Certificate.HasPrivateKey);
        Assert.Empty(svid.Intermediates);
        Assert.Equal(svid.Id, validator.Validate(svid.Certificate, null, SvidRole.Client));
        Assert.Equal(svid.Id, validator.Validate(svid.Certificate, null, SvidRole.Server));
    }

    [Fact]
    public void Issued_leaf_has_the_svid_extensions()
    {
        using DevelopmentCertificateAuthority ca = new("example.org");
        using Svid svid = ca.Issue(SpiffeId.Parse("spiffe://example.org/workload"), TimeSpan.FromHours(1));
        X509Certificate2 leaf = svid.Certificate;

        X509BasicConstraintsExtension bc = Assert.Single(leaf.Extensions.OfType<X509BasicConstraintsExtension>());
        Assert.False(bc.CertificateAuthority);
        X509KeyUsageExtension ku = Assert.Single(leaf.Extensions.OfType<X509KeyUsageExtension>());
        Assert.True(ku.Critical);
        Assert.True(ku.KeyUsages.HasFlag(X509KeyUsageFlags.DigitalSignature));
        Assert.False(ku.KeyUsages.HasFlag(X509KeyUsageFlags.KeyCertSign));
        X509EnhancedKeyUsageExtension eku = Assert.Single(leaf.Extensions.OfType<X509EnhancedKeyUsageExtension>());
        Assert.Equal(["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"], eku.EnhancedKeyUsages.Cast<System.Security.Cryptography.Oid>().Select(o => o.Value));
        Assert.Equal(leaf.Issuer, ca.RootCertificate.Subject);
        Assert.InRange(svid.NotAfter - svid.NotBefore, TimeSpan.FromMinutes(64), TimeSpan.FromMinutes(66));
    }

    [Theory]
    [InlineData("spiffe://my_td.example/..x/A-b_c.9")]
    [InlineData("spiffe://cluster.local/ns/default/sa/echo")]
    public void Issued_svid_carries_the_id_verbatim(string value)
    {
        SpiffeId id = SpiffeId.Parse(value);
        using DevelopmentCertificateAuthority ca = new(id.TrustDomain);
        using Svid svid = ca.Issue(id);

        Assert.Equal(id, svid.Id);
        Assert.Equal(id, new SvidValidator(ca.TrustBundle).Validate(svid.Certificate, null, SvidRole.Server));
    }

    [Fact]
    public void Issue_refuses_ids_of_another_trust_domain()
    {
        using DevelopmentCertificateAuthority ca = new();
        Assert.Throws<ArgumentException>(() => ca.Issue(SpiffeId.Parse("spiffe://other.example/ns/a/sa/b")));
        Assert.Throws<ArgumentException>(() => ca.Issue(SpiffeId.Parse("spiffe://cluster.local")));
    }

    [Fact]
    public void Ca_written_as_pem_issues_svids_the_original_bundle_trusts()
    {
        using DevelopmentCertificateAuthority original = new("example.org");
        using DevelopmentCertificateAuthority reloaded = DevelopmentCertificateAuthority.FromPem(original.ExportRootPem(), original.ExportRootKeyPem());
        using Svid svid = reloaded.IssueIstio("ns1", "sa1");

        Assert.Equal("example.org", reloaded.TrustDomain);
        Assert.Equal(original.RootCertificate.RawData, reloaded.RootCertificate.RawData);
        Assert.Equal(svid.Id, new SvidValidator(original.TrustBundle).Validate(svid.Certificate, null, SvidRole.Client));
    }

    [Fact]
    public void Issued_svid_uses_the_time_provider_and_defaults_to_24_hours()
    {
        DateTimeOffset now = new(2030, 1, 2, 3, 4, 5, TimeSpan.Zero);
        using DevelopmentCertificateAuthority ca = new("cluster.local", new FixedTimeProvider(now));
        using Svid svid = ca.IssueIstio("default", "echo");

        Assert.Equal(now.AddHours(24), svid.NotAfter);
        Assert.True(svid.NotBefore <= now);
    }

    private sealed class FixedTimeProvider(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }
}
