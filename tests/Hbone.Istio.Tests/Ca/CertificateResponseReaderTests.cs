using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Hbone.Identity;
using Hbone.Istio.Ca;

namespace Hbone.Istio.Tests.Ca;

public sealed class CertificateResponseReaderTests : IDisposable
{
    private static readonly SpiffeId Pod = SpiffeId.ForIstio("cluster.local", "default", "reviews");

    private readonly DateTimeOffset _now = DateTimeOffset.UtcNow;
    private readonly ECDsa _leafKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    private readonly X509Certificate2 _root;
    private readonly X509Certificate2 _intermediate;
    private readonly X509Certificate2 _otherRoot;

    public CertificateResponseReaderTests()
    {
        _root = CreateCa("Root", issuer: null);
        _intermediate = CreateCa("Intermediate", _root);
        _otherRoot = CreateCa("Other Root", issuer: null);
    }

    public void Dispose()
    {
        _leafKey.Dispose();
        _root.Dispose();
        _intermediate.Dispose();
        _otherRoot.Dispose();
    }

    [Fact]
    public void CA_17_a_leaf_chains_to_the_last_element_through_the_middle_ones_and_several_roots_are_kept()
    {
        using X509Certificate2 leaf = CreateLeaf(_intermediate);

        IssuedCertificate issued = CertificateResponseReader.Read(
            [Pem(leaf), Pem(_intermediate), Pem(_otherRoot) + Pem(_root)], _leafKey, Pod, _now);

        Assert.Equal(Pod, issued.Svid.Id);
        Assert.Equal(_intermediate.Thumbprint, Assert.Single(issued.Svid.Intermediates).Thumbprint);
        Assert.Equal([_otherRoot.Thumbprint, _root.Thumbprint], issued.Roots.Roots.Select(r => r.Thumbprint));
    }

    [Fact]
    public void CA_18_a_leaf_whose_intermediate_is_missing_is_untrusted()
    {
        using X509Certificate2 leaf = CreateLeaf(_intermediate);

        IstioException ex = Assert.Throws<IstioException>(() => CertificateResponseReader.Read([Pem(leaf), Pem(_root)], _leafKey, Pod, _now));
        Assert.Equal(IstioErrorReason.UntrustedCertificateChain, ex.Reason);
    }

    [Fact]
    public void CA_19_a_leaf_without_the_key_of_the_request_or_without_a_root_is_an_invalid_response()
    {
        using X509Certificate2 leaf = CreateLeaf(_root);
        using ECDsa otherKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);

        Assert.Equal(IstioErrorReason.InvalidCertificateResponse, Assert.Throws<IstioException>(() => CertificateResponseReader.Read([Pem(leaf), Pem(_root)], otherKey, Pod, _now)).Reason);
        Assert.Equal(IstioErrorReason.InvalidCertificateResponse, Assert.Throws<IstioException>(() => CertificateResponseReader.Read([Pem(leaf)], _leafKey, Pod, _now)).Reason);
    }

    private static string Pem(X509Certificate2 certificate) => certificate.ExportCertificatePem() + "\n";

    private X509Certificate2 CreateCa(string name, X509Certificate2? issuer)
    {
        using ECDsa key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        CertificateRequest request = new($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        if (issuer is null)
        {
            return request.CreateSelfSigned(_now.AddDays(-1), _now.AddDays(30));
        }

        using X509Certificate2 publicOnly = request.Create(issuer, _now.AddDays(-1), _now.AddDays(20), RandomNumberGenerator.GetBytes(8));
        return publicOnly.CopyWithPrivateKey(key);
    }

    private X509Certificate2 CreateLeaf(X509Certificate2 issuer)
    {
        CertificateRequest request = new(new X500DistinguishedName(""), _leafKey, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        AsnWriter san = new(AsnEncodingRules.DER);
        using (san.PushSequence())
        {
            san.WriteCharacterString(UniversalTagNumber.IA5String, Pod.ToString(), new Asn1Tag(TagClass.ContextSpecific, 6));
        }

        request.CertificateExtensions.Add(new X509Extension("2.5.29.17", san.Encode(), critical: true));
        return request.Create(issuer, _now.AddHours(-1), _now.AddHours(1), RandomNumberGenerator.GetBytes(8));
    }
}
