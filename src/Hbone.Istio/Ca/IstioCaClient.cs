using System.Security.Cryptography;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Hbone.Identity;
using Hbone.Istio.ControlPlane;
using Hbone.Istio.Protos.Ca;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Hbone.Istio.Ca;

/// <summary>
/// Asks Istio's CA (<c>istio.v1.auth.IstioCertificateService/CreateCertificate</c>) for workload certificates: a new
/// ECDSA P-256 key per request that never leaves the process, and a checked response. Does not own the channel.
/// </summary>
public sealed partial class IstioCaClient : ICertificateIssuer
{
    /// <summary>The default certificate lifetime asked for, ztunnel's <c>SECRET_TTL</c> default.</summary>
    public static readonly TimeSpan DefaultLifetime = TimeSpan.FromHours(24);

    /// <summary>How long one CreateCertificate call may take.</summary>
    public static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(30);

    private const string ImpersonatedIdentityKey = "ImpersonatedIdentity";

    private readonly ControlPlaneChannel _channel;
    private readonly IstioCertificateService.IstioCertificateServiceClient _client;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger _logger;

    /// <summary>Creates a client on <paramref name="channel"/>.</summary>
    /// <param name="channel">The channel to the CA (istiod's 15012); the caller keeps owning it.</param>
    /// <param name="lifetime">The lifetime to ask for (sent as <c>validity_duration</c>, whole seconds); default <see cref="DefaultLifetime"/>.</param>
    /// <param name="impersonate">True for a node proxy asking for its pods' identities (<c>ImpersonatedIdentity</c> metadata).</param>
    /// <param name="logger">Where to log; none by default.</param>
    /// <param name="timeProvider">The clock the returned chain is checked against; the system clock by default.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="lifetime"/> is shorter than one second.</exception>
    public IstioCaClient(ControlPlaneChannel channel, TimeSpan? lifetime = null, bool impersonate = false, ILogger<IstioCaClient>? logger = null, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(channel);
        Lifetime = lifetime ?? DefaultLifetime;
        ArgumentOutOfRangeException.ThrowIfLessThan(Lifetime, TimeSpan.FromSeconds(1), nameof(lifetime));
        _channel = channel;
        _client = new IstioCertificateService.IstioCertificateServiceClient(channel.Channel);
        Impersonate = impersonate;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _timeProvider = timeProvider ?? TimeProvider.System;
    }

    /// <summary>The lifetime asked for.</summary>
    public TimeSpan Lifetime { get; }

    /// <summary>Whether requests carry <c>ImpersonatedIdentity</c> (a node proxy asking for its pods).</summary>
    public bool Impersonate { get; }

    /// <summary>Creates a key and a CSR for <paramref name="identity"/>, has the CA sign it, and checks the answer.</summary>
    /// <param name="identity">The SPIFFE ID the certificate must carry.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The SVID with its key and the roots the CA returned.</returns>
    /// <exception cref="IstioException">
    /// <see cref="IstioErrorReason.TokenUnavailable"/> (no call was made), <see cref="IstioErrorReason.ControlPlaneUnavailable"/>,
    /// <see cref="IstioErrorReason.InvalidCertificateResponse"/>, <see cref="IstioErrorReason.IdentityMismatch"/> or
    /// <see cref="IstioErrorReason.UntrustedCertificateChain"/>.
    /// </exception>
    public async Task<IssuedCertificate> CreateCertificateAsync(SpiffeId identity, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(identity);
        Metadata headers = _channel.CreateHeaders();
        using ECDsa key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        IstioCertificateRequest request = new()
        {
            Csr = CertificateSigningRequest.CreatePem(key, identity),
            ValidityDuration = (long)Lifetime.TotalSeconds,
        };
        if (Impersonate)
        {
            request.Metadata = new Struct { Fields = { [ImpersonatedIdentityKey] = Value.ForString(identity.ToString()) } };
        }

        IstioCertificateResponse response;
        try
        {
            response = await _client.CreateCertificateAsync(request, new CallOptions(headers, DateTime.UtcNow + CallTimeout, cancellationToken)).ConfigureAwait(false);
        }
        catch (RpcException ex) when (ex.StatusCode == StatusCode.Cancelled && cancellationToken.IsCancellationRequested)
        {
            throw new OperationCanceledException(cancellationToken);
        }
        catch (RpcException ex)
        {
            Log.CallFailed(_logger, identity, ex.StatusCode, ex.Status.Detail);
            throw new IstioException(IstioErrorReason.ControlPlaneUnavailable, $"the CA at {_channel.Options.Address} failed to sign a certificate for {identity}: {ex.StatusCode} ({ex.Status.Detail})", ex);
        }

        IssuedCertificate issued = CertificateResponseReader.Read(response.CertChain, key, identity, _timeProvider.GetUtcNow());
        Log.Issued(_logger, identity, issued.Svid.Certificate.SerialNumber, issued.Svid.NotAfter);
        return issued;
    }

    /// <inheritdoc />
    Task<IssuedCertificate> ICertificateIssuer.IssueAsync(SpiffeId identity, CancellationToken cancellationToken) =>
        CreateCertificateAsync(identity, cancellationToken);

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Debug, "CA issued a certificate for {Identity}: serial {Serial}, valid until {NotAfter:u}")]
        public static partial void Issued(ILogger logger, SpiffeId identity, string serial, DateTimeOffset notAfter);

        [LoggerMessage(2, LogLevel.Warning, "CA call for {Identity} failed: {StatusCode} ({Detail})")]
        public static partial void CallFailed(ILogger logger, SpiffeId identity, StatusCode statusCode, string detail);
    }
}
