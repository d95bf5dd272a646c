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
}
