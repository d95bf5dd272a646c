using Hbone.Ztunnel.Cni.Netns;

namespace Hbone.Ztunnel.Cni.Tests.Agent.Kubernetes;

/// <summary>The pod uid in /proc/PID/cgroup, on lines as kubelets and runtimes write them (CNI-AGENT-18).</summary>
public sealed class CgroupPodUidTests
{
    private const string Uid = "2c48913c-b29f-11e7-9350-020968147796";

    [Theory]
    [Trait("case", "CNI-AGENT-18")]
    // cgroupfs driver, v1 and v2
    [InlineData("12:memory:/kubepods/burstable/pod2c48913c-b29f-11e7-9350-020968147796/9bca8d63d5fa610783847915bcff0ecac1273e5b4bed3f6fa1b07350e0135961", Uid)]
    [InlineData("0::/kubepods/besteffort/pod2c48913c-b29f-11e7-9350-020968147796/aff34703e5e1f89443e9a1bffcc80f43f74d4808a2dd22c8f88c08547b323934", Uid)]
    // Kubernetes in Docker (kind): the kubelet's tree under the node container's
    [InlineData("0::/docker/8d461fa5765781bcf5f7eb192f101bc3103d4b932e26236f43feecfa20664f96/kubepods/besteffort/pod2c48913c-b29f-11e7-9350-020968147796/aff34703e5e1f89443e9a1bffcc80f43f74d4808a2dd22c8f88c08547b323934", Uid)]
    // systemd driver: '_' in the uid, a .slice, a runtime-prefixed .scope
    [InlineData("0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod2c48913c_b29f_11e7_9350_020968147796.slice/cri-containerd-9bca8d63d5fa610783847915bcff0ecac1273e5b4bed3f6fa1b07350e0135961.scope", Uid)]
    [InlineData("1:name=systemd:/kubepods.slice/kubepods-pod2c48913c_b29f_11e7_9350_020968147796.slice/docker-9bca8d63d5fa610783847915bcff0ecac1273e5b4bed3f6fa1b07350e0135961.scope", Uid)]
    [InlineData("0::/kubepods-besteffort-pod2c48913c_b29f_11e7_9350_020968147796.slice:cri-containerd:b2a102854b4969b2ce98dc329c86b4fb2b06e4ad2cc8da9d8a7578c9cd2004a2", Uid)]
    // a cgroup namespace: the path is relative to the agent's own cgroup
    [InlineData("0::/../../pod2c48913c-b29f-11e7-9350-020968147796/9bca8d63d5fa610783847915bcff0ecac1273e5b4bed3f6fa1b07350e0135961", Uid)]
    // not a pod's container
    [InlineData("0::/", null)]
    [InlineData("0::/system.slice/containerd.service", null)]
    [InlineData("0::/user.slice/user-0.slice/session-1.scope", null)]
    [InlineData("0::/kubepods/burstable/pod2c48913c-b29f-11e7-9350-020968147796", null)]
    [InlineData("0::/../crio-45490e76e0878aaa4d9808f7d2eefba37f093c3efbba9838b6d8ab804d9bd814.scope", null)]
    [InlineData("0::/kubepods/podnot-a-uid/9bca8d63", null)]
    public void CNI_AGENT_18_one_line(string line, string? expected)
    {
        Assert.Equal(expected, CgroupPodUid.Parse(line + "\n"));
    }

    [Fact]
    [Trait("case", "CNI-AGENT-18")]
    public void CNI_AGENT_18_a_hybrid_host_file_agrees_on_one_pod_and_disagreeing_lines_are_not_trusted()
    {
        const string Container = "9bca8d63d5fa610783847915bcff0ecac1273e5b4bed3f6fa1b07350e0135961";
        var hybrid = $"""
            12:pids:/kubepods/burstable/pod{Uid}/{Container}
            11:memory:/kubepods/burstable/pod{Uid}/{Container}
            1:name=systemd:/
            0::/
            """;
        var twoPods = $"""
            12:pids:/kubepods/burstable/pod{Uid}/{Container}
            0::/kubepods/burstable/pod00000000-b29f-11e7-9350-020968147796/{Container}
            """;
        var twoContainers = $"""
            12:pids:/kubepods/burstable/pod{Uid}/{Container}
            0::/kubepods/burstable/pod{Uid}/0000
            """;

        Assert.Equal(Uid, CgroupPodUid.Parse(hybrid));
        Assert.Null(CgroupPodUid.Parse(twoPods));
        Assert.Null(CgroupPodUid.Parse(twoContainers));
        Assert.Null(CgroupPodUid.Parse("garbage without colons\n"));
        Assert.Equal((Uid, Container), CgroupPodUid.ParsePath($"/kubepods/pod{Uid}/{Container}"));
    }

    [Fact]
    [Trait("case", "CNI-AGENT-18")]
    public void CNI_AGENT_18_stat_start_time_and_ip_addr_output_are_read_as_the_finder_needs()
    {
        // A process name with spaces and a ')' must not shift the fields.
        const string Stat = "4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000000 200 18446744073709551615";
        const string IpAddr = """
            1: lo    inet 127.0.0.1/8 scope host lo\       valid_lft forever preferred_lft forever
            2: eth0    inet 10.244.0.5/32 scope global eth0\       valid_lft forever preferred_lft forever
            2: eth0    inet6 fd00::5/128 scope global \       valid_lft forever preferred_lft forever
            """;

        Assert.Equal(987654UL, PodNetnsFinder.StartTimeOf(Stat));
        Assert.Equal(["127.0.0.1", "10.244.0.5", "fd00::5"], PodNetnsFinder.AddressesOf(IpAddr).Select(a => a.ToString()));
    }
}
