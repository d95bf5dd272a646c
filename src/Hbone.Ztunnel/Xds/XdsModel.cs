using System.Net;
using Hbone.Ztunnel.Config;
using Hbone.Ztunnel.State;
using Proto = Hbone.Istio.Protos;

namespace Hbone.Ztunnel.Xds;

/// <summary>
/// Turns the workloads, services and policies received over xDS into the model the local config file fills, so one
/// state, one router and one policy engine serve both sources.
/// </summary>
internal static class XdsModel
{
    private const int DefaultHbonePort = 15008;

    /// <summary>The config these xDS resources describe; a hostname waypoint is resolved to its service's first VIP.</summary>
    public static LocalConfig ToConfig(IEnumerable<Proto.Workload.Workload> workloads, IEnumerable<Proto.Workload.Service> services, IEnumerable<Proto.Security.Authorization> policies)
    {
        // Waypoints named by hostname are resolved once every service's VIP is known.
        var protoServices = new List<Proto.Workload.Service>(services);
        var vipsByHostname = new Dictionary<string, NetworkAddress>(StringComparer.Ordinal);
        foreach (Proto.Workload.Service service in protoServices)
        {
            if (service.Addresses.Count > 0)
            {
                Proto.Workload.NetworkAddress vip = service.Addresses[0];
                vipsByHostname.TryAdd(service.Namespace + "/" + service.Hostname, new NetworkAddress(vip.Network, new IPAddress(vip.Address.Span)));
            }
        }

        var serviceList = new List<Service>(protoServices.Count);
        foreach (Proto.Workload.Service service in protoServices)
        {
            serviceList.Add(ToService(service, vipsByHostname));
        }

        var workloadList = new List<Workload>();
        foreach (Proto.Workload.Workload workload in workloads)
        {
            workloadList.Add(ToWorkload(workload, vipsByHostname));
        }

        var policyList = new List<AuthorizationPolicy>();
        foreach (Proto.Security.Authorization policy in policies)
        {
            policyList.Add(ToPolicy(policy));
        }

        return new LocalConfig(workloadList, serviceList, policyList);
    }

    public static Workload ToWorkload(Proto.Workload.Workload w, IReadOnlyDictionary<string, NetworkAddress>? vipsByHostname = null)
    {
        var ips = new List<IPAddress>(w.Addresses.Count);
        foreach (Google.Protobuf.ByteString address in w.Addresses)
        {
            ips.Add(new IPAddress(address.Span));
        }

        var services = new Dictionary<string, IReadOnlyDictionary<int, int>>(StringComparer.Ordinal);
        foreach (var (key, ports) in w.Services)
        {
            services[key] = PortMap(ports.Ports);
        }

        return new Workload
        {
            Uid = w.Uid,
            Name = w.Name,
            Namespace = w.Namespace,
            // Kubernetes gives every pod a service account; an empty one is the namespace's "default".
            ServiceAccount = w.ServiceAccount.Length > 0 ? w.ServiceAccount : "default",
            WorkloadIps = ips,
            Protocol = w.TunnelProtocol == Proto.Workload.TunnelProtocol.Hbone ? WorkloadProtocol.Hbone : WorkloadProtocol.Tcp,
            Node = w.Node,
            Network = w.Network,
            Waypoint = w.Waypoint is { } waypoint ? Resolve(waypoint, vipsByHostname) : null,
            Services = services,
            AuthorizationPolicies = [.. w.AuthorizationPolicies],
            CanonicalName = NullIfEmpty(w.CanonicalName),
            CanonicalRevision = NullIfEmpty(w.CanonicalRevision),
            WorkloadName = NullIfEmpty(w.WorkloadName),
            ClusterId = NullIfEmpty(w.ClusterId),
        };
    }

    public static Service ToService(Proto.Workload.Service s, IReadOnlyDictionary<string, NetworkAddress>? vipsByHostname = null)
    {
        var vips = new List<NetworkAddress>(s.Addresses.Count);
        foreach (Proto.Workload.NetworkAddress address in s.Addresses)
        {
            vips.Add(new NetworkAddress(address.Network, new IPAddress(address.Address.Span)));
        }

        return new Service
        {
            Name = s.Name,
            Namespace = s.Namespace,
            Hostname = s.Hostname,
            Vips = vips,
            Ports = PortMap(s.Ports),
            SubjectAltNames = [.. s.SubjectAltNames],
            Waypoint = s.Waypoint is { } waypoint ? Resolve(waypoint, vipsByHostname) : null,
        };
    }

    public static AuthorizationPolicy ToPolicy(Proto.Security.Authorization p)
    {
        var rules = new List<PolicyRule>(p.Rules.Count);
        foreach (Proto.Security.Rule rule in p.Rules)
        {
            var clauses = new List<PolicyClause>(rule.Clauses.Count);
            foreach (Proto.Security.Clause clause in rule.Clauses)
            {
                var matches = new List<PolicyMatch>(clause.Matches.Count);
                foreach (Proto.Security.Match match in clause.Matches)
                {
                    matches.Add(ToMatch(match));
                }

                clauses.Add(new PolicyClause(matches));
            }

            rules.Add(new PolicyRule(clauses));
        }

        PolicyScope scope = p.Scope switch
        {
            Proto.Security.Scope.Namespace => PolicyScope.Namespace,
            Proto.Security.Scope.WorkloadSelector => PolicyScope.WorkloadSelector,
            _ => PolicyScope.Global,
        };
        PolicyAction action = p.Action == Proto.Security.Action.Deny ? PolicyAction.Deny : PolicyAction.Allow;
        return new AuthorizationPolicy(p.Name, p.Namespace, scope, action, rules, Selector: null, DryRun: p.DryRun);
    }

    private static PolicyMatch ToMatch(Proto.Security.Match m) => new()
    {
        Namespaces = Patterns(m.Namespaces),
        NotNamespaces = Patterns(m.NotNamespaces),
        Principals = Patterns(m.Principals),
        NotPrincipals = Patterns(m.NotPrincipals),
        ServiceAccounts = ServiceAccounts(m.ServiceAccounts),
        NotServiceAccounts = ServiceAccounts(m.NotServiceAccounts),
        SourceIps = Networks(m.SourceIps),
        NotSourceIps = Networks(m.NotSourceIps),
        DestinationIps = Networks(m.DestinationIps),
        NotDestinationIps = Networks(m.NotDestinationIps),
        DestinationPorts = Ports(m.DestinationPorts),
        NotDestinationPorts = Ports(m.NotDestinationPorts),

        // An extension is a condition L4 cannot evaluate: fail closed, as for L7 fields.
        RequiresL7 = m.Extensions.Count > 0,
    };

    // The model's string patterns: "x" exact, "x*" prefix, "*x" suffix, "*" presence.
    private static IReadOnlyList<string> Patterns(IEnumerable<Proto.Security.StringMatch> matches)
    {
        var patterns = new List<string>();
        foreach (Proto.Security.StringMatch match in matches)
        {
            patterns.Add(match.MatchTypeCase switch
            {
                Proto.Security.StringMatch.MatchTypeOneofCase.Prefix => match.Prefix + "*",
                Proto.Security.StringMatch.MatchTypeOneofCase.Suffix => "*" + match.Suffix,
                Proto.Security.StringMatch.MatchTypeOneofCase.Presence => "*",
                _ => match.Exact,
            });
        }

        return patterns;
    }

    private static IReadOnlyList<string> ServiceAccounts(IEnumerable<Proto.Security.ServiceAccountMatch> matches)
    {
        var accounts = new List<string>();
        foreach (Proto.Security.ServiceAccountMatch match in matches)
        {
            accounts.Add(match.Namespace + "/" + match.ServiceAccount);
        }

        return accounts;
    }

    private static IReadOnlyList<System.Net.IPNetwork> Networks(IEnumerable<Proto.Security.Address> addresses)
    {
        var networks = new List<System.Net.IPNetwork>();
        foreach (Proto.Security.Address address in addresses)
        {
            networks.Add(new System.Net.IPNetwork(new IPAddress(address.Address_.Span), (int)address.Length));
        }

        return networks;
    }

    private static IReadOnlyList<int> Ports(IEnumerable<uint> ports)
    {
        var list = new List<int>();
        foreach (uint port in ports)
        {
            list.Add((int)port);
        }

        return list;
    }

    // A target port of 0 means "the workload's own mapping decides", so it is left out of the service's map.
    private static IReadOnlyDictionary<int, int> PortMap(IEnumerable<Proto.Workload.Port> ports)
    {
        var map = new Dictionary<int, int>();
        foreach (Proto.Workload.Port port in ports)
        {
            if (port.TargetPort != 0)
            {
                map[(int)port.ServicePort] = (int)port.TargetPort;
            }
        }

        return map;
    }

    private static GatewayAddress? Resolve(Proto.Workload.GatewayAddress gateway, IReadOnlyDictionary<string, NetworkAddress>? vipsByHostname)
    {
        int port = gateway.HboneMtlsPort == 0 ? DefaultHbonePort : (int)gateway.HboneMtlsPort;
        return gateway.DestinationCase switch
        {
            Proto.Workload.GatewayAddress.DestinationOneofCase.Address =>
                new GatewayAddress(new NetworkAddress(gateway.Address.Network, new IPAddress(gateway.Address.Address.Span)), port),
            Proto.Workload.GatewayAddress.DestinationOneofCase.Hostname when vipsByHostname is not null
                && vipsByHostname.TryGetValue(gateway.Hostname.Namespace + "/" + gateway.Hostname.Hostname, out NetworkAddress? vip) => new GatewayAddress(vip, port),
            _ => null,
        };
    }

    private static string? NullIfEmpty(string value) => value.Length == 0 ? null : value;
}
