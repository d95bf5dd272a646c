namespace Hbone.Kestrel;

/// <summary>How a tunnel ended.</summary>
public enum TunnelOutcome
{
    /// <summary>Both directions finished with a half-close (FIN / END_STREAM).</summary>
    Completed,
    /// <summary>The CONNECT was answered with something other than 200; no tunnel was opened.</summary>
    Refused,
    /// <summary>The upstream reset the TCP connection; the peer got RST_STREAM CONNECT_ERROR.</summary>
    UpstreamReset,
    /// <summary>The peer reset the stream or the connection; the upstream got a TCP RST.</summary>
    PeerReset,
    /// <summary>The server stopped the tunnel (shutdown deadline, cancellation).</summary>
    Aborted,
}
