using System.Net;

namespace Hbone.Ztunnel.E2E.Tests.Infrastructure;

/// <summary>A pod of the lab: a network namespace with eth0 = <see cref="Ip"/>/32, wired to its node.</summary>
/// <param name="Name">The pod name (also its service account), e.g. <c>client</c>.</param>
/// <param name="Ip">The pod IP.</param>
/// <param name="Node">The node it runs on.</param>
/// <param name="Netns">The namespace name (<c>ip netns</c>).</param>
/// <param name="Veth">The node side of its veth, in the node's namespace.</param>
/// <param name="InMesh">Whether the config lists it as an HBONE workload (otherwise a plain TCP workload, never enrolled).</param>
/// <param name="Uid">Its workload uid, <c>cluster1//v1/Pod/default/NAME</c>.</param>
/// <param name="Ip6">Its IPv6 address (the lab is dual-stack).</param>
internal sealed record LabPod(string Name, IPAddress Ip, LabNode Node, string Netns, string Veth, bool InMesh, string Uid, IPAddress Ip6)
{
    /// <summary>The namespace of the config's workloads.</summary>
    public const string Namespace = "default";

    /// <summary>The namespace's path, for setns and the programs' --netns.</summary>
    public string NetnsPath => MeshLab.NetnsPath(Netns);

    /// <summary>The service account (the lab names each after its pod).</summary>
    public string ServiceAccount => Name;

    /// <summary>The pod's SPIFFE identity.</summary>
    public string SpiffeId => $"spiffe://cluster.local/ns/{Namespace}/sa/{ServiceAccount}";
}
