using System.Net;
using Hbone.Identity;

namespace Hbone.Kestrel;

/// <summary>What one CONNECT did, reported when it completes: the content of one access-log line.</summary>
/// <param name="PeerIdentity">The client's SPIFFE identity from its certificate.</param>
/// <param name="Authority">The <c>:authority</c>: as sent when it was refused unparsed (400, may be invalid), else the parsed authority formatted again.</param>
/// <param name="ForwardedFor">The client address from the <c>Forwarded</c> header; telemetry only, never trusted.</param>
/// <param name="RemoteEndPoint">The address of the TCP peer (the client's proxy).</param>
/// <param name="StatusCode">The CONNECT answer: 200, 400, 401 or 503.</param>
/// <param name="BytesFromPeer">Tunnel payload bytes received from the peer (and sent upstream).</param>
/// <param name="BytesToPeer">Tunnel payload bytes sent to the peer.</param>
/// <param name="Duration">From the request's arrival to the end of the tunnel.</param>
/// <param name="Outcome">How it ended.</param>
/// <param name="Error">A short reason when the CONNECT was refused or the tunnel failed.</param>
public sealed record HboneTunnelLog(
    SpiffeId? PeerIdentity,
    string? Authority,
    IPEndPoint? ForwardedFor,
    IPEndPoint? RemoteEndPoint,
    int StatusCode,
    long BytesFromPeer,
    long BytesToPeer,
    TimeSpan Duration,
    TunnelOutcome Outcome,
    string? Error)
{
    /// <summary>One line in ztunnel's key=value style.</summary>
    public override string ToString()
    {
        var error = Error is null ? string.Empty : $" error=\"{QuoteValue(Error)}\"";
        return $"peer={PeerIdentity?.ToString() ?? "-"} authority={Authority ?? "-"} forwarded_for={ForwardedFor?.ToString() ?? "-"} " +
               $"src={RemoteEndPoint?.ToString() ?? "-"} status={StatusCode} bytes_recv={BytesFromPeer} bytes_sent={BytesToPeer} " +
               $"duration_ms={(long)Duration.TotalMilliseconds} outcome={OutcomeName(Outcome)}{error}";
    }

    /// <summary>Escapes a value for a quoted key="value" field: one line, quotes and backslashes escaped.</summary>
    public static string QuoteValue(string value) =>
        value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).ReplaceLineEndings(" ");

    private static string OutcomeName(TunnelOutcome outcome) => outcome switch
    {
        TunnelOutcome.Completed => "completed",
        TunnelOutcome.Refused => "refused",
        TunnelOutcome.UpstreamReset => "upstream_reset",
        TunnelOutcome.PeerReset => "peer_reset",
        TunnelOutcome.Aborted => "aborted",
        _ => "unknown",
    };
}
