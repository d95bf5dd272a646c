using Hbone.Identity;
using Hbone.Protocol;

namespace Waypoint;

/// <summary>Where a CONNECT goes, decided from the config: which service, which pod, and whether the peer may at all.</summary>
public sealed class WaypointRouter(WaypointConfig config)
{
    private readonly HashSet<SpiffeId> _allowed = [.. config.Allow.Select(SpiffeId.Parse)];

    /// <summary>True when the L4 policy lets <paramref name="peer"/> (from its certificate, never a header) through.</summary>
    public bool Allows(SpiffeId peer) => _allowed.Count == 0 || _allowed.Contains(peer);

    /// <summary>
    /// The service a CONNECT names: by VIP and port (a ztunnel sending to the waypoint), or by hostname and port (an
    /// east-west CONNECT from another network, whose bytes are an inner HBONE session). Null when none matches.
    /// </summary>
    public WaypointRoute? Find(HboneAuthority authority)
    {
        foreach (WaypointService service in config.Services)
        {
            var vip = service.VipEndPoint;
            if (authority.Port != vip.Port)
            {
                continue;
            }

            if (authority.Address is { } address && address.Equals(vip.Address))
            {
                return new WaypointRoute(service, Next(service), EastWest: false);
            }

            if (authority.Address is null && string.Equals(authority.Host, service.Hostname, StringComparison.OrdinalIgnoreCase))
            {
                return new WaypointRoute(service, Next(service), EastWest: true);
            }
        }

        return null;
    }

    // Round-robin over the service's pods.
    private static WaypointEndpoint Next(WaypointService service) =>
        service.Endpoints[(Interlocked.Increment(ref service.NextIndex) & int.MaxValue) % service.Endpoints.Count];
}

/// <summary>A decision: the service, the pod chosen, and whether the tunnel is spliced (east-west) or re-originated (waypoint).</summary>
public sealed record WaypointRoute(WaypointService Service, WaypointEndpoint Endpoint, bool EastWest);
