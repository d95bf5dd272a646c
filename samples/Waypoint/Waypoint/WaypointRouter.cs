using System.Net;
using Hbone.Identity;
using Hbone.Protocol;

namespace Waypoint;

/// <summary>
/// Where a CONNECT goes, decided from the services a source gives now: which service, which pod, and whether the peer
/// may at all.
/// </summary>
/// <param name="services">The services, read again on every CONNECT (a file's, or istiod's as they change).</param>
/// <param name="allow">The client identities allowed through; empty allows any peer whose certificate the server trusted.</param>
public sealed class WaypointRouter(IWaypointServiceSource services, IEnumerable<string> allow)
{
    private readonly HashSet<SpiffeId> _allowed = [.. allow.Select(SpiffeId.Parse)];

    // The entries of the last list seen: rebuilt when the source hands out a new list, so round robin restarts then.
    private Entries _entries = new([], []);

    /// <summary>Routes the services and policy of a config file.</summary>
    public WaypointRouter(WaypointConfig config)
        : this(config, config.Allow)
    {
    }

    /// <summary>True when the L4 policy lets <paramref name="peer"/> (from its certificate, never a header) through.</summary>
    public bool Allows(SpiffeId peer) => _allowed.Count == 0 || _allowed.Contains(peer);

    /// <summary>
    /// The service a CONNECT names: by VIP and port (a ztunnel sending to the waypoint), or by hostname and port (an
    /// east-west CONNECT from another network, whose bytes are an inner HBONE session). Null when none matches or the
    /// service has no pod.
    /// </summary>
    public WaypointRoute? Find(HboneAuthority authority)
    {
        foreach (Entry entry in Current())
        {
            var (service, vip) = (entry.Service, entry.Vip);
            if (authority.Port != vip.Port || service.Endpoints.Count == 0)
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

    private Entry[] Current()
    {
        IReadOnlyList<WaypointService> list = services.Services;
        Entries entries = Volatile.Read(ref _entries);
        if (!ReferenceEquals(entries.Source, list))
        {
            entries = new Entries(list, [.. list.Select(s => new Entry(s, IPEndPoint.Parse(s.Vip)))]);
            Volatile.Write(ref _entries, entries);
        }

        return entries.Items;
    }

    private sealed record Entries(IReadOnlyList<WaypointService> Source, Entry[] Items);

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
