using System.Net;
using Hbone.Identity;
using Hbone.Protocol;
using Hbone.Ztunnel.Config;

namespace Hbone.Ztunnel.State;

/// <summary>How an outbound connection is sent.</summary>
public enum RouteKind
{
    /// <summary>HBONE to a mesh workload: <c>podIP:15008</c>, authority <c>podIP:port</c>.</summary>
    Workload,

    /// <summary>HBONE to an endpoint picked among a service's workloads, port mapped to the target port.</summary>
    ServiceVip,

    /// <summary>HBONE to the waypoint, with the original destination as authority.</summary>
    Waypoint,

    /// <summary>Unknown address: plain TCP to the original destination.</summary>
    Passthrough,

    /// <summary>A workload not in the mesh (<c>protocol: TCP</c>): plain TCP.</summary>
    PlaintextWorkload,

    /// <summary>A known service with no usable endpoint for the port: the connection must fail.</summary>
    NoEndpoint,
}

/// <summary>Where and how to send one outbound connection.</summary>
/// <param name="Kind">The kind of route.</param>
/// <param name="Destination">The socket address to dial (<c>:15008</c> for HBONE kinds).</param>
public sealed record RouteDecision(RouteKind Kind, IPEndPoint Destination)
{
    /// <summary>The CONNECT authority for HBONE kinds: the destination as typed, never a string round trip.</summary>
    public HboneAuthority? Authority { get; init; }

    /// <summary>The identities the peer may present (HBONE kinds).</summary>
    public IReadOnlyList<SpiffeId> ExpectedIdentities { get; init; } = [];

    /// <summary>The service hostname, sent as <c>Forwarded: host=</c>.</summary>
    public string? ForwardedHost { get; init; }

    /// <summary>The workload the connection reaches (the endpoint or the waypoint), when known.</summary>
    public Workload? Workload { get; init; }

    /// <summary>The service addressed, when the destination was a VIP.</summary>
    public Service? Service { get; init; }

    /// <summary>Why there is no route (<see cref="RouteKind.NoEndpoint"/>).</summary>
    public string? Reason { get; init; }
}
