using System.Net;
using System.Net.Sockets;
using Hbone.Ztunnel.Config;
using Hbone.Ztunnel.State;

namespace Hbone.Ztunnel.Dns;

/// <summary>An answer the DNS proxy gives itself: the records' owner name, an optional CNAME to it, and the addresses.</summary>
/// <param name="AliasOf">When set, the name that was asked for, answered with a CNAME to <paramref name="OwnerName"/> (a search domain was stripped).</param>
/// <param name="OwnerName">The name the address records carry.</param>
/// <param name="Addresses">The addresses of the asked family; empty is a NOERROR answer with no records, not NXDOMAIN.</param>
internal sealed record MeshAnswer(string? AliasOf, string OwnerName, IReadOnlyList<IPAddress> Addresses);

/// <summary>
/// Resolves names of mesh services as ztunnel's DNS proxy does: the name as asked, its Kubernetes FQDN forms, the
/// name with one of the pod's search domains stripped, each also as a wildcard (<c>*.example.com</c>, <c>*.com</c>).
/// Services with VIPs answer their VIPs in the client's network; headless <c>*.svc.&lt;domain&gt;</c> services
/// answer their endpoints' addresses. Anything else is not the mesh's: the query goes upstream.
/// </summary>
/// <param name="clusterDomain">The cluster's DNS domain, <c>cluster.local</c> by default.</param>
internal sealed class MeshNameLookup(string clusterDomain = "cluster.local")
{
    private readonly string _svcDomain = "svc." + clusterDomain;

    /// <summary>The answer for <paramref name="name"/>, or null when no mesh service has that name (forward it).</summary>
    /// <param name="snapshot">The config in force.</param>
    /// <param name="client">The asking pod's workload.</param>
    /// <param name="name">The queried name, with or without the trailing dot, any letter case.</param>
    /// <param name="family">InterNetwork for A, InterNetworkV6 for AAAA.</param>
    public MeshAnswer? Lookup(WorkloadSnapshot snapshot, Workload client, string name, AddressFamily family)
    {
        string asked = Normalize(name);
        if (asked.Length == 0)
        {
            return null;
        }

        foreach ((string alias, string? stripped) in Aliases(client.Namespace, asked))
        {
            foreach (string candidate in Wildcards(alias))
            {
                if (snapshot.FindServiceByHostname(candidate) is not { } service || !Answerable(service))
                {
                    continue;
                }

                IReadOnlyList<IPAddress> addresses = Addresses(snapshot, client, service, family);
                bool viaSearchDomain = stripped is not null && !candidate.StartsWith("*.", StringComparison.Ordinal);
                return viaSearchDomain
                    ? new MeshAnswer(name.TrimEnd('.'), stripped!, addresses)
                    : new MeshAnswer(null, name.TrimEnd('.'), addresses);
            }
        }

        return null;
    }

    /// <summary>The search domains ztunnel assumes for a pod of <paramref name="ns"/>, as kubelet writes them.</summary>
    public IReadOnlyList<string> SearchDomains(string ns) => [$"{ns}.{_svcDomain}", _svcDomain, clusterDomain];

    private static string Normalize(string name) => name.TrimEnd('.').ToLowerInvariant();

    /// <summary>Names to try, first the one asked for; <c>Stripped</c> is set when a search domain was removed to get it.</summary>
    private List<(string Name, string? Stripped)> Aliases(string ns, string asked)
    {
        var aliases = new List<(string, string?)>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        void Add(string alias, string? stripped)
        {
            if (seen.Add(alias))
            {
                aliases.Add((alias, stripped));
            }
        }

        Add(asked, null);
        foreach (string fqdn in KubernetesForms(ns, asked))
        {
            Add(fqdn, null);
        }

        foreach (string domain in SearchDomains(ns))
        {
            if (asked.Length > domain.Length + 1 && asked.EndsWith("." + domain, StringComparison.Ordinal))
            {
                string stripped = asked[..^(domain.Length + 1)];
                Add(stripped, stripped);
                foreach (string fqdn in KubernetesForms(ns, stripped))
                {
                    Add(fqdn, stripped);
                }
            }
        }

        return aliases;
    }

    /// <summary>The FQDNs a short name can stand for: <c>svc</c>, <c>svc.ns</c>, <c>svc.ns.svc</c>, and the pod-subdomain forms.</summary>
    private IEnumerable<string> KubernetesForms(string ns, string name)
    {
        int labels = name.Count(c => c == '.') + 1;
        switch (labels)
        {
            case 1:
                yield return $"{name}.{ns}.{_svcDomain}";
                break;
            case 2:
                yield return $"{name}.{_svcDomain}";
                yield return $"{name}.{ns}.{_svcDomain}";
                break;
            case 3:
                if (name.EndsWith(".svc", StringComparison.Ordinal))
                {
                    yield return $"{name}.{clusterDomain}";
                }

                yield return $"{name}.{_svcDomain}";
                break;
            case 4 when name.EndsWith(".svc", StringComparison.Ordinal):
                yield return $"{name}.{clusterDomain}";
                break;
        }
    }

    /// <summary><c>www.example.com</c>, then <c>*.example.com</c>, then <c>*.com</c>.</summary>
    private static IEnumerable<string> Wildcards(string name)
    {
        yield return name;
        string rest = name;
        int dot;
        while ((dot = rest.IndexOf('.', StringComparison.Ordinal)) > 0)
        {
            rest = rest[(dot + 1)..];
            yield return "*." + rest;
        }
    }

    /// <summary>A service without VIPs is answered only when it is a Kubernetes headless service (its name ends in .svc.&lt;domain&gt;).</summary>
    private bool Answerable(Service service) =>
        service.Vips.Count > 0 || service.Hostname.EndsWith("." + _svcDomain, StringComparison.Ordinal);

    private static IReadOnlyList<IPAddress> Addresses(WorkloadSnapshot snapshot, Workload client, Service service, AddressFamily family)
    {
        var addresses = new List<IPAddress>();
        if (service.Vips.Count > 0)
        {
            foreach (NetworkAddress vip in service.Vips)
            {
                if (vip.Address.AddressFamily == family && vip.Network == client.Network)
                {
                    addresses.Add(vip.Address);
                }
            }

            return addresses;
        }

        // Headless: one address of the asked family per endpoint pod.
        foreach (Workload endpoint in snapshot.Endpoints(service))
        {
            if (endpoint.WorkloadIps.FirstOrDefault(ip => ip.AddressFamily == family) is { } ip)
            {
                addresses.Add(ip);
            }
        }

        return addresses;
    }
}
