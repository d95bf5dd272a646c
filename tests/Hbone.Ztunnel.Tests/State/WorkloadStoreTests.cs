using System.Net;
using Hbone.Identity;
using Hbone.Ztunnel.Config;
using Hbone.Ztunnel.State;

namespace Hbone.Ztunnel.Tests.State;

public sealed class WorkloadStoreTests
{
    private const string Yaml = """
        workloads:
        - { uid: c1, name: client, namespace: default, serviceAccount: client, workloadIps: ["10.244.0.2"], protocol: HBONE, node: node-a }
        - { uid: e1, name: echo-1, namespace: default, serviceAccount: echo, workloadIps: ["10.244.0.11"], protocol: HBONE,
            services: { "default/echo.default.svc.cluster.local": { 80: 8080 } } }
        - { uid: e2, name: echo-2, namespace: default, serviceAccount: echo, workloadIps: ["10.244.0.12"], protocol: HBONE,
            services: { "default/echo.default.svc.cluster.local": { 80: 8080 } } }
        - { uid: e3, name: echo-3, namespace: default, serviceAccount: echo, workloadIps: ["10.244.0.13"], protocol: HBONE,
            services: { "default/echo.default.svc.cluster.local": { 80: 9090 } } }
        - { uid: legacy, name: legacy, namespace: default, serviceAccount: legacy, workloadIps: ["10.244.0.20"], protocol: TCP }
        - { uid: wp, name: waypoint, namespace: default, serviceAccount: waypoint, workloadIps: ["10.244.0.30"], protocol: HBONE }
        - { uid: behind, name: behind, namespace: default, serviceAccount: behind, workloadIps: ["10.244.0.40"], protocol: HBONE,
            waypoint: { destination: "/10.244.0.30", hboneMtlsPort: 15008 } }
        - { uid: other-net, name: far, namespace: default, serviceAccount: far, workloadIps: ["10.244.0.2"], network: net2, protocol: TCP }
        services:
        - name: echo
          namespace: default
          hostname: echo.default.svc.cluster.local
          vips: ["/10.96.0.10"]
          ports: { 80: 8080, 443: 8443 }
          subjectAltNames: ["spiffe://cluster.local/ns/default/sa/echo-alt"]
        - name: guarded
          namespace: default
          hostname: guarded.default.svc.cluster.local
          vips: ["10.96.0.20"]
          ports: { 80: 8080 }
          waypoint: { address: "10.244.0.30" }
        """;

    private static WorkloadStore NewStore()
    {
        var store = new WorkloadStore();
        store.Update(LocalConfigParser.Parse(Yaml));
        return store;
    }

    private static IPEndPoint Ep(string text) => IPEndPoint.Parse(text);

    [Fact]
    public void Lookups_by_ip_are_network_aware_and_by_uid_and_service()
    {
        WorkloadStore store = NewStore();
        Assert.Equal("c1", store.FindWorkload("", IPAddress.Parse("10.244.0.2"))!.Uid);
        Assert.Equal("other-net", store.FindWorkload("net2", IPAddress.Parse("10.244.0.2"))!.Uid);
        Assert.Equal("c1", store.FindWorkload("", IPAddress.Parse("::ffff:10.244.0.2"))!.Uid);
        Assert.Null(store.FindWorkload("net3", IPAddress.Parse("10.244.0.2")));
        Assert.Equal("legacy", store.FindWorkloadByUid("legacy")!.Name);
        Assert.Equal("echo", store.FindService("", IPAddress.Parse("10.96.0.10"))!.Name);
        Assert.Equal("echo", store.FindServiceByHostname("echo.default.svc.cluster.local")!.Name);
        Assert.Null(store.FindService("", IPAddress.Parse("10.96.0.99")));
    }

    [Fact]
    public void Workload_ip_goes_over_hbone_to_the_pod()
    {
        RouteDecision r = NewStore().Resolve(Ep("10.244.0.11:8080"), source: null);
        Assert.Equal(RouteKind.Workload, r.Kind);
        Assert.Equal(Ep("10.244.0.11:15008"), r.Destination);
        Assert.Equal("10.244.0.11:8080", r.Authority.ToString());
        Assert.Equal([SpiffeId.ForIstio("cluster.local", "default", "echo")], r.ExpectedIdentities);
        Assert.Equal("e1", r.Workload!.Uid);
    }

    [Fact]
    public void Vip_maps_the_port_picks_an_endpoint_and_expects_its_identity_and_the_service_sans()
    {
        WorkloadStore store = NewStore();
        RouteDecision r = store.Resolve(Ep("10.96.0.10:80"), store.FindWorkloadByUid("c1"));
        Assert.Equal(RouteKind.ServiceVip, r.Kind);
        Assert.Equal(15008, r.Destination.Port);
        string expectedPort = r.Workload!.Uid == "e3" ? "9090" : "8080";
        Assert.Equal($"{r.Destination.Address}:{expectedPort}", r.Authority.ToString());
        Assert.Equal("echo.default.svc.cluster.local", r.ForwardedHost);
        Assert.Equal(
            [SpiffeId.ForIstio("cluster.local", "default", "echo"), SpiffeId.Parse("spiffe://cluster.local/ns/default/sa/echo-alt")],
            r.ExpectedIdentities);
    }

    [Fact]
    [Trait("case", "INT-02")]
    public void A_dual_stack_service_sends_its_IPv6_VIP_to_the_endpoint_s_IPv6_address_and_its_IPv4_VIP_to_the_IPv4_one()
    {
        var store = new WorkloadStore();
        store.Update(LocalConfigParser.Parse("""
            workloads:
            - { uid: c1, name: client, namespace: default, serviceAccount: client, workloadIps: ["10.244.0.2", "fd00::2"], protocol: HBONE }
            - { uid: e1, name: echo, namespace: default, serviceAccount: echo, workloadIps: ["10.244.0.11", "fd00::11"], protocol: HBONE,
                services: { "default/echo.default.svc.cluster.local": { 80: 8080 } } }
            services:
            - { name: echo, namespace: default, hostname: echo.default.svc.cluster.local, vips: ["/10.96.0.10", "/fd00:96::10"], ports: { 80: 8080 } }
            """));

        RouteDecision v6 = store.Resolve(Ep("[fd00:96::10]:80"), store.FindWorkloadByUid("c1"));
        RouteDecision v4 = store.Resolve(Ep("10.96.0.10:80"), store.FindWorkloadByUid("c1"));

        Assert.Equal((RouteKind.ServiceVip, "[fd00::11]:15008", "[fd00::11]:8080"), (v6.Kind, v6.Destination.ToString(), v6.Authority.ToString()));
        Assert.Equal((RouteKind.ServiceVip, "10.244.0.11:15008", "10.244.0.11:8080"), (v4.Kind, v4.Destination.ToString(), v4.Authority.ToString()));
    }

    [Fact]
    public void Vip_spreads_100_picks_over_every_endpoint()
    {
        WorkloadStore store = NewStore();
        var counts = new Dictionary<string, int>();
        for (int i = 0; i < 100; i++)
        {
            RouteDecision r = store.Resolve(Ep("10.96.0.10:80"), null);
            var authority = r.Authority!.Value.ToString();
            counts[authority] = counts.GetValueOrDefault(authority) + 1;
        }

        Assert.Equal(["10.244.0.11:8080", "10.244.0.12:8080", "10.244.0.13:9090"], counts.Keys.Order());
        Assert.All(counts.Values, c => Assert.InRange(c, 30, 37));
    }

    [Fact]
    public void Vip_port_the_service_does_not_declare_has_no_endpoint()
    {
        RouteDecision r = NewStore().Resolve(Ep("10.96.0.10:9999"), null);
        Assert.Equal(RouteKind.NoEndpoint, r.Kind);
        Assert.Contains("port 9999", r.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Service_port_without_workload_override_uses_the_service_target_port()
    {
        WorkloadStore store = NewStore();
        var authorities = new HashSet<string>();
        for (int i = 0; i < 3; i++)
        {
            authorities.Add(store.Resolve(Ep("10.96.0.10:443"), null).Authority!.Value.ToString());
        }

        Assert.Equal(["10.244.0.11:8443", "10.244.0.12:8443", "10.244.0.13:8443"], authorities.Order());
    }

    [Fact]
    public void Service_with_waypoint_goes_to_the_waypoint_with_the_original_destination_as_authority()
    {
        WorkloadStore store = NewStore();
        RouteDecision r = store.Resolve(Ep("10.96.0.20:80"), store.FindWorkloadByUid("c1"));
        Assert.Equal(RouteKind.Waypoint, r.Kind);
        Assert.Equal(Ep("10.244.0.30:15008"), r.Destination);
        Assert.Equal("10.96.0.20:80", r.Authority.ToString());
        Assert.Equal([SpiffeId.ForIstio("cluster.local", "default", "waypoint")], r.ExpectedIdentities);
        Assert.Equal("guarded.default.svc.cluster.local", r.ForwardedHost);
    }

    [Fact]
    public void Workload_with_waypoint_goes_to_the_waypoint_unless_the_waypoint_sends()
    {
        WorkloadStore store = NewStore();
        RouteDecision viaWaypoint = store.Resolve(Ep("10.244.0.40:8080"), store.FindWorkloadByUid("c1"));
        Assert.Equal(RouteKind.Waypoint, viaWaypoint.Kind);
        Assert.Equal(Ep("10.244.0.30:15008"), viaWaypoint.Destination);
        Assert.Equal("10.244.0.40:8080", viaWaypoint.Authority.ToString());

        RouteDecision fromWaypoint = store.Resolve(Ep("10.244.0.40:8080"), store.FindWorkloadByUid("wp"));
        Assert.Equal(RouteKind.Workload, fromWaypoint.Kind);
        Assert.Equal(Ep("10.244.0.40:15008"), fromWaypoint.Destination);
    }

    [Fact]
    public void A_waypoint_given_as_a_service_VIP_is_reached_at_one_of_its_pods_whose_own_identity_is_expected()
    {
        var store = new WorkloadStore();
        store.Update(LocalConfigParser.Parse("""
            workloads:
            - { uid: c1, name: client, namespace: default, serviceAccount: client, workloadIps: ["10.244.0.2"], protocol: HBONE }
            - { uid: wp, name: waypoint-0, namespace: default, serviceAccount: waypoint, workloadIps: ["10.244.0.30"], protocol: HBONE,
                services: { "default/waypoint.default.svc.cluster.local": { 15008: 15008 } } }
            services:
            - { name: waypoint, namespace: default, hostname: waypoint.default.svc.cluster.local, vips: ["/10.96.0.30"], ports: { 15008: 15008 } }
            - { name: reviews, namespace: default, hostname: reviews.default.svc.cluster.local, vips: ["/10.96.0.40"], ports: { 80: 8080 },
                waypoint: { address: "10.96.0.30" } }
            - { name: lost, namespace: default, hostname: lost.default.svc.cluster.local, vips: ["/10.96.0.50"], ports: { 80: 8080 },
                waypoint: { address: "10.96.0.99" } }
            """));

        RouteDecision r = store.Resolve(Ep("10.96.0.40:80"), store.FindWorkloadByUid("c1"));
        RouteDecision lost = store.Resolve(Ep("10.96.0.50:80"), store.FindWorkloadByUid("c1"));

        Assert.Equal((RouteKind.Waypoint, "10.244.0.30:15008", "10.96.0.40:80"), (r.Kind, r.Destination.ToString(), r.Authority.ToString()));
        Assert.Equal([SpiffeId.ForIstio("cluster.local", "default", "waypoint")], r.ExpectedIdentities);
        Assert.Equal(RouteKind.NoEndpoint, lost.Kind); // an unknown waypoint fails closed: no tunnel to whoever answers there
        Assert.Contains("waypoint /10.96.0.99", lost.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Only_the_waypoint_a_workload_or_its_service_sits_behind_counts_as_its_waypoint()
    {
        WorkloadStore store = NewStore();
        WorkloadSnapshot snapshot = store.Current;
        var waypoint = SpiffeId.ForIstio("cluster.local", "default", "waypoint");

        Assert.True(snapshot.IsWaypointOf(store.FindWorkloadByUid("behind")!, waypoint));
        Assert.False(snapshot.IsWaypointOf(store.FindWorkloadByUid("behind")!, SpiffeId.ForIstio("cluster.local", "default", "client")));
        Assert.False(snapshot.IsWaypointOf(store.FindWorkloadByUid("e1")!, waypoint)); // echo has no waypoint
    }

    [Fact]
    public void Unknown_address_is_passthrough()
    {
        RouteDecision r = NewStore().Resolve(Ep("93.184.216.34:443"), null);
        Assert.Equal(new RouteDecision(RouteKind.Passthrough, Ep("93.184.216.34:443")), r);
    }

    [Fact]
    public void Tcp_workload_is_plaintext_to_the_original_destination()
    {
        RouteDecision r = NewStore().Resolve(Ep("10.244.0.20:5432"), null);
        Assert.Equal(RouteKind.PlaintextWorkload, r.Kind);
        Assert.Equal(Ep("10.244.0.20:5432"), r.Destination);
        Assert.Null(r.Authority);
        Assert.Empty(r.ExpectedIdentities);
    }

    [Fact]
    public void Source_network_scopes_the_lookup()
    {
        WorkloadStore store = NewStore();
        RouteDecision r = store.Resolve(Ep("10.244.0.2:80"), store.FindWorkloadByUid("other-net"));
        Assert.Equal(RouteKind.PlaintextWorkload, r.Kind);
        Assert.Equal("other-net", r.Workload!.Uid);
    }

    [Fact]
    public void Update_swaps_the_whole_snapshot()
    {
        WorkloadStore store = NewStore();
        WorkloadSnapshot before = store.Current;
        store.Update(LocalConfig.Empty);
        Assert.Equal(RouteKind.Passthrough, store.Resolve(Ep("10.244.0.11:8080"), null).Kind);
        Assert.Equal(RouteKind.Workload, before.Resolve(Ep("10.244.0.11:8080"), null).Kind);
    }
}
