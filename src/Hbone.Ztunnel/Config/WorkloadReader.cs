using Hbone.Ztunnel.State;
using YamlDotNet.RepresentationModel;
using static Hbone.Ztunnel.Config.LocalConfigParser;

namespace Hbone.Ztunnel.Config;

/// <summary>Reads one entry of <c>workloads</c>.</summary>
internal static class WorkloadReader
{
    public static Workload Read(YamlReader reader, YamlNode node, string path)
    {
        var e = reader.Entries(reader.Mapping(node, path), path);
        string Req(string key) => reader.NonEmptyString(Required(reader, e, key, node, path), $"{path}.{key}");
        string? Opt(string key) => Optional(e, key) is { } v ? reader.String(v, $"{path}.{key}") : null;

        string ns = Req("namespace");
        CheckIdentityComponent(reader, e["namespace"].Value, $"{path}.namespace", ns);
        string sa = Req("serviceAccount");
        CheckIdentityComponent(reader, e["serviceAccount"].Value, $"{path}.serviceAccount", sa);

        var services = new Dictionary<string, IReadOnlyDictionary<int, int>>(StringComparer.Ordinal);
        if (Optional(e, "services") is { } s)
        {
            foreach (var (key, (keyNode, value)) in reader.Entries(reader.Mapping(s, $"{path}.services"), $"{path}.services"))
            {
                int slash = key.IndexOf('/', StringComparison.Ordinal);
                if (slash <= 0 || slash == key.Length - 1)
                {
                    throw reader.Fail(keyNode, $"{path}.services", $"'{key}' is not 'namespace/hostname'");
                }

                services[key] = YamlReader.IsNull(value) ? new Dictionary<int, int>() : reader.PortMap(value, $"{path}.services.{key}");
            }
        }

        return new Workload
        {
            Uid = Req("uid"),
            Name = Req("name"),
            Namespace = ns,
            ServiceAccount = sa,
            WorkloadIps = Optional(e, "workloadIps") is { } ips ? reader.List(ips, $"{path}.workloadIps", reader.Ip) : [],
            Protocol = Optional(e, "protocol") is { } p ? Protocol(reader, p, $"{path}.protocol") : WorkloadProtocol.Tcp,
            Node = Opt("node") ?? "",
            Network = Opt("network") ?? "",
            Waypoint = Optional(e, "waypoint") is { } w ? GatewayReader.Read(reader, w, $"{path}.waypoint") : null,
            Services = services,
            AuthorizationPolicies = Optional(e, "authorizationPolicies") is { } ap ? reader.List(ap, $"{path}.authorizationPolicies", reader.NonEmptyString) : [],
            Labels = Optional(e, "labels") is { } l ? reader.StringMap(l, $"{path}.labels") : new Dictionary<string, string>(),
            CanonicalName = Opt("canonicalName"),
            CanonicalRevision = Opt("canonicalRevision"),
            WorkloadName = Opt("workloadName"),
            ClusterId = Opt("clusterId"),
        };
    }

    private static WorkloadProtocol Protocol(YamlReader reader, YamlNode node, string path) => reader.String(node, path) switch
    {
        "HBONE" => WorkloadProtocol.Hbone,
        "TCP" => WorkloadProtocol.Tcp,
        var other => throw reader.Fail(node, path, $"unknown protocol '{other}' (expected HBONE or TCP)"),
    };
}
