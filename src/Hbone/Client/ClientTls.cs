using System.Net.Security;
using System.Runtime.CompilerServices;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Hbone.Identity;

namespace Hbone.Client;

/// <summary>TLS client options of a dial: our SVID, and the server's SVID checked against the expected identities.</summary>
internal sealed class ClientTls
{
    private static readonly List<SslApplicationProtocol> s_h2Only = [SslApplicationProtocol.Http2];

    private readonly HboneClientOptions _options;
    private readonly SvidValidator _validator;
    private readonly CipherSuitesPolicy? _cipherSuites;
    private readonly ConditionalWeakTable<Svid, SslStreamCertificateContext> _contexts = new();

    public ClientTls(HboneClientOptions options)
    {
        _options = options;
        _validator = new SvidValidator(options.ResolveTrustBundle().GetTrustBundle, options.TimeProvider);
        _cipherSuites = OperatingSystem.IsLinux() ? CreateCipherSuites(options.SslProtocols) : null;
    }

    public SslClientAuthenticationOptions Create(Svid certificate, IReadOnlyCollection<SpiffeId> expected) => new()
    {
        // SVIDs carry no DNS name: no SNI, and the server is checked by its SPIFFE ID below.
        TargetHost = string.Empty,
        ClientCertificateContext = _contexts.GetValue(certificate, static s => SslStreamCertificateContext.Create(s.Certificate, s.Intermediates, offline: true)),
        EnabledSslProtocols = _options.SslProtocols,
        ApplicationProtocols = s_h2Only,
        CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
        AllowRenegotiation = false,
        AllowTlsResume = false,
        CipherSuitesPolicy = _cipherSuites,
        RemoteCertificateValidationCallback = (_, server, chain, _) => IsExpectedServer(server, chain, expected),
    };

    private bool IsExpectedServer(X509Certificate? server, X509Chain? chain, IReadOnlyCollection<SpiffeId> expected)
    {
        if (server is not X509Certificate2 leaf || !_validator.TryValidate(leaf, chain?.ChainPolicy.ExtraStore, SvidRole.Server, out var id, out _))
        {
            return false;
        }

        if (expected.Count == 0)
        {
            return true;
        }

        foreach (var candidate in expected)
        {
            if (candidate.Equals(id))
            {
                return true;
            }
        }

        return false;
    }

    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    private static CipherSuitesPolicy CreateCipherSuites(SslProtocols protocols)
    {
        var suites = new List<TlsCipherSuite> { TlsCipherSuite.TLS_AES_256_GCM_SHA384, TlsCipherSuite.TLS_AES_128_GCM_SHA256 };
        if ((protocols & SslProtocols.Tls12) != 0)
        {
            suites.Add(TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384);
            suites.Add(TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256);
        }

        return new CipherSuitesPolicy(suites);
    }
}
