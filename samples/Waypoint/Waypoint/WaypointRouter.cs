using System.Net;
using Hbone.Identity;
using Hbone.Protocol;

namespace Waypoint;

/// <summary>Where a CONNECT goes, decided from the config: which service, which pod, and whether the peer may at all.</summary>
public sealed class WaypointRouter(WaypointConfig config)
{
    private readonly HashSet<SpiffeId> _allowed = [.. config.Allow.Select(SpiffeId.Parse)];
    private readonly Entry[] _services = [.. config.Services.Select(s => new Entry(s, IPEndPoint.Parse(s.Vip)))];

    /// <summary>True when the L4 policy lets <paramref name="peer"/> (from its certificate, never a header) through.</summary>
    public bool Allows(SpiffeId peer) => _allowed.Count == 0 || _allowed.Contains(peer);

    /// <summary>
    /// The service a CONNECT names: by VIP and port (a ztunnel sending to the waypoint), or by hostname and port (an
    /// east-west CONNECT from another network, whose bytes are an inner HBONE session). Null when none matches.
    /// </summary>
    public WaypointRoute? Find(HboneAuthority authority)
    {
        foreach (Entry entry in _services)
        {
            var (service, vip) = (entry.Service, entry.Vip);
            if (authority.Port != vip.Port)
            {
                continue;
            }

            if (authority.Address is { } address && address.Equals(vip.Address))
            {
                return new WaypointRoute(service, entry.Next(), EastWest: false);
            }

            if (authority.Address is null && string.Equals(authority.Host, service.Hostname, StringComparison.OrdinalIgnoreCase))
            {
                return new WaypointRoute(service, entry.Next(), EastWest: true);
            }
        }

        return null;
    }

    /// <summary>A service with its parsed VIP and its round-robin position over its pods.</summary>
    private sealed class Entry(WaypointService service, IPEndPoint vip)
    {
        private int _next = -1;

        public WaypointService Service { get; } = service;

        public IPEndPoint Vip { get; } = vip;

        public WaypointEndpoint Next() => Service.Endpoints[(Interlocked.Increment(ref _next) & int.MaxValue) % Service.Endpoints.Count];
    }
}

/// <summary>A decision: the service, the pod chosen, and whether the tunnel is spliced (east-west) or re-originated (waypoint).</summary>
public sealed record WaypointRoute(WaypointService Service, WaypointEndpoint Endpoint, bool EastWest);
