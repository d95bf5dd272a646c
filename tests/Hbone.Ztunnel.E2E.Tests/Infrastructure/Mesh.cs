namespace Hbone.Ztunnel.E2E.Tests.Infrastructure;

/// <summary>One node of a running mesh: its agent and its ztunnel.</summary>
internal sealed record MeshNode(LabNode Node, AgentProcess Agent, ZtunnelProcess Ztunnel);

/// <summary>The mesh on a lab, as the demo starts it: shared CA, local config, an agent and a ztunnel per node, the mesh pods enrolled.</summary>
internal static class Mesh
{
    /// <summary>
    /// Starts the agents, enrolls every in-mesh pod, starts the ztunnels and waits until both are ready. Everything
    /// is tracked by <paramref name="lab"/> (ztunnels stop before agents).
    /// </summary>
    /// <param name="lab">The lab.</param>
    /// <param name="deadline">For each wait.</param>
    /// <param name="ztunnelEnvironment">More variables for both ztunnels.</param>
    /// <param name="configOptions">Options of <c>mesh-lab.sh config</c> (e.g. <c>--waypoint IP:PORT</c>).</param>
    /// <param name="editConfig">Changes the lab's local config before the ztunnels read it.</param>
    /// <param name="cancellationToken">Stops the waits.</param>
    /// <returns>The nodes by name (<c>node-a</c>, <c>node-b</c>).</returns>
    public static async Task<IReadOnlyDictionary<string, MeshNode>> StartAsync(MeshLab lab, TimeSpan deadline, IReadOnlyDictionary<string, string?>? ztunnelEnvironment = null, Func<string, string>? editConfig = null, IReadOnlyList<string>? configOptions = null, CancellationToken cancellationToken = default)
    {
        var ca = await DevCa.CreateAsync(Path.Combine(lab.WorkDir, "ca"), cancellationToken);
        var config = await lab.WriteConfigAsync(configOptions, cancellationToken);
        if (editConfig is not null)
        {
            await File.WriteAllTextAsync(config, editConfig(await File.ReadAllTextAsync(config, cancellationToken)), cancellationToken);
        }

        LabNode[] nodes = [lab.NodeA, lab.NodeB];
        var agents = nodes.ToDictionary(n => n.Name, n => lab.Track(AgentProcess.Start(n, lab.WorkDir)));
        foreach (var agent in agents.Values)
        {
            await agent.WaitListeningAsync(deadline, cancellationToken);
        }

        foreach (var pod in lab.Pods.Where(p => p.InMesh))
        {
            await agents[pod.Node.Name].EnrollAsync(pod, cancellationToken);
        }

        var ztunnels = nodes.ToDictionary(n => n.Name, n => lab.Track(ZtunnelProcess.Start(n, config, agents[n.Name].SocketPath, ca, ztunnelEnvironment)));
        foreach (var ztunnel in ztunnels.Values)
        {
            await ztunnel.WaitReadyAsync(deadline, cancellationToken);
        }

        return nodes.ToDictionary(n => n.Name, n => new MeshNode(n, agents[n.Name], ztunnels[n.Name]));
    }
}
