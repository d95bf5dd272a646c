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
        _cipherSuites = HboneTls.CreateCipherSuitesPolicy(options.SslProtocols);
    }

    /// <summary>TLS options of one dial; <paramref name="rejection"/> receives why the server's certificate was refused.</summary>
    public SslClientAuthenticationOptions Create(Svid certificate, IReadOnlyCollection<SpiffeId> expected, StrongBox<string?>? rejection = null) => new()
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
        RemoteCertificateValidationCallback = (_, server, chain, _) => IsExpectedServer(server, chain, expected, rejection),
    };

    private bool IsExpectedServer(X509Certificate? server, X509Chain? chain, IReadOnlyCollection<SpiffeId> expected, StrongBox<string?>? rejection)
    {
        if (server is not X509Certificate2 leaf)
        {
            return Reject(rejection, "the server presented no certificate");
        }

        if (!_validator.TryValidate(leaf, chain?.ChainPolicy.ExtraStore, SvidRole.Server, out var id, out var error))
        {
            return Reject(rejection, $"the server's certificate is not a valid SVID ({error})");
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

        return Reject(rejection, $"the server presented {id}, which is not an expected identity ({string.Join(", ", expected)})");
    }

    private static bool Reject(StrongBox<string?>? rejection, string reason)
    {
        rejection?.Value = reason;
        return false;
    }
}
