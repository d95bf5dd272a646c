using System.Collections;
using System.Collections.Immutable;
using System.Net;
using Google.Protobuf;
using Hbone.Istio.ControlPlane;
using Hbone.Istio.Protos.Workload;
using Hbone.Istio.Xds;
using Waypoint;
using Waypoint.Mesh;

namespace Hbone.Istio.Tests.Samples;

/// <summary>How the waypoint sample chooses mesh mode from ztunnel's variables, and how it reads services from a mesh snapshot.</summary>
public sealed class WaypointMeshOptionsTests
{
    [Fact]
    [Trait("case", "WP-09")]
    public void Without_XDS_ADDRESS_the_waypoint_keeps_its_config_file()
    {
        Assert.Null(WaypointMeshOptions.FromEnvironment(new Hashtable { ["POD_NAMESPACE"] = "default", ["SERVICE_ACCOUNT"] = "waypoint" }));
    }

    [Fact]
    [Trait("case", "WP-09")]
    public void With_XDS_ADDRESS_it_joins_the_mesh_with_ztunnel_s_variables()
    {
        WaypointMeshOptions options = WaypointMeshOptions.FromEnvironment(new Hashtable
        {
            ["XDS_ADDRESS"] = "istiod.istio-system.svc:15012", ["CA_ROOT_CA"] = "/etc/ca-root.pem", ["AUTH_TOKEN"] = "s3cret",
            ["CLUSTER_ID"] = "east", ["TRUST_DOMAIN"] = "mesh.example", ["POD_NAMESPACE"] = "gw", ["SERVICE_ACCOUNT"] = "eastwest",
            ["POD_NAME"] = "eastwest-0", ["INSTANCE_IP"] = "10.244.0.9", ["XDS_HEADER_X-Tenant"] = "blue",
        })!;

        Assert.Equal(new Uri("https://istiod.istio-system.svc:15012"), options.Xds.Address);
        Assert.Equal(options.Xds.Address, options.Ca.Address); // CA_ADDRESS defaults to the xDS address
        Assert.Equal((IstioConnectionOptions.DefaultRootCertificatePath, "/etc/ca-root.pem"), (options.Xds.RootCertificate, options.Ca.RootCertificate));
        Assert.Equal(("s3cret", null, "east"), (options.Ca.StaticToken, options.Ca.TokenPath, options.Ca.ClusterId));
        Assert.Equal("blue", Assert.Single(options.Xds.Headers).Value);
        Assert.Empty(options.Ca.Headers);
        Assert.Equal("spiffe://mesh.example/ns/gw/sa/eastwest", options.Identity.ToString());
        Assert.Equal("waypoint~10.244.0.9~eastwest-0.gw~gw.svc.cluster.local", options.Node.Id);
    }

    [Fact]
    [Trait("case", "WP-09")]
    public void An_AUTH_TOKEN_that_is_a_path_is_a_file_read_on_every_call()
    {
        var env = new Hashtable { ["XDS_ADDRESS"] = "https://istiod:15012", ["POD_NAMESPACE"] = "default", ["SERVICE_ACCOUNT"] = "waypoint", ["AUTH_TOKEN"] = "/var/run/secrets/tokens/istio-token" };

        WaypointMeshOptions options = WaypointMeshOptions.FromEnvironment(env)!;

        Assert.Equal(("/var/run/secrets/tokens/istio-token", null), (options.Xds.TokenPath, options.Xds.StaticToken));
        Assert.Equal(options.Xds.TokenPath, options.Ca.TokenPath);
    }

    [Theory]
    [Trait("case", "WP-09")]
    [InlineData("SERVICE_ACCOUNT", "", "SERVICE_ACCOUNT")]
    [InlineData("CA_ADDRESS", "ftp://istiod", "CA_ADDRESS")]
    [InlineData("XDS_HEADER_bad key", "x", "XDS_")]
    public void A_missing_or_bad_variable_is_one_line_naming_it(string name, string value, string named)
    {
        var env = new Hashtable { ["XDS_ADDRESS"] = "https://istiod:15012", ["POD_NAMESPACE"] = "default", ["SERVICE_ACCOUNT"] = "waypoint", [name] = value };

        var error = Assert.Throws<WaypointConfigException>(() => WaypointMeshOptions.FromEnvironment(env));

        Assert.Contains(named, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    [Trait("case", "WP-10")]
    public void A_service_s_endpoints_are_its_healthy_HBONE_pods_on_their_own_target_port()
    {
        const string Key = "default/reviews.default.svc.cluster.local";
        var service = new Service { Name = "reviews", Namespace = "default", Hostname = "reviews.default.svc.cluster.local" };
        service.Addresses.Add(new NetworkAddress { Address = ByteString.CopyFrom(IPAddress.Parse("10.96.0.40").GetAddressBytes()) });
        service.Ports.Add(new Port { ServicePort = 80, TargetPort = 8080 });
        var snapshot = MeshSnapshot.Empty with
        {
            Workloads = ImmutableDictionary.CreateRange(StringComparer.Ordinal, new[]
            {
                Pod("a", "10.244.0.2", TunnelProtocol.Hbone, WorkloadStatus.Healthy, Key, targetPort: 0),
                Pod("b", "10.244.0.3", TunnelProtocol.Hbone, WorkloadStatus.Healthy, Key, targetPort: 9090),
                Pod("c", "10.244.0.4", TunnelProtocol.None, WorkloadStatus.Healthy, Key, targetPort: 0),
                Pod("d", "10.244.0.5", TunnelProtocol.Hbone, WorkloadStatus.Unhealthy, Key, targetPort: 0),
            }.Select(w => KeyValuePair.Create(w.Uid, w))),
            Services = ImmutableDictionary.CreateRange(StringComparer.Ordinal, [KeyValuePair.Create(Key, service)]),
        };

        WaypointService converted = Assert.Single(MeshServiceSource.Convert(snapshot, "cluster.local"));

        Assert.Equal(("reviews.default.svc.cluster.local", "10.96.0.40:80"), (converted.Hostname, converted.Vip));
        Assert.Equal(
            new[] { ("10.244.0.2:8080", "spiffe://cluster.local/ns/default/sa/a"), ("10.244.0.3:9090", "spiffe://cluster.local/ns/default/sa/b") },
            converted.Endpoints.Select(e => (e.Address, e.Identity)));
    }

    private static Workload Pod(string name, string ip, TunnelProtocol protocol, WorkloadStatus status, string serviceKey, uint targetPort)
    {
        var pod = new Workload { Uid = name, Name = name, Namespace = "default", ServiceAccount = name, TunnelProtocol = protocol, Status = status };
        pod.Addresses.Add(ByteString.CopyFrom(IPAddress.Parse(ip).GetAddressBytes()));
        var ports = new PortList();
        ports.Ports.Add(new Port { ServicePort = 80, TargetPort = targetPort });
        pod.Services[serviceKey] = ports;
        return pod;
    }
}
