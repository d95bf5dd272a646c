using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Hbone.Identity;

/// <summary>An in-process ECDSA P-256 certificate authority that issues workload SVIDs for tests, demos and local meshes.</summary>
/// <remarks>Issued leaves follow the X.509-SVID spec as Istio issues them: empty subject, one critical URI SAN, signed directly by the root.</remarks>
public sealed class DevelopmentCertificateAuthority : IDisposable
{
    private static readonly TimeSpan DefaultLifetime = TimeSpan.FromHours(24);
    private static readonly TimeSpan RootLifetime = TimeSpan.FromDays(3650);

    // Backdating covers small clock skew between the issuing process and its peers; a short-lived leaf is backdated by
    // at most a quarter of its lifetime, so that renewing at half its validity still means renewing in the future.
    private static readonly TimeSpan Backdate = TimeSpan.FromMinutes(5);

    private readonly X509Certificate2 _rootWithKey;
    private readonly TimeProvider _timeProvider;
    private readonly Lock _signLock = new();

    /// <summary>Creates a new root for <paramref name="trustDomain"/>, valid ten years from now.</summary>
    /// <exception cref="SpiffeIdException"><paramref name="trustDomain"/> is not a valid trust domain name.</exception>
    public DevelopmentCertificateAuthority(string trustDomain = "cluster.local", TimeProvider? timeProvider = null)
        : this(trustDomain, timeProvider, CreateRoot(trustDomain, (timeProvider ?? TimeProvider.System).GetUtcNow()))
    {
    }

    private DevelopmentCertificateAuthority(string trustDomain, TimeProvider? timeProvider, X509Certificate2 rootWithKey)
    {
        _timeProvider = timeProvider ?? TimeProvider.System;
        _rootWithKey = rootWithKey;
        TrustDomain = trustDomain;
        RootCertificate = X509CertificateLoader.LoadCertificate(rootWithKey.RawData);
        TrustBundle = new TrustBundle(trustDomain, [RootCertificate]);
    }

    /// <summary>The trust domain of every SVID this CA issues.</summary>
    public string TrustDomain { get; }

    /// <summary>The root certificate, without its private key.</summary>
    public X509Certificate2 RootCertificate { get; }

    /// <summary>A bundle holding just this CA's root.</summary>
    public TrustBundle TrustBundle { get; }

    /// <summary>Issues an SVID for <paramref name="id"/> valid for <paramref name="lifetime"/> (default 24 hours, capped at the root's expiry).</summary>
    /// <exception cref="ArgumentException"><paramref name="id"/> is in another trust domain or names only the trust domain.</exception>
    public Svid Issue(SpiffeId id, TimeSpan? lifetime = null)
    {
        using ECDsa key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        X509Certificate2 publicOnly = CreateLeaf(new CertificateRequest(new X500DistinguishedName(""), key, HashAlgorithmName.SHA256), id, lifetime);
        using (publicOnly)
        {
            return new Svid(publicOnly.CopyWithPrivateKey(key));
        }
    }

    /// <summary>
    /// Signs a PKCS#10 request (PEM) as Istio's CA does: the request's signature is checked, its public key is kept, and
    /// the certificate carries <paramref name="id"/> (the identity the caller is allowed, whatever the request asked for).
    /// </summary>
    /// <returns>The leaf certificate, without a private key (the requester holds it).</returns>
    /// <exception cref="CertificateLoadException">The request is not a PEM CSR or its signature does not verify.</exception>
    /// <exception cref="ArgumentException"><paramref name="id"/> is not a workload ID of this trust domain.</exception>
    public X509Certificate2 SignRequest(string csrPem, SpiffeId id, TimeSpan? lifetime = null)
    {
        ArgumentNullException.ThrowIfNull(csrPem);
        CertificateRequest csr;
        try
        {
            csr = CertificateRequest.LoadSigningRequestPem(csrPem, HashAlgorithmName.SHA256, CertificateRequestLoadOptions.Default);
        }
        catch (CryptographicException ex)
        {
            throw new CertificateLoadException(CertificateLoadError.MalformedPem, null, $"not a valid certificate signing request: {ex.Message}", ex);
        }

        return CreateLeaf(new CertificateRequest(new X500DistinguishedName(""), csr.PublicKey, HashAlgorithmName.SHA256), id, lifetime);
    }

    /// <summary>Issues a TLS server certificate (serverAuth, DNS and IP SANs) for a control plane or test server, with its new ECDSA P-256 key.</summary>
    /// <exception cref="ArgumentException">No name or address was given.</exception>
    public X509Certificate2 IssueServerCertificate(IEnumerable<string> dnsNames, IEnumerable<System.Net.IPAddress>? addresses = null, TimeSpan? lifetime = null)
    {
        ArgumentNullException.ThrowIfNull(dnsNames);
        SubjectAlternativeNameBuilder san = new();
        string? first = null;
        foreach (string name in dnsNames)
        {
            san.AddDnsName(name);
            first ??= name;
        }

        foreach (System.Net.IPAddress address in addresses ?? [])
        {
            san.AddIpAddress(address);
            first ??= address.ToString();
        }

        if (first is null)
        {
            throw new ArgumentException("A server certificate needs at least one DNS name or IP address.", nameof(dnsNames));
        }

        using ECDsa key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        CertificateRequest request = new(new X500DistinguishedName($"CN={first}"), key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(_rootWithKey, true, false));
        DateTimeOffset now = _timeProvider.GetUtcNow();
        X509Certificate2 publicOnly;
        lock (_signLock)
        {
            publicOnly = request.Create(_rootWithKey, now - Backdate, ClampToRoot(now + (lifetime ?? DefaultLifetime)), CreateSerialNumber());
        }

        using (publicOnly)
        {
            return publicOnly.CopyWithPrivateKey(key);
        }
    }

    /// <summary>Issues the Istio SVID <c>spiffe://&lt;td&gt;/ns/&lt;ns&gt;/sa/&lt;serviceAccount&gt;</c>.</summary>
    public Svid IssueIstio(string ns, string serviceAccount, TimeSpan? lifetime = null) =>
        Issue(SpiffeId.ForIstio(TrustDomain, ns, serviceAccount), lifetime);

    /// <summary>The root certificate as PEM.</summary>
    public string ExportRootPem() => RootCertificate.ExportCertificatePem() + "\n";

    /// <summary>The root's private key as PKCS#8 PEM, so the CA can be written to disk and reused with <see cref="FromPem"/>.</summary>
    public string ExportRootKeyPem()
    {
        using ECDsa key = _rootWithKey.GetECDsaPrivateKey()!;
        return key.ExportPkcs8PrivateKeyPem() + "\n";
    }

    /// <summary>Reuses a CA from its root certificate and key; the trust domain comes from the root's URI SAN unless given.</summary>
    /// <exception cref="CertificateLoadException">The PEM is malformed or the key does not match.</exception>
    /// <exception cref="ArgumentException">No trust domain was given and the root has no <c>spiffe://td</c> URI SAN.</exception>
    public static DevelopmentCertificateAuthority FromPem(string rootCertificatePem, string rootKeyPem, string? trustDomain = null, TimeProvider? timeProvider = null)
    {
        List<X509Certificate2> certificates = PemReader.ReadCertificates(rootCertificatePem, null, "root certificate");
        X509Certificate2 root = certificates[0];
        try
        {
            trustDomain ??= ReadRootTrustDomain(root)
                ?? throw new ArgumentException("The root certificate has no spiffe:// URI SAN; pass the trust domain.", nameof(trustDomain));
            X509Certificate2 rootWithKey = PemReader.AttachPrivateKey(root, rootKeyPem, null, "root key");
            return new DevelopmentCertificateAuthority(trustDomain, timeProvider, rootWithKey);
        }
        finally
        {
            foreach (X509Certificate2 certificate in certificates)
            {
                certificate.Dispose();
            }
        }
    }

    /// <summary>Disposes the root and its key.</summary>
    public void Dispose()
    {
        _rootWithKey.Dispose();
        RootCertificate.Dispose();
    }

    // The X.509-SVID profile Istio issues: empty subject, one critical URI SAN, signed directly by the root.
    private X509Certificate2 CreateLeaf(CertificateRequest request, SpiffeId id, TimeSpan? lifetime)
    {
        ArgumentNullException.ThrowIfNull(id);
        if (!id.IsMemberOf(TrustDomain) || id.IsTrustDomainOnly)
        {
            throw new ArgumentException($"'{id}' is not a workload ID of trust domain '{TrustDomain}'.", nameof(id));
        }

        TimeSpan validFor = lifetime ?? DefaultLifetime;
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(validFor, TimeSpan.Zero, nameof(lifetime));
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyAgreement, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")], false));

        // RFC 5280: with an empty subject the SAN extension must be critical.
        request.CertificateExtensions.Add(CreateUriSan(id.ToString(), critical: true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(_rootWithKey, true, false));
        DateTimeOffset now = _timeProvider.GetUtcNow();
        lock (_signLock)
        {
            TimeSpan backdate = validFor / 4 < Backdate ? validFor / 4 : Backdate;
            return request.Create(_rootWithKey, now - backdate, ClampToRoot(now + validFor), CreateSerialNumber());
        }
    }

    private DateTimeOffset ClampToRoot(DateTimeOffset notAfter)
    {
        DateTimeOffset rootNotAfter = new(_rootWithKey.NotAfter.ToUniversalTime(), TimeSpan.Zero);
        return notAfter > rootNotAfter ? rootNotAfter : notAfter;
    }

    private static string? ReadRootTrustDomain(X509Certificate2 root) =>
        SvidExtensionReader.ReadSingleUri(root, out string? uri) == SvidValidationError.None
            && SpiffeId.TryParse(uri, out SpiffeId? id, out _) ? id.TrustDomain : null;

    private static X509Certificate2 CreateRoot(string trustDomain, DateTimeOffset now)
    {
        SpiffeIdError error = SpiffeIdParser.ValidateTrustDomain(trustDomain);
        if (error != SpiffeIdError.None)
        {
            throw SpiffeIdParser.CreateException(error, trustDomain);
        }

        using ECDsa key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        CertificateRequest request = new($"O={trustDomain}, CN=Hbone Development Root CA", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));

        // The root carries the trust-domain ID so FromPem can recover the trust domain.
        request.CertificateExtensions.Add(CreateUriSan($"spiffe://{trustDomain}", critical: false));
        return request.CreateSelfSigned(now - Backdate, now + RootLifetime);
    }

    private static X509Extension CreateUriSan(string uri, bool critical)
    {
        // Written verbatim: SubjectAlternativeNameBuilder passes the ID through System.Uri, which may rewrite it.
        AsnWriter writer = new(AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            writer.WriteCharacterString(UniversalTagNumber.IA5String, uri, new Asn1Tag(TagClass.ContextSpecific, 6));
        }

        return new X509Extension("2.5.29.17", writer.Encode(), critical);
    }

    private static byte[] CreateSerialNumber()
    {
        byte[] serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7F; // positive INTEGER, as RFC 5280 requires
        return serial;
    }
}
