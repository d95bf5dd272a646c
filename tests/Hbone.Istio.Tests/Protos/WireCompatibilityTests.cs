using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Hbone.Istio.Protos.Ca;
using Hbone.Istio.Protos.Envoy.Discovery;
using Hbone.Istio.Protos.Security;
using Hbone.Istio.Protos.Workload;
using Address = Hbone.Istio.Protos.Workload.Address;

namespace Hbone.Istio.Tests.Protos;

/// <summary>
/// Bytes built by hand from the field numbers of istio/istio's workload.proto and authorization.proto, istio/api's
/// ca.proto and Envoy's discovery.proto, decoded with our generated types (WIRE-01..06).
/// </summary>
public sealed class WireCompatibilityTests
{
    private static readonly byte[] PodIp = [10, 244, 1, 3];
    private static readonly byte[] Vip = [10, 96, 0, 10];

    [Fact]
    public void WIRE_01_an_Address_holding_a_workload_decodes_every_field_by_Istios_numbers()
    {
        byte[] wire = new ProtoWriter().Message(1, w => w
            .String(20, "cluster1//v1/Pod/default/echo")
            .String(1, "echo")
            .String(2, "default")
            .Bytes(3, PodIp)
            .String(4, "net1")
            .Varint(5, 1)
            .String(6, "cluster.local")
            .String(7, "echo-sa")
            .Message(8, g => g.Message(2, a => a.String(1, "net1").Bytes(2, [10, 244, 2, 9])).Varint(3, 15008))
            .String(9, "node-b")
            .String(10, "echo-canonical")
            .String(11, "v1")
            .Varint(12, 2)
            .String(13, "echo-deploy")
            .Varint(14, 1)
            .Message(22, e => e.String(1, "default/echo.default.svc.cluster.local").Message(2, l => l.Message(1, p => p.Varint(1, 80).Varint(2, 8080))))
            .String(16, "default/only-client")
            .Varint(17, 1)
            .String(18, "cluster1")
            .String(21, "echo.example")
            .Message(24, l => l.String(1, "region").String(2, "zone").String(3, "subzone"))).ToArray();

        Address address = Address.Parser.ParseFrom(wire);
        Assert.Equal(Address.TypeOneofCase.Workload, address.TypeCase);
        Workload w = address.Workload;
        Assert.Equal(("cluster1//v1/Pod/default/echo", "echo", "default", "net1"), (w.Uid, w.Name, w.Namespace, w.Network));
        Assert.Equal(PodIp, w.Addresses[0].ToByteArray());
        Assert.Equal(TunnelProtocol.Hbone, w.TunnelProtocol);
        Assert.Equal(("cluster.local", "echo-sa", "node-b"), (w.TrustDomain, w.ServiceAccount, w.Node));
        Assert.Equal(GatewayAddress.DestinationOneofCase.Address, w.Waypoint.DestinationCase);
        Assert.Equal(("net1", 15008u), (w.Waypoint.Address.Network, w.Waypoint.HboneMtlsPort));
        Assert.Equal(("echo-canonical", "v1", WorkloadType.Pod, "echo-deploy", true), (w.CanonicalName, w.CanonicalRevision, w.WorkloadType, w.WorkloadName, w.NativeTunnel));
        Assert.Equal((80u, 8080u), (w.Services["default/echo.default.svc.cluster.local"].Ports[0].ServicePort, w.Services["default/echo.default.svc.cluster.local"].Ports[0].TargetPort));
        Assert.Equal(["default/only-client"], w.AuthorizationPolicies);
        Assert.Equal((WorkloadStatus.Unhealthy, "cluster1", "echo.example"), (w.Status, w.ClusterId, w.Hostname));
        Assert.Equal(("region", "zone", "subzone"), (w.Locality.Region, w.Locality.Zone, w.Locality.Subzone));
    }

    [Fact]
    public void WIRE_02_an_Address_holding_a_service_decodes_every_field_by_Istios_numbers()
    {
        byte[] wire = new ProtoWriter().Message(2, s => s
            .String(1, "echo")
            .String(2, "default")
            .String(3, "echo.default.svc.cluster.local")
            .Message(4, a => a.String(1, "").Bytes(2, Vip).Varint(3, 32))
            .Message(5, p => p.Varint(1, 80).Varint(2, 8080).Varint(3, 4))
            .String(6, "spiffe://cluster.local/ns/default/sa/echo")
            .Message(7, g => g.Message(1, h => h.String(1, "default").String(2, "waypoint.default.svc.cluster.local")).Varint(3, 15008))
            .Varint(9, 3)
            .Varint(11, 1)
            .Varint(12, 1)
            .Message(13, ww => ww.Message(1, g => g.Message(2, a => a.Bytes(2, [10, 96, 0, 20]))).Varint(2, 70))
            .Varint(14, 1)).ToArray();

        Service s = Address.Parser.ParseFrom(wire).Service;
        Assert.Equal(("echo", "default", "echo.default.svc.cluster.local"), (s.Name, s.Namespace, s.Hostname));
        Assert.Equal(Vip, s.Addresses[0].Address.ToByteArray());
        Assert.True(s.Addresses[0].HasLength);
        Assert.Equal(32u, s.Addresses[0].Length);
        Assert.Equal((80u, 8080u, AppProtocol.Tcp), (s.Ports[0].ServicePort, s.Ports[0].TargetPort, s.Ports[0].AppProtocol));
        Assert.Equal(["spiffe://cluster.local/ns/default/sa/echo"], s.SubjectAltNames);
        Assert.Equal("waypoint.default.svc.cluster.local", s.Waypoint.Hostname.Hostname);
        Assert.Equal((IPFamilies.Dual, true, true), (s.IpFamilies, s.Canonical, s.IngressUseWaypoint));
        Assert.Equal(70u, s.WeightedWaypoints[0].Weight);
        Assert.Equal(Service.Types.Visibility.Namespace, s.Visibility);
    }

    [Fact]
    public void WIRE_03_an_Authorization_decodes_every_field_by_Istios_numbers()
    {
        byte[] wire = new ProtoWriter()
            .String(1, "only-client")
            .String(2, "default")
            .Varint(3, 2)
            .Varint(4, 1)
            .Message(5, r => r.Message(1, c => c.Message(2, m => m
                .Message(1, x => x.String(1, "default"))
                .Message(2, x => x.String(2, "kube-"))
                .Message(3, x => x.String(3, "/sa/client"))
                .Message(4, x => x.Message(4, _ => { }))
                .Message(5, a => a.Bytes(1, [10, 244, 0, 0]).Varint(2, 16))
                .Message(8, a => a.Bytes(1, PodIp).Varint(2, 32))
                .PackedVarints(9, 8080, 8443)
                .PackedVarints(10, 9999)
                .Message(11, sa => sa.String(1, "default").String(2, "client"))
                .Message(12, sa => sa.String(1, "other").String(2, "bad")))))
            .Varint(6, 1).ToArray();

        Authorization p = Authorization.Parser.ParseFrom(wire);
        Assert.Equal(("only-client", "default", Scope.WorkloadSelector, Hbone.Istio.Protos.Security.Action.Deny, true), (p.Name, p.Namespace, p.Scope, p.Action, p.DryRun));
        Match m = p.Rules[0].Clauses[0].Matches[0];
        Assert.Equal("default", m.Namespaces[0].Exact);
        Assert.Equal("kube-", m.NotNamespaces[0].Prefix);
        Assert.Equal("/sa/client", m.Principals[0].Suffix);
        Assert.Equal(StringMatch.MatchTypeOneofCase.Presence, m.NotPrincipals[0].MatchTypeCase);
        Assert.Equal((16u, 32u), (m.SourceIps[0].Length, m.NotDestinationIps[0].Length));
        Assert.Equal([8080u, 8443u], m.DestinationPorts);
        Assert.Equal([9999u], m.NotDestinationPorts);
        Assert.Equal(("default", "client"), (m.ServiceAccounts[0].Namespace, m.ServiceAccounts[0].ServiceAccount));
        Assert.Equal("bad", m.NotServiceAccounts[0].ServiceAccount);
    }

    [Fact]
    public void WIRE_04_the_CA_messages_use_istio_apis_numbers()
    {
        byte[] request = new ProtoWriter()
            .String(1, "-----BEGIN CERTIFICATE REQUEST-----")
            .Varint(3, 86400)
            .Message(4, s => s.Message(1, e => e.String(1, "ImpersonatedIdentity").Message(2, v => v.String(3, "spiffe://cluster.local/ns/default/sa/echo")))).ToArray();
        IstioCertificateRequest decoded = IstioCertificateRequest.Parser.ParseFrom(request);
        Assert.Equal(("-----BEGIN CERTIFICATE REQUEST-----", 86400L), (decoded.Csr, decoded.ValidityDuration));
        Assert.Equal("spiffe://cluster.local/ns/default/sa/echo", decoded.Metadata.Fields["ImpersonatedIdentity"].StringValue);

        IstioCertificateResponse response = IstioCertificateResponse.Parser.ParseFrom(new ProtoWriter().String(1, "leaf").String(1, "root").ToArray());
        Assert.Equal(["leaf", "root"], response.CertChain);
        Assert.Equal("istio.v1.auth.IstioCertificateService", IstioCertificateService.Descriptor.FullName);
    }

    [Fact]
    public void WIRE_05_delta_xds_messages_use_Envoys_numbers()
    {
        byte[] request = new ProtoWriter()
            .Message(1, n => n.String(1, "ztunnel~10.0.0.5~zt.istio-system~istio-system.svc.cluster.local").String(2, "cluster"))
            .String(2, "type.googleapis.com/istio.workload.Address")
            .String(3, "a").String(4, "b")
            .Message(5, e => e.String(1, "uid-1").String(2, "v1"))
            .String(6, "nonce-1")
            .Message(7, s => s.Varint(1, 3).String(2, "bad: reason")).ToArray();
        DeltaDiscoveryRequest r = DeltaDiscoveryRequest.Parser.ParseFrom(request);
        Assert.Equal("ztunnel~10.0.0.5~zt.istio-system~istio-system.svc.cluster.local", r.Node.Id);
        Assert.Equal(("type.googleapis.com/istio.workload.Address", "a", "b", "v1", "nonce-1"), (r.TypeUrl, r.ResourceNamesSubscribe[0], r.ResourceNamesUnsubscribe[0], r.InitialResourceVersions["uid-1"], r.ResponseNonce));
        Assert.Equal((3, "bad: reason"), (r.ErrorDetail.Code, r.ErrorDetail.Message));

        byte[] workload = new ProtoWriter().Message(1, w => w.String(20, "uid-1")).ToArray();
        byte[] response = new ProtoWriter()
            .String(1, "sys-v")
            .Message(2, res => res.String(1, "v1").Message(2, any => any.String(1, "type.googleapis.com/istio.workload.Address").Bytes(2, workload)).String(3, "uid-1"))
            .String(4, "type.googleapis.com/istio.workload.Address")
            .String(5, "nonce-2")
            .String(6, "gone-uid").ToArray();
        DeltaDiscoveryResponse d = DeltaDiscoveryResponse.Parser.ParseFrom(response);
        Assert.Equal(("sys-v", "type.googleapis.com/istio.workload.Address", "nonce-2", "gone-uid"), (d.SystemVersionInfo, d.TypeUrl, d.Nonce, d.RemovedResources[0]));
        Assert.Equal(("uid-1", "v1"), (d.Resources[0].Name, d.Resources[0].Version));
        Assert.Equal("uid-1", d.Resources[0].Resource_.Unpack<Address>().Workload.Uid);
    }

    [Fact]
    public void WIRE_06_type_urls_and_the_rpc_path_are_Istios_and_Envoys()
    {
        Assert.Equal("type.googleapis.com/istio.workload.Address", Any.Pack(new Address()).TypeUrl);
        Assert.Equal("type.googleapis.com/istio.security.Authorization", Any.Pack(new Authorization()).TypeUrl);
        Assert.Equal("envoy.service.discovery.v3.AggregatedDiscoveryService", AggregatedDiscoveryService.Descriptor.FullName);
        Assert.Contains(AggregatedDiscoveryService.Descriptor.Methods, m => m.Name == "DeltaAggregatedResources" && m.IsClientStreaming && m.IsServerStreaming);
        Assert.Equal("envoy.config.core.v3.Node", Hbone.Istio.Protos.Envoy.Core.Node.Descriptor.FullName);
        Assert.Equal("google.rpc.Status", Hbone.Istio.Protos.Rpc.Status.Descriptor.FullName);
    }
}
