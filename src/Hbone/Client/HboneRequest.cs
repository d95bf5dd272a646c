using System.Net;
using Hbone.Identity;
using Hbone.Protocol;

namespace Hbone.Client;

/// <summary>One tunnel to open: where the HBONE server is, what to ask it for, as whom, and whom to trust.</summary>
public sealed class HboneRequest
{
    /// <summary>The HBONE server to dial (the next hop, such as <c>podIP:15008</c>).</summary>
    public required IPEndPoint Destination { get; init; }

    /// <summary>The <c>:authority</c>: the final target, such as <c>podIP:targetPort</c>.</summary>
    public required HboneAuthority Authority { get; init; }

    /// <summary>
    /// Identities the server may present (the destination workload and the service's subject alt names);
    /// checked during the TLS handshake, before any byte is sent. Empty: any SVID of the trust domain.
    /// </summary>
    public IReadOnlyCollection<SpiffeId> ExpectedIdentities { get; init; } = [];

    /// <summary>The identity to present; <see cref="HboneClientOptions.Certificate"/> when null.</summary>
    public ISvidSource? Source { get; init; }

    /// <summary>The original client address, sent as <c>Forwarded: for=</c>.</summary>
    public IPEndPoint? ForwardedFor { get; init; }

    /// <summary>The service hostname the traffic was addressed to, sent as <c>Forwarded: ;host=</c>.</summary>
    public string? ForwardedHost { get; init; }

    /// <summary>Source workload labels sent as <c>baggage</c> (telemetry only).</summary>
    public Baggage? Baggage { get; init; }

    /// <summary>The W3C trace context to send; a new one per tunnel when null.</summary>
    public TraceParent? TraceParent { get; init; }

    /// <summary>A local address to dial from; part of the pool key.</summary>
    public IPAddress? SourceAddress { get; init; }

    /// <summary>
    /// For double HBONE: the gateway this tunnel goes through. The outer CONNECT to the gateway carries
    /// <see cref="Authority"/>; inside it a second TLS + HTTP/2 connection reaches the final workload.
    /// </summary>
    public HboneGateway? Gateway { get; init; }
}

/// <summary>The east-west gateway of a double-HBONE tunnel.</summary>
/// <param name="Destination">The gateway's HBONE address.</param>
/// <param name="ExpectedIdentities">Identities the gateway may present.</param>
/// <param name="Network">The origin network, sent as <c>x-forwarded-network</c> on the inner CONNECT.</param>
public sealed record HboneGateway(IPEndPoint Destination, IReadOnlyCollection<SpiffeId> ExpectedIdentities, string? Network = null);
