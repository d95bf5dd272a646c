namespace Hbone;

/// <summary>How a tunnel ended.</summary>
public enum TunnelOutcome
{
    /// <summary>Both directions finished with a half-close (FIN / END_STREAM).</summary>
    Completed,
    /// <summary>The CONNECT was answered with something other than 200 (or failed to open); no tunnel carried data.</summary>
    Refused,
    /// <summary>The TCP side (upstream or accepted socket) was reset; the stream got RST_STREAM CONNECT_ERROR.</summary>
    UpstreamReset,
    /// <summary>The HBONE peer reset the stream or the connection; the TCP side got a TCP RST.</summary>
    PeerReset,
    /// <summary>The server stopped the tunnel (shutdown deadline, cancellation).</summary>
    Aborted,
}
