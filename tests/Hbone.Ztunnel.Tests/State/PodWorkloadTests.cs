using Hbone.Ztunnel.Config;
using Hbone.Ztunnel.State;

namespace Hbone.Ztunnel.Tests.State;

/// <summary>
/// ZT-UNIT-41: a pod handed over by the node agent (istio-cni sends the Kubernetes uid) finds its workload as ztunnel
/// finds it: by uid where the config uses it, else by namespace, name and service account on this node, since istiod's
/// workload uids are <c>cluster//Pod/namespace/name</c>.
/// </summary>
public sealed class PodWorkloadTests
{
    private static readonly Workload FromIstiod = new()
    {
        Uid = "Kubernetes//Pod/default/client-7d9f", Name = "client-7d9f", Namespace = "default", ServiceAccount = "client", Node = "node-a",
    };

    private static readonly Workload Local = new() { Uid = "pod-uid-1", Name = "echo", Namespace = "default", ServiceAccount = "echo" };

    private static readonly WorkloadSnapshot Snapshot = new(new LocalConfig([FromIstiod, Local], [], []));

    [Fact]
    [Trait("case", "ZT-UNIT-41")]
    public void A_Kubernetes_uid_finds_istiods_workload_by_namespace_name_and_service_account() =>
        Assert.Same(FromIstiod, Snapshot.FindPodWorkload("3f1c0c2e-9b7a-4c55-a0de-2b1f3f2f9a10", "default", "client-7d9f", "client", "node-a"));

    [Fact]
    [Trait("case", "ZT-UNIT-41")]
    public void The_uid_wins_when_the_config_uses_it() =>
        Assert.Same(Local, Snapshot.FindPodWorkload("pod-uid-1", "other", "other", "other", "node-a"));

    [Theory]
    [Trait("case", "ZT-UNIT-41")]
    [InlineData("default", "client-7d9f", "someone-else", "node-a")]
    [InlineData("default", "client-7d9f", "client", "node-b")]
    [InlineData("other", "client-7d9f", "client", "node-a")]
    public void Another_service_account_node_or_namespace_is_not_this_pod(string @namespace, string name, string serviceAccount, string node) =>
        Assert.Null(Snapshot.FindPodWorkload("3f1c0c2e-9b7a-4c55-a0de-2b1f3f2f9a10", @namespace, name, serviceAccount, node));
}
