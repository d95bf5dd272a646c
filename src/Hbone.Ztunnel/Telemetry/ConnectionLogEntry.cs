using System.Net;

namespace Hbone.Ztunnel.Telemetry;

/// <summary>What one proxied connection did: the content of one access-log line, written when it completes.</summary>
public sealed record ConnectionLogEntry
{
    /// <summary>The <see cref="Direction"/> of a connection accepted from a peer proxy or client.</summary>
    public const string Inbound = "inbound";

    /// <summary>The <see cref="Direction"/> of a connection captured from a local workload.</summary>
    public const string Outbound = "outbound";

    /// <summary><see cref="Inbound"/> or <see cref="Outbound"/>.</summary>
    public required string Direction { get; init; }

    /// <summary>The client's address.</summary>
    public IPEndPoint? Source { get; init; }

    /// <summary>The address connected to (for outbound HBONE, the peer's :15008).</summary>
    public IPEndPoint? Destination { get; init; }

    /// <summary>The client's workload name.</summary>
    public string? SourceWorkload { get; init; }

    /// <summary>The client's namespace.</summary>
    public string? SourceNamespace { get; init; }

    /// <summary>The client's SPIFFE identity.</summary>
    public string? SourceIdentity { get; init; }

    /// <summary>The server's workload name.</summary>
    public string? DestinationWorkload { get; init; }

    /// <summary>The server's namespace.</summary>
    public string? DestinationNamespace { get; init; }

    /// <summary>The server's SPIFFE identity.</summary>
    public string? DestinationIdentity { get; init; }

    /// <summary>The service host name the client asked for.</summary>
    public string? DestinationService { get; init; }

    /// <summary>Payload bytes sent towards the destination.</summary>
    public long BytesSent { get; init; }

    /// <summary>Payload bytes received from the destination.</summary>
    public long BytesReceived { get; init; }

    /// <summary>From accept (or capture) to close.</summary>
    public TimeSpan Duration { get; init; }

    /// <summary>A short reason when the connection failed.</summary>
    public string? Error { get; init; }

    /// <summary>The CONNECT status (200, 401, 503, …) when there was one.</summary>
    public int? Status { get; init; }

    /// <summary><c>"HBONE"</c> or <c>"TCP"</c>.</summary>
    public string Protocol { get; init; } = "HBONE";
}
