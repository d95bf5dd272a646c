using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Hbone.Identity;

namespace Hbone.Tests.Identity;

public class DevelopmentCertificateAuthoritySigningTests
{
    [Fact]
    public void SignRequest_keeps_the_requesters_key_and_issues_the_identity_the_CA_decides()
    {
        using DevelopmentCertificateAuthority ca = new();
        using ECDsa key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var csr = new CertificateRequest(new X500DistinguishedName(""), key, HashAlgorithmName.SHA256);
        var echo = SpiffeId.ForIstio("cluster.local", "default", "echo");

        using X509Certificate2 leaf = ca.SignRequest(csr.CreateSigningRequestPem(), echo, TimeSpan.FromHours(1));
        using Svid svid = new(leaf.CopyWithPrivateKey(key));

        Assert.Equal(echo, svid.Id);
        Assert.Equal(echo, new SvidValidator(ca.TrustBundle).Validate(svid.Certificate, null, SvidRole.Server));
        Assert.Equal(key.ExportSubjectPublicKeyInfo(), leaf.PublicKey.ExportSubjectPublicKeyInfo());
    }

    [Fact]
    public void SignRequest_refuses_a_request_that_is_not_a_signed_CSR()
    {
        using DevelopmentCertificateAuthority ca = new();
        var ex = Assert.Throws<CertificateLoadException>(() => ca.SignRequest("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----", SpiffeId.ForIstio("cluster.local", "default", "echo")));
        Assert.Equal(CertificateLoadError.MalformedPem, ex.Error);
    }

    [Fact]
    public void A_short_lived_leaf_is_backdated_by_at_most_a_quarter_of_its_lifetime()
    {
        using DevelopmentCertificateAuthority ca = new();
        using Svid svid = ca.IssueIstio("default", "echo", TimeSpan.FromSeconds(4));
        Assert.InRange(svid.NotAfter - svid.NotBefore, TimeSpan.FromSeconds(4), TimeSpan.FromSeconds(6));
    }

    [Fact]
    public void IssueServerCertificate_carries_names_addresses_and_serverAuth()
    {
        using DevelopmentCertificateAuthority ca = new();
        using X509Certificate2 cert = ca.IssueServerCertificate(["istiod.istio-system.svc"], [IPAddress.Loopback]);

        Assert.True(cert.HasPrivateKey);
        Assert.True(cert.MatchesHostname("istiod.istio-system.svc"));
        Assert.True(cert.MatchesHostname("127.0.0.1"));
        Assert.False(cert.MatchesHostname("other.example"));
        X509EnhancedKeyUsageExtension eku = Assert.Single(cert.Extensions.OfType<X509EnhancedKeyUsageExtension>());
        Assert.Equal(["1.3.6.1.5.5.7.3.1"], eku.EnhancedKeyUsages.Cast<Oid>().Select(o => o.Value));
        using X509Chain chain = new();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(ca.RootCertificate);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        Assert.True(chain.Build(cert));
        Assert.Throws<ArgumentException>(() => ca.IssueServerCertificate([]));
    }
}
