using Google.Protobuf;
using Hbone.Istio.Protos.Workload;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace DevControlPlane.Config;

/// <summary>Reads ztunnel's local config YAML (workloads, services, policies; the same keys) into the protos istiod sends.</summary>
public static class MeshYamlReader
{
    public static MeshConfig ReadFile(string path, string trustDomain) =>
        Read(File.ReadAllText(path), Path.GetFileName(path), trustDomain);

    /// <exception cref="MeshConfigException">The text is not a valid mesh config.</exception>
    public static MeshConfig Read(string yaml, string fileName, string trustDomain)
    {
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(yaml));
        }
        catch (YamlException e)
        {
            throw new MeshConfigException($"{fileName}:{e.Start.Line}:{e.Start.Column}: invalid YAML: {e.Message}", e);
        }
        // Not every YamlDotNet failure is a YamlException; each is still a bad file, never a crash of the reload.
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or FormatException or OverflowException)
        {
            throw new MeshConfigException($"{fileName}: invalid YAML: {e.Message}", e);
        }

        if (stream.Documents.Count == 0 || YamlNodeReader.IsNull(stream.Documents[0].RootNode))
        {
            return MeshConfig.Empty;
        }

        var reader = new YamlNodeReader(fileName);
        YamlMappingNode root = reader.Mapping(stream.Documents[0].RootNode, "(root)");
        var workloads = reader.OptionalList(root, "workloads", "", (n, p) => ReadWorkload(reader, n, p, trustDomain));
        var services = reader.OptionalList(root, "services", "", (n, p) => ReadService(reader, n, p));
        var policies = reader.OptionalList(root, "policies", "", (n, p) => PolicyYamlReader.Read(reader, n, p));
        RejectDuplicates(reader, root, "workloads", workloads.Select(w => w.Proto.Uid), "workload uid");
        RejectDuplicates(reader, root, "services", services.Select(s => $"{s.Namespace}/{s.Hostname}"), "service");
        RejectDuplicates(reader, root, "policies", policies.Select(p => $"{p.Proto.Namespace}/{p.Proto.Name}"), "policy");
        return new MeshConfig(workloads, services, policies);
    }

    private static MeshWorkload ReadWorkload(YamlNodeReader reader, YamlNode node, string path, string trustDomain)
    {
        YamlMappingNode map = reader.Mapping(node, path);
        var workload = new Workload
        {
            Uid = reader.Required(map, "uid", path),
            Name = reader.Required(map, "name", path),
            Namespace = reader.Required(map, "namespace", path),
            ServiceAccount = reader.Required(map, "serviceAccount", path),
            TrustDomain = trustDomain,
            TunnelProtocol = Protocol(reader, map, path),
            Node = reader.Optional(map, "node", path),
            Network = reader.Optional(map, "network", path),
            CanonicalName = reader.Optional(map, "canonicalName", path),
            CanonicalRevision = reader.Optional(map, "canonicalRevision", path),
            WorkloadName = reader.Optional(map, "workloadName", path),
            ClusterId = reader.Optional(map, "clusterId", path),
        };
        CheckIdentity(reader, map, path, trustDomain, workload);
        workload.Addresses.AddRange(reader.OptionalList(map, "workloadIps", path, (n, p) => ByteString.CopyFrom(reader.Ip(n, p).GetAddressBytes())));
        if (YamlNodeReader.Get(map, "waypoint") is { } waypoint)
        {
            workload.Waypoint = ReadGateway(reader, waypoint, $"{path}.waypoint");
        }

        if (YamlNodeReader.Get(map, "services") is { } services)
        {
            foreach (var (key, keyNode, value) in reader.Entries(services, $"{path}.services"))
            {
                int slash = key.IndexOf('/', StringComparison.Ordinal);
                if (slash <= 0 || slash == key.Length - 1)
                {
                    throw reader.Fail(keyNode, $"{path}.services", $"'{key}' is not 'namespace/hostname'");
                }

                var ports = new PortList();
                if (!YamlNodeReader.IsNull(value))
                {
                    ports.Ports.AddRange(reader.PortMap(value, $"{path}.services.{key}").Select(p => new Port { ServicePort = p.ServicePort, TargetPort = p.TargetPort }));
                }

                workload.Services[key] = ports;
            }
        }

        var labels = YamlNodeReader.Get(map, "labels") is { } l ? reader.StringMap(l, $"{path}.labels") : [];
        return new MeshWorkload(workload, labels);
    }

    private static void CheckIdentity(YamlNodeReader reader, YamlMappingNode map, string path, string trustDomain, Workload workload)
    {
        try
        {
            _ = Hbone.Identity.SpiffeId.ForIstio(trustDomain, workload.Namespace, workload.ServiceAccount);
        }
        catch (Hbone.Identity.SpiffeIdException)
        {
            throw reader.Fail(map, path, $"namespace '{workload.Namespace}' and serviceAccount '{workload.ServiceAccount}' do not make a SPIFFE ID");
        }
    }

    private static TunnelProtocol Protocol(YamlNodeReader reader, YamlMappingNode map, string path) => reader.Optional(map, "protocol", path) switch
    {
        "HBONE" => TunnelProtocol.Hbone,
        "TCP" or "" => TunnelProtocol.None,
        var other => throw reader.Fail(YamlNodeReader.Get(map, "protocol")!, $"{path}.protocol", $"unknown protocol '{other}' (expected HBONE or TCP)"),
    };

    private static Service ReadService(YamlNodeReader reader, YamlNode node, string path)
    {
        YamlMappingNode map = reader.Mapping(node, path);
        var service = new Service
        {
            Name = reader.Required(map, "name", path),
            Namespace = reader.Required(map, "namespace", path),
            Hostname = reader.Required(map, "hostname", path),
        };
        service.Addresses.AddRange(reader.OptionalList(map, "vips", path, (n, p) => ToNetworkAddress(reader.NetworkAddress(n, p))));
        if (YamlNodeReader.Get(map, "ports") is { } ports)
        {
            service.Ports.AddRange(reader.PortMap(ports, $"{path}.ports").Select(p => new Port { ServicePort = p.ServicePort, TargetPort = p.TargetPort }));
        }

        service.SubjectAltNames.AddRange(reader.OptionalList(map, "subjectAltNames", path, reader.Scalar));
        if (YamlNodeReader.Get(map, "waypoint") is { } waypoint)
        {
            service.Waypoint = ReadGateway(reader, waypoint, $"{path}.waypoint");
        }

        return service;
    }

    /// <summary>ztunnel's <c>{destination: "network/ip", hboneMtlsPort}</c> (or <c>address</c>); the port defaults to 15008.</summary>
    private static GatewayAddress ReadGateway(YamlNodeReader reader, YamlNode node, string path)
    {
        YamlMappingNode map = reader.Mapping(node, path);
        YamlNode destination = YamlNodeReader.Get(map, "destination") ?? YamlNodeReader.Get(map, "address")
            ?? throw reader.Fail(node, path, "missing required field 'destination' (or 'address')");
        return new GatewayAddress
        {
            Address = ToNetworkAddress(reader.NetworkAddress(destination, $"{path}.destination")),
            HboneMtlsPort = YamlNodeReader.Get(map, "hboneMtlsPort") is { } port ? reader.Port(port, $"{path}.hboneMtlsPort") : 15008,
        };
    }

    private static NetworkAddress ToNetworkAddress((string Network, System.Net.IPAddress Address) value) =>
        new() { Network = value.Network, Address = ByteString.CopyFrom(value.Address.GetAddressBytes()) };

    private static void RejectDuplicates(YamlNodeReader reader, YamlMappingNode root, string list, IEnumerable<string> keys, string what)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (string key in keys)
        {
            if (!seen.Add(key))
            {
                throw reader.Fail(YamlNodeReader.Get(root, list)!, list, $"duplicate {what} '{key}'");
            }
        }
    }
}
