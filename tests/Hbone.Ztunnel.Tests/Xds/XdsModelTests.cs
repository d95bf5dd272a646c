using System.Net;
using Google.Protobuf;
using Hbone.Ztunnel.Config;
using Hbone.Ztunnel.Policy;
using Hbone.Ztunnel.State;
using Hbone.Ztunnel.Xds;
using Proto = Hbone.Istio.Protos;

namespace Hbone.Ztunnel.Tests.Xds;

public sealed class XdsModelTests
{
    private static ByteString Ip(string ip) => ByteString.CopyFrom(IPAddress.Parse(ip).GetAddressBytes());

    private static Proto.Workload.Workload Echo() => new()
    {
        Uid = "cluster1//v1/Pod/default/echo",
        Name = "echo",
        Namespace = "default",
        ServiceAccount = "echo",
        Addresses = { Ip("10.244.1.3") },
        TunnelProtocol = Proto.Workload.TunnelProtocol.Hbone,
        Node = "node-b",
        Services = { ["default/echo.default.svc.cluster.local"] = new Proto.Workload.PortList { Ports = { new Proto.Workload.Port { ServicePort = 80, TargetPort = 8080 } } } },
        AuthorizationPolicies = { "default/only-client" },
        CanonicalName = "echo",
        ClusterId = "cluster1",
    };

    private static Proto.Workload.Service EchoService() => new()
    {
        Name = "echo",
        Namespace = "default",
        Hostname = "echo.default.svc.cluster.local",
        Addresses = { new Proto.Workload.NetworkAddress { Address = Ip("10.96.0.10") } },
        Ports = { new Proto.Workload.Port { ServicePort = 80, TargetPort = 8080 } },
        SubjectAltNames = { "spiffe://cluster.local/ns/default/sa/echo" },
    };

    [Fact]
    public void XDS_MODEL_01_a_workload_keeps_every_field_the_proxy_routes_and_authorizes_by()
    {
        Workload w = XdsModel.ToWorkload(Echo());
        Assert.Equal(("cluster1//v1/Pod/default/echo", "echo", "default", "echo"), (w.Uid, w.Name, w.Namespace, w.ServiceAccount));
        Assert.Equal([IPAddress.Parse("10.244.1.3")], w.WorkloadIps);
        Assert.Equal(WorkloadProtocol.Hbone, w.Protocol);
        Assert.Equal("node-b", w.Node);
        Assert.Equal(8080, w.Services["default/echo.default.svc.cluster.local"][80]);
        Assert.Equal(["default/only-client"], w.AuthorizationPolicies);
        Assert.Equal(("echo", "cluster1"), (w.CanonicalName, w.ClusterId));
        Assert.Null(w.Waypoint);
    }

    [Fact]
    public void XDS_MODEL_02_an_unset_service_account_is_default_and_no_tunnel_is_TCP()
    {
        Workload w = XdsModel.ToWorkload(new Proto.Workload.Workload { Uid = "u", Name = "n", Namespace = "ns", Addresses = { Ip("fd00::1") } });
        Assert.Equal("default", w.ServiceAccount);
        Assert.Equal(WorkloadProtocol.Tcp, w.Protocol);
        Assert.Equal([IPAddress.Parse("fd00::1")], w.WorkloadIps);
    }

    [Fact]
    public void XDS_MODEL_03_a_service_and_a_hostname_waypoint_resolve_through_the_waypoints_VIP()
    {
        var waypointService = new Proto.Workload.Service
        {
            Name = "waypoint", Namespace = "default", Hostname = "waypoint.default.svc.cluster.local",
            Addresses = { new Proto.Workload.NetworkAddress { Network = "net1", Address = Ip("10.96.0.20") } },
        };
        var echo = EchoService();
        echo.Waypoint = new Proto.Workload.GatewayAddress { Hostname = new Proto.Workload.NamespacedHostname { Namespace = "default", Hostname = "waypoint.default.svc.cluster.local" } };
        LocalConfig config = XdsModel.ToConfig([Echo()], [echo, waypointService], []);

        Service s = Assert.Single(config.Services, x => x.Name == "echo");
        Assert.Equal([new NetworkAddress("", IPAddress.Parse("10.96.0.10"))], s.Vips);
        Assert.Equal(8080, s.Ports[80]);
        Assert.Equal(["spiffe://cluster.local/ns/default/sa/echo"], s.SubjectAltNames);
        Assert.Equal(new GatewayAddress(new NetworkAddress("net1", IPAddress.Parse("10.96.0.20")), 15008), s.Waypoint);
    }

    [Fact]
    public void XDS_MODEL_04_an_address_waypoint_keeps_its_port()
    {
        var w = Echo();
        w.Waypoint = new Proto.Workload.GatewayAddress { Address = new Proto.Workload.NetworkAddress { Address = Ip("10.244.2.9") }, HboneMtlsPort = 15009 };
        Assert.Equal(new GatewayAddress(new NetworkAddress("", IPAddress.Parse("10.244.2.9")), 15009), XdsModel.ToWorkload(w).Waypoint);
    }

    [Fact]
    public void XDS_MODEL_05_a_policy_keeps_scope_action_and_every_match_field()
    {
        var match = new Proto.Security.Match
        {
            Namespaces = { new Proto.Security.StringMatch { Exact = "default" } },
            NotNamespaces = { new Proto.Security.StringMatch { Prefix = "kube-" } },
            Principals = { new Proto.Security.StringMatch { Suffix = "/sa/client" } },
            NotPrincipals = { new Proto.Security.StringMatch { Presence = new Google.Protobuf.WellKnownTypes.Empty() } },
            ServiceAccounts = { new Proto.Security.ServiceAccountMatch { Namespace = "default", ServiceAccount = "client" } },
            SourceIps = { new Proto.Security.Address { Address_ = Ip("10.244.0.0"), Length = 16 } },
            NotDestinationIps = { new Proto.Security.Address { Address_ = Ip("10.244.9.9"), Length = 32 } },
            DestinationPorts = { 8080 },
            NotDestinationPorts = { 9999 },
        };
        var proto = new Proto.Security.Authorization
        {
            Name = "only-client", Namespace = "default", Scope = Proto.Security.Scope.WorkloadSelector, Action = Proto.Security.Action.Deny,
            Rules = { new Proto.Security.Rule { Clauses = { new Proto.Security.Clause { Matches = { match } } } } },
        };

        AuthorizationPolicy p = XdsModel.ToPolicy(proto);
        Assert.Equal(("only-client", "default", PolicyScope.WorkloadSelector, PolicyAction.Deny, false), (p.Name, p.Namespace, p.Scope, p.Action, p.DryRun));
        Assert.Null(p.Selector);
        PolicyMatch m = p.Rules[0].Clauses[0].Matches[0];
        Assert.Equal(["default"], m.Namespaces);
        Assert.Equal(["kube-*"], m.NotNamespaces);
        Assert.Equal(["*/sa/client"], m.Principals);
        Assert.Equal(["*"], m.NotPrincipals);
        Assert.Equal(["default/client"], m.ServiceAccounts);
        Assert.Equal([System.Net.IPNetwork.Parse("10.244.0.0/16")], m.SourceIps);
        Assert.Equal([System.Net.IPNetwork.Parse("10.244.9.9/32")], m.NotDestinationIps);
        Assert.Equal([8080], m.DestinationPorts);
        Assert.Equal([9999], m.NotDestinationPorts);
        Assert.False(m.RequiresL7);
    }

    [Fact]
    public void XDS_MODEL_06_a_selector_policy_from_xds_applies_only_to_workloads_that_name_it()
    {
        var deny = XdsModel.ToPolicy(new Proto.Security.Authorization
        {
            Name = "only-client", Namespace = "default", Scope = Proto.Security.Scope.WorkloadSelector, Action = Proto.Security.Action.Deny,
            Rules = { new Proto.Security.Rule { Clauses = { new Proto.Security.Clause { Matches = { new Proto.Security.Match { DestinationPorts = { 8080 } } } } } } },
        });
        var named = new DestinationWorkload("default", "echo", new Dictionary<string, string>(), ["default/only-client"]);
        var other = new DestinationWorkload("default", "other", new Dictionary<string, string>());
        var conn = Tests.Policy.PolicyFixtures.Conn(workload: named);

        Assert.False(new PolicyEngine(PolicySet.Create(named, [deny])).Authorize(conn).Allowed);
        Assert.True(new PolicyEngine(PolicySet.Create(other, [deny])).Authorize(Tests.Policy.PolicyFixtures.Conn(workload: other)).Allowed);
    }

    [Fact]
    public void XDS_MODEL_07_an_extension_fails_closed_and_a_dry_run_policy_is_known_but_not_enforced()
    {
        var withExtension = XdsModel.ToPolicy(new Proto.Security.Authorization
        {
            Name = "ext", Namespace = "default",
            Rules = { new Proto.Security.Rule { Clauses = { new Proto.Security.Clause { Matches = { new Proto.Security.Match { Extensions = { new Proto.Workload.Extension { Name = "l7" } } } } } } } },
        });
        Assert.True(withExtension.Rules[0].Clauses[0].Matches[0].RequiresL7);

        var dryRun = XdsModel.ToPolicy(new Proto.Security.Authorization { Name = "dry", Namespace = "default", Action = Proto.Security.Action.Deny, DryRun = true, Scope = Proto.Security.Scope.Namespace });
        var echo = new DestinationWorkload("default", "echo", new Dictionary<string, string>(), ["default/dry"]);
        var snapshot = new Hbone.Ztunnel.State.WorkloadSnapshot(new LocalConfig([XdsModel.ToWorkload(Echo()) with { AuthorizationPolicies = ["default/dry"] }], [], [dryRun]));
        Assert.Empty(snapshot.MissingPolicies(snapshot.Config.Workloads[0]));
        Assert.True(new PolicyEngine(PolicySet.Create(echo, [dryRun])).Authorize(Tests.Policy.PolicyFixtures.Conn(workload: echo)).Allowed);
    }

    [Fact]
    public void ADV_15_a_workload_naming_a_policy_not_yet_received_lists_it_as_missing()
    {
        var snapshot = new Hbone.Ztunnel.State.WorkloadSnapshot(XdsModel.ToConfig([Echo()], [EchoService()], []));
        Assert.Equal(["default/only-client"], snapshot.MissingPolicies(snapshot.Config.Workloads[0]));
    }
}
