using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Hbone.Tests.Identity;

/// <summary>Builds roots, intermediates and deliberately broken leaves for SVID validation tests.</summary>
internal static class TestCertificates
{
    internal const string ServerAuth = "1.3.6.1.5.5.7.3.1";
    internal const string ClientAuth = "1.3.6.1.5.5.7.3.2";
    internal const string WorkloadId = "spiffe://cluster.local/ns/default/sa/echo";

    /// <summary>A self-signed CA with its key, valid around now unless told otherwise.</summary>
    internal static X509Certificate2 CreateRoot(string name = "Test Root", DateTimeOffset? notBefore = null, DateTimeOffset? notAfter = null) =>
        CreateCa(name, issuer: null, notBefore, notAfter);

    /// <summary>An intermediate CA signed by <paramref name="issuer"/>.</summary>
    internal static X509Certificate2 CreateIntermediate(X509Certificate2 issuer, string name = "Test Intermediate", DateTimeOffset? notBefore = null, DateTimeOffset? notAfter = null) =>
        CreateCa(name, issuer, notBefore, notAfter);

    /// <summary>Starts a leaf that is a valid SVID for <see cref="WorkloadId"/> until a method breaks it.</summary>
    internal static LeafBuilder Leaf(X509Certificate2 issuer) => new(issuer);

    private static X509Certificate2 CreateCa(string name, X509Certificate2? issuer, DateTimeOffset? notBefore, DateTimeOffset? notAfter)
    {
        using ECDsa key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        CertificateRequest request = new($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        DateTimeOffset from = notBefore ?? DateTimeOffset.UtcNow.AddDays(-1);
        DateTimeOffset to = notAfter ?? DateTimeOffset.UtcNow.AddDays(30);
        if (notAfter is null && issuer is not null && to > issuer.NotAfter)
        {
            // Both defaults are "now + 30 days", taken a moment apart: certificates keep whole seconds, so the
            // child's could land one second after its issuer's, which CertificateRequest.Create refuses.
            to = issuer.NotAfter;
        }
        if (issuer is null)
        {
            return request.CreateSelfSigned(from, to);
        }

        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(issuer, true, false));
        using X509Certificate2 publicOnly = request.Create(issuer, from, to, RandomNumberGenerator.GetBytes(8));
        return publicOnly.CopyWithPrivateKey(key);
    }

    /// <summary>A leaf certificate with each SVID property switchable.</summary>
    internal sealed class LeafBuilder(X509Certificate2 issuer)
    {
        private string[] _uris = [WorkloadId];
        private bool _isCa;
        private X509KeyUsageFlags? _keyUsage = X509KeyUsageFlags.DigitalSignature;
        private bool _keyUsageCritical = true;
        private string[]? _extendedKeyUsages = [ServerAuth, ClientAuth];
        private DateTimeOffset _notBefore = DateTimeOffset.UtcNow.AddHours(-1);
        private DateTimeOffset _notAfter = DateTimeOffset.UtcNow.AddHours(1);
        private bool _selfSigned;

        /// <summary>Sets the URI SANs (none, one or several).</summary>
        public LeafBuilder WithUris(params string[] uris) { _uris = uris; return this; }

        /// <summary>Marks the leaf as a CA (basicConstraints cA=true).</summary>
        public LeafBuilder AsCa() { _isCa = true; return this; }

        /// <summary>Sets key usage flags and criticality; null omits the extension.</summary>
        public LeafBuilder WithKeyUsage(X509KeyUsageFlags? flags, bool critical = true) { _keyUsage = flags; _keyUsageCritical = critical; return this; }

        /// <summary>Sets the EKU purposes; null omits the extension.</summary>
        public LeafBuilder WithExtendedKeyUsage(params string[]? oids) { _extendedKeyUsages = oids; return this; }

        /// <summary>Sets the validity period.</summary>
        public LeafBuilder ValidBetween(DateTimeOffset notBefore, DateTimeOffset notAfter) { _notBefore = notBefore; _notAfter = notAfter; return this; }

        /// <summary>Signs the leaf with its own key instead of the issuer's.</summary>
        public LeafBuilder SelfSigned() { _selfSigned = true; return this; }

        /// <summary>Creates the certificate with its private key.</summary>
        public X509Certificate2 Build()
        {
            using ECDsa key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            CertificateRequest request = new("CN=test-leaf", key, HashAlgorithmName.SHA256);
            request.CertificateExtensions.Add(new X509BasicConstraintsExtension(_isCa, false, 0, true));
            if (_keyUsage is { } flags)
            {
                request.CertificateExtensions.Add(new X509KeyUsageExtension(flags, _keyUsageCritical));
            }

            if (_extendedKeyUsages is not null)
            {
                OidCollection oids = [];
                foreach (string oid in _extendedKeyUsages)
                {
                    oids.Add(new Oid(oid));
                }

                request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(oids, false));
            }

            if (_uris.Length > 0)
            {
                // Encoded by hand: SubjectAlternativeNameBuilder normalises URIs (it would decode %41 to A).
                AsnWriter writer = new(AsnEncodingRules.DER);
                using (writer.PushSequence())
                {
                    foreach (string uri in _uris)
                    {
                        writer.WriteCharacterString(UniversalTagNumber.IA5String, uri, new Asn1Tag(TagClass.ContextSpecific, 6));
                    }
                }

                request.CertificateExtensions.Add(new X509Extension("2.5.29.17", writer.Encode(), critical: false));
            }

            if (_selfSigned)
            {
                return request.CreateSelfSigned(_notBefore, _notAfter);
            }

            request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(issuer, true, false));

            // The generator overload skips the validity-nesting check, so a valid leaf can sit under an expired intermediate.
            using ECDsa issuerKey = issuer.GetECDsaPrivateKey()!;
            X509SignatureGenerator generator = X509SignatureGenerator.CreateForECDsa(issuerKey);
            using X509Certificate2 publicOnly = request.Create(issuer.SubjectName, generator, _notBefore, _notAfter, RandomNumberGenerator.GetBytes(8));
            return publicOnly.CopyWithPrivateKey(key);
        }
    }
}
