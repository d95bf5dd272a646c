namespace Hbone.Ztunnel.E2E.Tests.Infrastructure;

/// <summary>
/// The node agent (<c>src/Hbone.Ztunnel.Cni</c>, <c>agent</c>) in a node's namespace: the ZDS server the node's ztunnel
/// connects to. Pods are enrolled with the same program's <c>enroll</c>, which writes the in-pod rules and a pod
/// file into <see cref="PodsDirectory"/> that the agent watches.
/// </summary>
internal sealed class AgentProcess : NodeProcess
{
    private static readonly TimeSpan CommandDeadline = TimeSpan.FromSeconds(60);

    private AgentProcess(LabNode node, string socketPath, string podsDirectory)
        : base($"agent {node.Name}", node, Program, ["agent", "--socket", socketPath, "--pods-dir", podsDirectory], new Dictionary<string, string?>())
    {
        SocketPath = socketPath;
        PodsDirectory = podsDirectory;
    }

    /// <summary>The published node agent (hbone-ztunnel-cni).</summary>
    public static string Program => Repo.Program("Hbone.Ztunnel.Cni");

    /// <summary>The ZDS socket (the ztunnel's INPOD_UDS).</summary>
    public string SocketPath { get; }

    /// <summary>The directory of pod files the agent watches.</summary>
    public string PodsDirectory { get; }

    /// <summary>Starts the agent for <paramref name="node"/>, with its socket and pods directory under <paramref name="workDir"/>/<c>NODE</c>.</summary>
    public static AgentProcess Start(LabNode node, string workDir)
    {
        var dir = Directory.CreateDirectory(Path.Combine(workDir, node.Name)).FullName;
        var pods = Directory.CreateDirectory(Path.Combine(dir, "pods")).FullName;
        return new AgentProcess(node, Path.Combine(dir, "ztunnel.sock"), pods);
    }

    /// <summary>Waits until the agent's socket exists.</summary>
    public async Task WaitListeningAsync(TimeSpan deadline, CancellationToken cancellationToken = default)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(deadline);
        while (!File.Exists(SocketPath))
        {
            if (HasExited)
            {
                throw new TimeoutException($"{DisplayName} exited with {ExitCode} before creating {SocketPath}.{Tail()}");
            }

            try
            {
                await Task.Delay(TimeSpan.FromMilliseconds(100), timeout.Token);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new TimeoutException($"{DisplayName} created no {SocketPath} within {deadline}.{Tail()}");
            }
        }
    }

    /// <summary>Enrolls <paramref name="pod"/>: in-pod rules plus the pod file this agent hands to the ztunnel.</summary>
    public Task EnrollAsync(LabPod pod, CancellationToken cancellationToken = default) =>
        Shell.RunAsync(
            [Program, "enroll", "--netns", pod.NetnsPath, "--pods-dir", PodsDirectory, "--uid", pod.Uid, "--name", pod.Name,
             "--namespace", LabPod.Namespace, "--service-account", pod.ServiceAccount],
            CommandDeadline,
            cancellationToken);

    /// <summary>Removes <paramref name="pod"/> from the mesh: its rules and its pod file.</summary>
    public Task RemoveAsync(LabPod pod, CancellationToken cancellationToken = default) =>
        Shell.RunAsync([Program, "remove", "--netns", pod.NetnsPath, "--pods-dir", PodsDirectory, "--uid", pod.Uid], CommandDeadline, cancellationToken);

    /// <summary>Forgets a pod that is being deleted (<c>remove --pod-deleted</c>): its rules stay, the ztunnel drains it.</summary>
    public Task DeleteAsync(LabPod pod, CancellationToken cancellationToken = default) =>
        Shell.RunAsync([Program, "remove", "--netns", pod.NetnsPath, "--pods-dir", PodsDirectory, "--uid", pod.Uid, "--pod-deleted"], CommandDeadline, cancellationToken);
}
