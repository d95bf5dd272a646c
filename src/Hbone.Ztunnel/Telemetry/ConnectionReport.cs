using System.Net;
using Hbone.Identity;
using Hbone.Ztunnel.Proxy;
using Hbone.Ztunnel.State;

namespace Hbone.Ztunnel.Telemetry;

/// <summary>What the proxy knows of one connection when it ends: the source of its access-log line and metrics.</summary>
internal sealed record ConnectionReport
{
    /// <summary>True for the destination side (15006/15008), false for the source side (15001/SOCKS5).</summary>
    public required bool Inbound { get; init; }

    public IPEndPoint? Source { get; init; }

    public IPEndPoint? Destination { get; init; }

    public Workload? SourceWorkload { get; init; }

    public SpiffeId? SourceIdentity { get; init; }

    public Workload? DestinationWorkload { get; init; }

    public SpiffeId? DestinationIdentity { get; init; }

    /// <summary>The destination service's host name.</summary>
    public string? DestinationService { get; init; }

    /// <summary>The destination service's name (metrics only).</summary>
    public string? DestinationServiceName { get; init; }

    /// <summary>The destination service's namespace (metrics only).</summary>
    public string? DestinationServiceNamespace { get; init; }

    /// <summary>True when the connection was carried over mutual TLS (HBONE).</summary>
    public bool MutualTls { get; init; }

    /// <summary>Bytes sent towards the connection's destination.</summary>
    public long BytesSent { get; init; }

    /// <summary>Bytes received back from the destination.</summary>
    public long BytesReceived { get; init; }

    public TimeSpan Duration { get; init; }

    /// <summary>The HBONE CONNECT status, when there was a CONNECT.</summary>
    public int? Status { get; init; }

    public string? Error { get; init; }

    /// <summary>Why the connection failed, as the <c>response_flags</c> label (<see cref="Telemetry.ResponseFlags"/>); <c>"-"</c> when it did not.</summary>
    public string ResponseFlags { get; init; } = Telemetry.ResponseFlags.None;

    /// <summary>The connection's live byte counts while it is open; null when bytes are only known at close.</summary>
    public LiveBytes? Live { get; init; }
}
