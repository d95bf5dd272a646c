using Hbone.Ztunnel.E2E.Tests.Infrastructure;
using Hbone.Ztunnel.Zds;

namespace Hbone.Ztunnel.E2E.Tests.Lab;

/// <summary>The node agent in the lab: enrolled pods reach a ZDS client (the ztunnel's side) with their own namespace.</summary>
public sealed class LabAgentTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    [Fact]
    [Trait("case", "LAB-08")]
    public async Task LAB_08_pods_enrolled_on_a_node_are_handed_to_its_ztunnel_with_their_netns_and_removed_again()
    {
        await using var lab = await MeshLab.UpAsync();
        var agent = lab.Track(AgentProcess.Start(lab.NodeA, lab.WorkDir));
        await agent.WaitListeningAsync(Deadline);
        await agent.EnrollAsync(lab.Client);
        await agent.EnrollAsync(lab.LocalEcho);
        using var handler = new RecordingZdsHandler();
        await using var zds = new ZdsClient(agent.SocketPath, handler);

        await zds.Ready.WaitAsync(Deadline);
        await handler.WaitForAsync(h => h.Added.Count == 2, Deadline, "two adds");
        var client = handler.Added[lab.Client.Uid];
        var clientRules = await MeshLab.ExecAsync(lab.Client.Netns, ["iptables-save", "-t", "nat"]);
        await agent.RemoveAsync(lab.LocalEcho);
        await handler.WaitForAsync(h => h.Deleted.Contains(lab.LocalEcho.Uid), Deadline, "the delete of local-echo");
        var localEchoRules = await MeshLab.ExecAsync(lab.LocalEcho.Netns, ["iptables-save", "-t", "nat"]);

        Assert.Equal((lab.Client.Name, LabPod.Namespace, lab.Client.ServiceAccount), (client.Info.Name, client.Info.Namespace, client.Info.ServiceAccount));
        Assert.Equal(RecordingZdsHandler.NetnsInodeOf(lab.Client.NetnsPath), client.NetnsInode);
        Assert.NotEqual(RecordingZdsHandler.NetnsInodeOf(lab.LocalEcho.NetnsPath), client.NetnsInode);
        Assert.Contains("--to-ports 15001", clientRules, StringComparison.Ordinal);
        Assert.DoesNotContain("ISTIO_OUTPUT", localEchoRules, StringComparison.Ordinal);
        Assert.DoesNotContain(lab.Client.Uid, handler.Deleted);
    }
}
