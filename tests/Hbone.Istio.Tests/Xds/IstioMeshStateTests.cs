using Google.Protobuf;
using Hbone.Istio.Protos.Security;
using Hbone.Istio.Protos.Workload;
using Hbone.Istio.Xds;
using SecurityAddress = Hbone.Istio.Protos.Security.Address;
using WorkloadAddress = Hbone.Istio.Protos.Workload.Address;

namespace Hbone.Istio.Tests.Xds;

public sealed class IstioMeshStateTests
{
    private static ByteString Bytes(int length) => ByteString.CopyFrom(new byte[length]);

    public static TheoryData<string, WorkloadAddress, string> InvalidAddresses() => new()
    {
        { "no-uid", new WorkloadAddress { Workload = new Workload { Name = "w" } }, "workload has no uid" },
        { "bad-ip", new WorkloadAddress { Workload = new Workload { Uid = "u", Addresses = { Bytes(5) } } }, "workload address of 5 bytes (want 4 or 16)" },
        { "bad-waypoint", new WorkloadAddress { Workload = new Workload { Uid = "u", Waypoint = new GatewayAddress { Address = new NetworkAddress { Address = Bytes(3) } } } }, "waypoint address of 3 bytes (want 4 or 16)" },
        { "no-host", new WorkloadAddress { Service = new Service { Namespace = "ns" } }, "service needs a hostname and a namespace" },
        { "no-ns", new WorkloadAddress { Service = new Service { Hostname = "h" } }, "service needs a hostname and a namespace" },
        { "bad-vip", new WorkloadAddress { Service = new Service { Namespace = "ns", Hostname = "h", Addresses = { new NetworkAddress { Address = Bytes(0) } } } }, "service address of 0 bytes (want 4 or 16)" },
        { "bad-vip-length", new WorkloadAddress { Service = new Service { Namespace = "ns", Hostname = "h", Addresses = { new NetworkAddress { Address = Bytes(4), Length = 33 } } } }, "service prefix length 33 is out of range for a 32-bit address" },
        { "empty", new WorkloadAddress(), "address has neither workload nor service" },
    };

    [Theory]
    [MemberData(nameof(InvalidAddresses))]
    public void FZ_05_Invalid_addresses_are_rejected_by_name_and_leave_the_state_unchanged(string name, WorkloadAddress value, string reason)
    {
        var state = new IstioMeshState();
        IReadOnlyList<XdsRejection> rejections = state.Apply(new XdsUpdate<WorkloadAddress>([new(name, "1", value)], []));
        Assert.Equal([new XdsRejection(name, reason)], rejections);
        Assert.Empty(state.Current.Workloads);
        Assert.Empty(state.Current.Services);
    }

    public static TheoryData<string, Authorization, string> InvalidPolicies() => new()
    {
        { "no-name", new Authorization { Namespace = "ns" }, "policy needs a name and a namespace" },
        { "no-ns", new Authorization { Name = "p" }, "policy needs a name and a namespace" },
        { "v4-prefix", Policy(new SecurityAddress { Address_ = Bytes(4), Length = 33 }), "source_ips prefix length 33 is out of range for a 32-bit address" },
        { "v6-prefix", Policy(new SecurityAddress { Address_ = Bytes(16), Length = 129 }), "source_ips prefix length 129 is out of range for a 128-bit address" },
        { "bad-ip", Policy(new SecurityAddress { Address_ = Bytes(2), Length = 8 }), "source_ips address of 2 bytes (want 4 or 16)" },
    };

    [Theory]
    [MemberData(nameof(InvalidPolicies))]
    public void FZ_05_Invalid_policies_are_rejected_by_name_so_a_bad_policy_never_becomes_an_absent_one_silently(string name, Authorization value, string reason)
    {
        var state = new IstioMeshState();
        IReadOnlyList<XdsRejection> rejections = state.Apply(new XdsUpdate<Authorization>([new(name, "1", value)], []));
        Assert.Equal([new XdsRejection(name, reason)], rejections);
        Assert.Empty(state.Current.Policies);
    }

    [Fact]
    public void XDS_03_Each_batch_publishes_a_new_snapshot_and_leaves_the_old_one_untouched()
    {
        var state = new IstioMeshState();
        List<MeshSnapshot> published = [];
        state.Changed += (_, snapshot) => published.Add(snapshot);
        var workload = new WorkloadAddress { Workload = new Workload { Uid = "u1", Addresses = { Bytes(16) } } };

        state.Apply(new XdsUpdate<WorkloadAddress>([new("u1", "1", workload)], []));
        MeshSnapshot first = state.Current;
        state.Apply(new XdsUpdate<WorkloadAddress>([], ["u1"]));

        Assert.Equal([first, state.Current], published);
        Assert.Equal(["u1"], first.Workloads.Keys);
        Assert.Empty(state.Current.Workloads);
    }

    private static Authorization Policy(SecurityAddress sourceIp) => new()
    {
        Name = "p",
        Namespace = "ns",
        Rules = { new Rule { Clauses = { new Clause { Matches = { new Match { SourceIps = { sourceIp } } } } } } },
    };
}
