using System.Net;
using Hbone.Ztunnel.Config;
using Hbone.Ztunnel.State;

namespace Hbone.Ztunnel.Tests.Dns;

/// <summary>Workloads and services for the DNS tests.</summary>
internal static class DnsFixtures
{
    /// <summary>A pod with one or two addresses, backing <paramref name="service"/> (<c>ns/hostname</c>) when given.</summary>
    public static Workload Pod(string name, string ns, string ip, string? ip6 = null, string? service = null) => new()
    {
        Uid = $"c//v1/Pod/{ns}/{name}",
        Name = name,
        Namespace = ns,
        ServiceAccount = "default",
        WorkloadIps = ip6 is null ? [IPAddress.Parse(ip)] : [IPAddress.Parse(ip), IPAddress.Parse(ip6)],
        Services = service is null
            ? new Dictionary<string, IReadOnlyDictionary<int, int>>()
            : new Dictionary<string, IReadOnlyDictionary<int, int>> { [service] = new Dictionary<int, int> { [5432] = 5432 } },
    };

    /// <summary>A service of the default network; without VIPs it is headless.</summary>
    public static Service Svc(string name, string ns, string hostname, params string[] vips) => new()
    {
        Name = name,
        Namespace = ns,
        Hostname = hostname,
        Vips = [.. vips.Select(v => new NetworkAddress("", IPAddress.Parse(v)))],
    };
}
