using System.Net;
using System.Runtime.CompilerServices;
using Hbone.Identity;
using Hbone.Protocol;
using Hbone.Ztunnel.Config;

namespace Hbone.Ztunnel.State;

/// <summary>One immutable view of the workloads and services, indexed for lookups and routing.</summary>
public sealed class WorkloadSnapshot
{
    private const int HbonePort = 15008;
    private readonly Dictionary<NetworkAddress, Workload> _workloadsByIp = [];
    private readonly Dictionary<string, Workload> _workloadsByUid = new(StringComparer.Ordinal);
    private readonly Dictionary<(string Namespace, string Name), List<Workload>> _workloadsByPod = [];
    private readonly Dictionary<NetworkAddress, Service> _servicesByVip = [];
    private readonly Dictionary<string, Service> _servicesByHostname = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Workload[]> _endpoints = new(StringComparer.Ordinal);
    private readonly Dictionary<string, StrongBox<int>> _nextEndpoint = new(StringComparer.Ordinal);
    private readonly Dictionary<string, SpiffeId> _identities = new(StringComparer.Ordinal);
    private readonly Dictionary<string, SpiffeId[]> _serviceSans = new(StringComparer.Ordinal);
    private readonly HashSet<string> _policyKeys = new(StringComparer.Ordinal);

    /// <summary>Indexes a config.</summary>
    /// <param name="config">The parsed config.</param>
    /// <param name="trustDomain">The trust domain of workload SPIFFE IDs.</param>
    /// <param name="network">The network of this node, used when the source is unknown.</param>
    public WorkloadSnapshot(LocalConfig config, string trustDomain = "cluster.local", string network = "")
    {
        ArgumentNullException.ThrowIfNull(config);
        Config = config;
        TrustDomain = trustDomain;
        Network = network;
        foreach (Workload w in config.Workloads)
        {
            _workloadsByUid[w.Uid] = w;
            _identities[w.Uid] = SpiffeId.ForIstio(trustDomain, w.Namespace, w.ServiceAccount);
            if (!_workloadsByPod.TryGetValue((w.Namespace, w.Name), out List<Workload>? sameName))
            {
                _workloadsByPod[(w.Namespace, w.Name)] = sameName = [];
            }

            sameName.Add(w);
            foreach (IPAddress ip in w.WorkloadIps)
            {
                _workloadsByIp.TryAdd(new NetworkAddress(w.Network, Normalize(ip)), w);
            }
        }

        foreach (AuthorizationPolicy policy in config.Policies)
        {
            _policyKeys.Add(policy.Key);
        }

        // Endpoints by service key in one pass over the workloads: linear in the mesh's size, not services × workloads.
        var backing = new Dictionary<string, List<Workload>>(StringComparer.Ordinal);
        foreach (Workload w in config.Workloads)
        {
            if (w.WorkloadIps.Count == 0)
            {
                continue;
            }

            foreach (string key in w.Services.Keys)
            {
                if (!backing.TryGetValue(key, out List<Workload>? list))
                {
                    backing[key] = list = [];
                }

                list.Add(w);
            }
        }

        foreach (Service s in config.Services)
        {
            _servicesByHostname.TryAdd(s.Hostname, s);
            foreach (NetworkAddress vip in s.Vips)
            {
                _servicesByVip.TryAdd(vip with { Address = Normalize(vip.Address) }, s);
            }

            _endpoints[s.Key] = backing.TryGetValue(s.Key, out List<Workload>? endpoints) ? [.. endpoints] : [];
            _nextEndpoint[s.Key] = new StrongBox<int>(-1);
            var sans = new List<SpiffeId>();
            foreach (string san in s.SubjectAltNames)
            {
                if (SpiffeId.TryParse(san, out SpiffeId? id, out _))
                {
                    sans.Add(id);
                }
            }

            _serviceSans[s.Key] = [.. sans];
        }
    }

    /// <summary>An empty snapshot.</summary>
    public static WorkloadSnapshot Empty { get; } = new(LocalConfig.Empty);

    /// <summary>The config this snapshot indexes.</summary>
    public LocalConfig Config { get; }

    /// <summary>The trust domain of workload identities.</summary>
    public string TrustDomain { get; }

    /// <summary>This node's network.</summary>
    public string Network { get; }

    /// <summary>The workload with this IP in this network.</summary>
    public Workload? FindWorkload(string network, IPAddress ip) => _workloadsByIp.GetValueOrDefault(new NetworkAddress(network, Normalize(ip)));

    /// <summary>The workload with this uid.</summary>
    public Workload? FindWorkloadByUid(string uid) => _workloadsByUid.GetValueOrDefault(uid);

    /// <summary>
    /// The workload of a pod the node agent handed over: the one with the pod's uid when the config uses it (the local
    /// config), else, as ztunnel matches it, the one with the pod's namespace, name and service account on this node
    /// (istiod's workload uids are <c>cluster//Pod/namespace/name</c>, not the Kubernetes uid istio-cni sends).
    /// </summary>
    /// <param name="node">This node's name; a workload that names another node is not this pod.</param>
    public Workload? FindPodWorkload(string uid, string @namespace, string name, string serviceAccount, string? node)
    {
        if (_workloadsByUid.TryGetValue(uid, out Workload? byUid))
        {
            return byUid;
        }

        if (_workloadsByPod.TryGetValue((@namespace, name), out List<Workload>? candidates))
        {
            foreach (Workload w in candidates)
            {
                if (w.ServiceAccount == serviceAccount && (string.IsNullOrEmpty(node) || w.Node.Length == 0 || w.Node == node))
                {
                    return w;
                }
            }
        }

        return null;
    }

    /// <summary>The service with this VIP in this network.</summary>
    public Service? FindService(string network, IPAddress vip) => _servicesByVip.GetValueOrDefault(new NetworkAddress(network, Normalize(vip)));

    /// <summary>The service with this hostname (the first one listed when several namespaces use it).</summary>
    public Service? FindServiceByHostname(string hostname) => _servicesByHostname.GetValueOrDefault(hostname);

    /// <summary>The workloads behind a service.</summary>
    public IReadOnlyList<Workload> Endpoints(Service service) => _endpoints.GetValueOrDefault(service.Key) ?? [];

    /// <summary>The policies <paramref name="workload"/> names that are not in this snapshot (ADV-15: each denies until it arrives).</summary>
    public IReadOnlyList<string> MissingPolicies(Workload workload)
    {
        List<string>? missing = null;
        foreach (string name in workload.AuthorizationPolicies)
        {
            if (!_policyKeys.Contains(name))
            {
                (missing ??= []).Add(name);
            }
        }

        return missing ?? (IReadOnlyList<string>)[];
    }

    /// <summary>The workload's SPIFFE ID.</summary>
    public SpiffeId IdentityOf(Workload workload) =>
        _identities.GetValueOrDefault(workload.Uid) ?? SpiffeId.ForIstio(TrustDomain, workload.Namespace, workload.ServiceAccount);

    /// <summary>Decides how to send a connection to <paramref name="destination"/>.</summary>
    /// <param name="destination">The original destination.</param>
    /// <param name="source">The sending workload, when known; its network scopes the lookups.</param>
    /// <returns>The route.</returns>
    public RouteDecision Resolve(IPEndPoint destination, Workload? source)
    {
        ArgumentNullException.ThrowIfNull(destination);
        string network = source?.Network ?? Network;
        if (FindService(network, destination.Address) is { } service)
        {
            return service.Waypoint is { } waypoint && !IsFrom(source, waypoint)
                ? ViaWaypoint(waypoint, destination, service)
                : ToServiceEndpoint(service, destination, network);
        }

        if (FindWorkload(network, destination.Address) is { } workload)
        {
            if (workload.Waypoint is { } waypoint && !IsFrom(source, waypoint))
            {
                return ViaWaypoint(waypoint, destination, null);
            }

            return workload.Protocol == WorkloadProtocol.Tcp
                ? new RouteDecision(RouteKind.PlaintextWorkload, destination) { Workload = workload }
                : new RouteDecision(RouteKind.Workload, new IPEndPoint(destination.Address, HbonePort))
                {
                    Authority = HboneAuthority.FromEndPoint(destination),
                    ExpectedIdentities = [IdentityOf(workload)],
                    Workload = workload,
                };
        }

        return new RouteDecision(RouteKind.Passthrough, destination);
    }

    private RouteDecision ToServiceEndpoint(Service service, IPEndPoint vip, string network)
    {
        int port = vip.Port;
        Workload[] all = _endpoints[service.Key];
        var candidates = new List<(Workload Workload, IPAddress Ip, int Port)>(all.Length);
        foreach (Workload w in all)
        {
            int? target = w.Services[service.Key].TryGetValue(port, out int t) ? t : service.Ports.TryGetValue(port, out t) ? t : null;
            // As ztunnel: the endpoint's address of the VIP's family when it has one (a dual-stack pod), else its first.
            IPAddress? ip = w.Network != network ? null
                : w.WorkloadIps.FirstOrDefault(a => a.AddressFamily == vip.AddressFamily) ?? w.WorkloadIps[0];

            if (target is int targetPort && ip is not null)
            {
                candidates.Add((w, ip, targetPort));
            }
        }

        if (candidates.Count == 0)
        {
            return new RouteDecision(RouteKind.NoEndpoint, new IPEndPoint(IPAddress.None, port))
            {
                Service = service,
                ForwardedHost = service.Hostname,
                Reason = $"service {service.Key} has no endpoint for port {port} in network '{network}'",
            };
        }

        // Round-robin: spreads connections evenly and deterministically across endpoints.
        int next = Interlocked.Increment(ref _nextEndpoint[service.Key].Value) & int.MaxValue;
        var (endpoint, endpointIp, endpointPort) = candidates[next % candidates.Count];
        var endpointAddress = new IPEndPoint(endpointIp, endpointPort);
        if (endpoint.Protocol == WorkloadProtocol.Tcp)
        {
            return new RouteDecision(RouteKind.PlaintextWorkload, endpointAddress) { Workload = endpoint, Service = service, ForwardedHost = service.Hostname };
        }

        return new RouteDecision(RouteKind.ServiceVip, new IPEndPoint(endpointIp, HbonePort))
        {
            Authority = HboneAuthority.FromEndPoint(endpointAddress),
            ForwardedHost = service.Hostname,
            ExpectedIdentities = [IdentityOf(endpoint), .. _serviceSans[service.Key]],
            Workload = endpoint,
            Service = service,
        };
    }

    /// <summary>
    /// To the waypoint, with the original destination as the authority, expecting the waypoint pod's own identity: a
    /// waypoint given as a pod address is that pod; one given as a service VIP is one of its endpoints (as ztunnel
    /// resolves it, on the port the service maps 15008 to). A waypoint the config does not know is no route (fail closed).
    /// </summary>
    private RouteDecision ViaWaypoint(GatewayAddress waypoint, IPEndPoint destination, Service? service)
    {
        NetworkAddress address = waypoint.Destination;
        var hbone = new IPEndPoint(address.Address, waypoint.HboneMtlsPort);
        IPEndPoint target;
        IReadOnlyList<SpiffeId> identities;
        Workload? pod;
        if (FindWorkload(address.Network, address.Address) is { } waypointWorkload)
        {
            (target, identities, pod) = (hbone, [IdentityOf(waypointWorkload)], waypointWorkload);
        }
        else if (FindService(address.Network, address.Address) is { } waypointService
            && ToServiceEndpoint(waypointService, hbone, address.Network) is { Kind: RouteKind.ServiceVip } endpoint)
        {
            (target, identities, pod) = (endpoint.Authority!.Value.ToIPEndPoint()!, endpoint.ExpectedIdentities, endpoint.Workload);
        }
        else
        {
            return new RouteDecision(RouteKind.NoEndpoint, destination)
            {
                Service = service,
                ForwardedHost = service?.Hostname,
                Reason = $"waypoint {address} is neither a known workload nor a service with an endpoint for port {waypoint.HboneMtlsPort}",
            };
        }

        return new RouteDecision(RouteKind.Waypoint, target)
        {
            Authority = HboneAuthority.FromEndPoint(destination),
            ExpectedIdentities = identities,
            ForwardedHost = service?.Hostname,
            Workload = pod,
            Service = service,
        };
    }

    /// <summary>
    /// True when <paramref name="peer"/> is the identity of a waypoint that <paramref name="destination"/> sits behind
    /// (its own waypoint, or that of a service it backs): such a peer relays clients, and may name them in Forwarded.
    /// </summary>
    public bool IsWaypointOf(Workload destination, SpiffeId peer)
    {
        ArgumentNullException.ThrowIfNull(destination);
        ArgumentNullException.ThrowIfNull(peer);
        if (destination.Waypoint is { } own && WaypointIdentities(own).Contains(peer))
        {
            return true;
        }

        foreach (string key in destination.Services.Keys)
        {
            int slash = key.IndexOf('/', StringComparison.Ordinal);
            if (slash > 0 && FindServiceByHostname(key[(slash + 1)..]) is { Waypoint: { } waypoint } && WaypointIdentities(waypoint).Contains(peer))
            {
                return true;
            }
        }

        return false;
    }

    // The identities a waypoint may present: its pod's, or those of its service's pods.
    private IEnumerable<SpiffeId> WaypointIdentities(GatewayAddress waypoint)
    {
        NetworkAddress address = waypoint.Destination;
        if (FindWorkload(address.Network, address.Address) is { } workload)
        {
            return [IdentityOf(workload)];
        }

        return FindService(address.Network, address.Address) is { } service ? Endpoints(service).Select(IdentityOf) : [];
    }

    // Traffic the waypoint itself sends goes straight to the destination, or it would loop.
    private static bool IsFrom(Workload? source, GatewayAddress waypoint)
    {
        if (source is null || source.Network != waypoint.Destination.Network)
        {
            return false;
        }

        foreach (IPAddress ip in source.WorkloadIps)
        {
            if (Normalize(ip).Equals(Normalize(waypoint.Destination.Address)))
            {
                return true;
            }
        }

        return false;
    }

    private static IPAddress Normalize(IPAddress ip) => ip.IsIPv4MappedToIPv6 ? ip.MapToIPv4() : ip;
}
