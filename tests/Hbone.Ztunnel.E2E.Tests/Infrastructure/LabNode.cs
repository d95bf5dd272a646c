using System.Net;

namespace Hbone.Ztunnel.E2E.Tests.Infrastructure;

/// <summary>A node of the lab: the network namespace the ztunnel and the node agent run in.</summary>
/// <param name="Name">The node name of the ztunnel config (<c>node-a</c>, <c>node-b</c>); ztunnel's <c>NODE_NAME</c>.</param>
/// <param name="Netns">The namespace name (<c>ip netns</c>).</param>
/// <param name="Ip">The node's address on the node-to-node link.</param>
internal sealed record LabNode(string Name, string Netns, IPAddress Ip)
{
    /// <summary>The namespace's path, for setns and the programs' --netns.</summary>
    public string NetnsPath => MeshLab.NetnsPath(Netns);
}
