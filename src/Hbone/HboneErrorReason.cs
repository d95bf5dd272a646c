namespace Hbone;

/// <summary>Why an HBONE operation failed. Each reason maps to one CONNECT status or one HTTP/2 error code.</summary>
public enum HboneErrorReason
{
    /// <summary>The request was not a CONNECT (answered 400, as ztunnel does).</summary>
    MethodNotConnect,
    /// <summary><c>:authority</c> missing or not <c>ip:port</c> / <c>host:port</c> (400).</summary>
    InvalidAuthority,
    /// <summary>The authority IP is not the address the connection arrived on (400 "ip mismatch").</summary>
    AuthorityIpMismatch,
    /// <summary>The peer identity is not allowed by policy (401; HBONE never answers 403).</summary>
    Unauthorized,
    /// <summary>No workload served here matches the destination (503).</summary>
    DestinationNotFound,
    /// <summary>The target port is one of the proxy's own ports (503, refused before any connect).</summary>
    ProxyPortTarget,
    /// <summary>The upstream TCP connect failed or was refused (503).</summary>
    UpstreamConnectFailed,
    /// <summary>The upstream TCP connect did not complete within the connect timeout (503).</summary>
    UpstreamConnectTimeout,
    /// <summary>The upstream reset the connection mid-tunnel (RST_STREAM CONNECT_ERROR).</summary>
    UpstreamReset,
    /// <summary>The peer reset the stream (the upstream gets a TCP RST).</summary>
    PeerReset,
    /// <summary>A SPIFFE ID did not follow the SPIFFE ID specification.</summary>
    InvalidSpiffeId,
    /// <summary>A certificate is not a valid X.509-SVID for this trust bundle.</summary>
    InvalidSvid,
    /// <summary>A certificate, key or bundle could not be loaded.</summary>
    CertificateLoad,
    /// <summary>A header (<c>Forwarded</c>, <c>baggage</c>, <c>traceparent</c>) could not be parsed.</summary>
    InvalidHeader,
    /// <summary>The peer answered the CONNECT with a status other than 200.</summary>
    ConnectRefused,
    /// <summary>The HTTP/2 connection failed (GOAWAY with an error, protocol violation, or lost peer).</summary>
    ConnectionFailed,
}
