using System.Net;
using System.Net.Security;
using System.Runtime.CompilerServices;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Hbone.Identity;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.Logging;

namespace Hbone.Kestrel.Tls;

/// <summary>Builds the TLS options of each accepted connection: the local pod's SVID, a required and validated peer SVID.</summary>
internal sealed partial class HboneTlsHandshake
{
    private static readonly List<SslApplicationProtocol> s_h2Only = [SslApplicationProtocol.Http2];

    private readonly HboneServerOptions _options;
    private readonly SvidValidator _validator;
    private readonly ILogger _logger;
    private readonly CipherSuitesPolicy? _cipherSuites;

    // One certificate context per SVID instance: built once, reused by every handshake that presents it.
    private readonly ConditionalWeakTable<Svid, SslStreamCertificateContext> _contexts = new();

    public HboneTlsHandshake(HboneServerOptions options, ILogger logger)
    {
        _options = options;
        _logger = logger;
        var bundles = options.ResolveTrustBundle();
        _validator = new SvidValidator(bundles.GetTrustBundle, options.TimeProvider);
        _cipherSuites = HboneTls.CreateCipherSuitesPolicy(options.SslProtocols);
    }

    public ValueTask<SslServerAuthenticationOptions> OnConnectionAsync(TlsHandshakeCallbackContext context)
    {
        var local = context.Connection.LocalEndPoint as IPEndPoint;
        var svid = _options.CertificateSelector?.Invoke(local) ?? _options.Certificate?.GetSvid();
        if (svid is null)
        {
            Log.NoCertificate(_logger, local);
            throw new HboneException(HboneErrorReason.CertificateLoad, $"No HBONE certificate is configured for local address {local}.");
        }

        var feature = new HbonePeerIdentityFeature { LocalIdentity = svid.Id };
        context.Connection.Features.Set<IHbonePeerIdentityFeature>(feature);
        var remote = context.Connection.RemoteEndPoint;

        return ValueTask.FromResult(new SslServerAuthenticationOptions
        {
            ServerCertificateContext = _contexts.GetValue(svid, static s => SslStreamCertificateContext.Create(s.Certificate, s.Intermediates, offline: true)),
            ClientCertificateRequired = true,
            EnabledSslProtocols = _options.SslProtocols,
            ApplicationProtocols = s_h2Only,
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            AllowRenegotiation = false,
            AllowTlsResume = false,
            CipherSuitesPolicy = _cipherSuites,
            RemoteCertificateValidationCallback = (_, certificate, chain, _) => ValidatePeer(feature, certificate, chain, remote),
        });
    }

    private bool ValidatePeer(HbonePeerIdentityFeature feature, X509Certificate? certificate, X509Chain? chain, EndPoint? remote)
    {
        if (certificate is not X509Certificate2 leaf)
        {
            Log.PeerRejected(_logger, remote, "no client certificate");
            return false;
        }

        // The peer's intermediates arrive in the chain's extra store; our own chain build decides trust.
        var intermediates = chain?.ChainPolicy.ExtraStore;
        if (_validator.TryValidate(leaf, intermediates, SvidRole.Client, out var id, out var error))
        {
            feature.PeerIdentity = id;
            feature.PeerCertificate = leaf;
            return true;
        }

        Log.PeerRejected(_logger, remote, error.ToString());
        return false;
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "HBONE TLS handshake from {Remote} rejected: {Reason}.", EventName = "PeerRejected")]
        public static partial void PeerRejected(ILogger logger, EndPoint? remote, string reason);

        [LoggerMessage(2, LogLevel.Error, "No HBONE certificate for local address {Local}; the connection is refused.", EventName = "NoCertificate")]
        public static partial void NoCertificate(ILogger logger, IPEndPoint? local);
    }
}
