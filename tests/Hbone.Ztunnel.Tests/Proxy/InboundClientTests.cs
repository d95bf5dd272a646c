using System.Net;
using Hbone.Identity;
using Hbone.Ztunnel.Config;
using Hbone.Ztunnel.Proxy.Inbound;
using Hbone.Ztunnel.State;

namespace Hbone.Ztunnel.Tests.Proxy;

/// <summary>
/// ADV-05: the client an inbound tunnel reports and delivers as is the TCP peer unless that peer is the destination's
/// own waypoint, whatever <c>Forwarded: for=</c> says.
/// </summary>
public sealed class InboundClientTests
{
    private const string Yaml = """
        workloads:
        - { uid: wp, name: waypoint, namespace: default, serviceAccount: waypoint, workloadIps: ["10.244.0.30"], protocol: HBONE }
        - { uid: behind, name: behind, namespace: default, serviceAccount: behind, workloadIps: ["10.244.0.40"], protocol: HBONE,
            waypoint: { destination: "/10.244.0.30", hboneMtlsPort: 15008 } }
        - { uid: plain, name: plain, namespace: default, serviceAccount: plain, workloadIps: ["10.244.0.50"], protocol: HBONE }
        """;

    private static readonly SpiffeId Waypoint = SpiffeId.ForIstio("cluster.local", "default", "waypoint");
    private static readonly IPEndPoint Peer = IPEndPoint.Parse("10.244.0.30:40000");
    private static readonly IPEndPoint Claimed = IPEndPoint.Parse("10.244.0.2:51000");

    [Fact]
    [Trait("case", "ADV-05")]
    public void A_peer_that_is_not_the_destination_s_waypoint_is_the_client_whatever_Forwarded_claims()
    {
        var (store, behind) = Behind();
        var stranger = SpiffeId.ForIstio("cluster.local", "default", "client");
        var other = IPEndPoint.Parse("10.244.0.9:40001");

        Assert.Equal(other, InboundClient.Resolve(other, Claimed, stranger, behind, store.Current));
    }

    [Fact]
    [Trait("case", "ADV-05")]
    public void The_waypoint_of_another_workload_is_not_trusted_for_this_one()
    {
        var store = Store();
        var plain = store.FindWorkloadByUid("plain")!;

        Assert.Equal(Peer, InboundClient.Resolve(Peer, Claimed, Waypoint, plain, store.Current));
    }

    [Fact]
    [Trait("case", "ADV-05")]
    public void The_destination_s_own_waypoint_names_the_original_client()
    {
        var (store, behind) = Behind();

        Assert.Equal(Claimed, InboundClient.Resolve(Peer, Claimed, Waypoint, behind, store.Current));
    }

    [Fact]
    [Trait("case", "ADV-05")]
    public void Without_Forwarded_without_a_destination_or_across_address_families_the_peer_is_the_client()
    {
        var (store, behind) = Behind();

        Assert.Equal(Peer, InboundClient.Resolve(Peer, null, Waypoint, behind, store.Current));
        Assert.Equal(Peer, InboundClient.Resolve(Peer, Claimed, Waypoint, null, store.Current));
        Assert.Equal(Peer, InboundClient.Resolve(Peer, IPEndPoint.Parse("[fd00::2]:51000"), Waypoint, behind, store.Current));
        Assert.Null(InboundClient.Resolve(null, Claimed, Waypoint, behind, store.Current));
    }

    private static WorkloadStore Store()
    {
        var store = new WorkloadStore();
        store.Update(LocalConfigParser.Parse(Yaml));
        return store;
    }

    private static (WorkloadStore Store, Workload Behind) Behind()
    {
        var store = Store();
        return (store, store.FindWorkloadByUid("behind")!);
    }
}
