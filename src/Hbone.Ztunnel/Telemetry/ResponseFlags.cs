using System.Security.Authentication;

namespace Hbone.Ztunnel.Telemetry;

/// <summary>The values of the <c>response_flags</c> label: why a connection failed, as ztunnel writes it.</summary>
/// <remarks>Any value but <see cref="None"/> also counts the connection in <c>istio_tcp_connections_failed_total</c>.</remarks>
public static class ResponseFlags
{
    /// <summary>No failure.</summary>
    public const string None = "-";

    /// <summary>An authorization policy denied the connection, when it opened or at a later re-check.</summary>
    public const string Deny = "DENY";

    /// <summary>The connection to the destination (or its proxy) could not be made, or the proxy closed it (drain).</summary>
    public const string Connect = "CONNECT";

    /// <summary>The TLS handshake with the destination's proxy failed (including a certificate that is not the expected identity).</summary>
    public const string TlsFailure = "TLS_FAILURE";

    /// <summary>The HTTP/2 connection to the destination's proxy could not be set up.</summary>
    public const string Http2HandshakeFailure = "H2_HANDSHAKE_FAILURE";

    /// <summary>The source workload's certificate could not be had.</summary>
    public const string IdentityError = "IDENTITY_ERROR";

    /// <summary>The flag of a failed HBONE connect on the source side, told apart as far as the exception says.</summary>
    internal static string ForOutbound(Exception failure) => failure switch
    {
        Hbone.Istio.IstioException => IdentityError,
        HboneException { Reason: HboneErrorReason.InvalidSvid } => TlsFailure,
        HboneException { Reason: HboneErrorReason.ConnectionFailed, InnerException: AuthenticationException or IOException } => TlsFailure,
        // Transport failures carry their cause (socket, timeout); one without is the HTTP/2 layer refusing (no ALPN h2, no SETTINGS, no streams).
        HboneException { Reason: HboneErrorReason.ConnectionFailed, InnerException: null } => Http2HandshakeFailure,
        _ => Connect,
    };
}
