using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Hbone.Ztunnel.E2E.Tests.Infrastructure;

/// <summary>
/// The mesh of <see cref="Mesh.StartAsync"/> with per-node ztunnel environment variables (drain deadline, workload wait,
/// socket mark), plus what the lifecycle tests need around it: the config and CA paths to restart a ztunnel with.
/// </summary>
internal sealed record LifecycleMesh(MeshLab Lab, string ConfigPath, string CaDirectory, IReadOnlyDictionary<string, MeshNode> Nodes)
{
    /// <summary>node-a (client, local-echo).</summary>
    public MeshNode A => Nodes["node-a"];

    /// <summary>node-b (echo, outsider).</summary>
    public MeshNode B => Nodes["node-b"];

    /// <summary>Starts agents, enrolls the in-mesh pods, starts both ztunnels with <paramref name="environment"/> (by node name) and waits until ready.</summary>
    public static async Task<LifecycleMesh> StartAsync(MeshLab lab, TimeSpan deadline, IReadOnlyDictionary<string, IReadOnlyDictionary<string, string?>>? environment = null)
    {
        var ca = await DevCa.CreateAsync(Path.Combine(lab.WorkDir, "ca"));
        var config = await lab.WriteConfigAsync();
        LabNode[] nodes = [lab.NodeA, lab.NodeB];
        var agents = nodes.ToDictionary(n => n.Name, n => lab.Track(AgentProcess.Start(n, lab.WorkDir)));
        foreach (var agent in agents.Values)
        {
            await agent.WaitListeningAsync(deadline);
        }

        foreach (var pod in lab.Pods.Where(p => p.InMesh))
        {
            await agents[pod.Node.Name].EnrollAsync(pod);
        }

        var ztunnels = nodes.ToDictionary(
            n => n.Name,
            n => lab.Track(ZtunnelProcess.Start(n, config, agents[n.Name].SocketPath, ca, environment?.GetValueOrDefault(n.Name))));
        foreach (var ztunnel in ztunnels.Values)
        {
            await ztunnel.WaitReadyAsync(deadline);
        }

        return new LifecycleMesh(lab, config, ca, nodes.ToDictionary(n => n.Name, n => new MeshNode(n, agents[n.Name], ztunnels[n.Name])));
    }

    /// <summary>Starts another ztunnel for <paramref name="node"/> on the same config, agent socket and CA (the old one must be stopped).</summary>
    public ZtunnelProcess StartZtunnel(MeshNode node, IReadOnlyDictionary<string, string?>? environment = null) =>
        Lab.Track(ZtunnelProcess.Start(node.Node, ConfigPath, node.Agent.SocketPath, CaDirectory, environment));

    /// <summary>Replaces the config file atomically (write + rename), so the hot reload never reads half a file.</summary>
    public async Task RewriteConfigAsync(string yaml)
    {
        var temp = ConfigPath + ".new";
        await File.WriteAllTextAsync(temp, yaml);
        File.Move(temp, ConfigPath, overwrite: true);
    }
}

/// <summary>The lab's config YAML (as <c>mesh-lab.sh config</c> prints it) edited line by line.</summary>
internal static class LifecycleConfig
{
    /// <summary>Drops the workload whose uid ends with <c>/NAME</c> (its whole block, services included).</summary>
    public static string WithoutWorkload(string yaml, string name)
    {
        var output = new List<string>();
        var skipping = false;
        foreach (var line in yaml.Split('\n'))
        {
            if (line.StartsWith("- uid: ", StringComparison.Ordinal))
            {
                skipping = line.EndsWith("/" + name, StringComparison.Ordinal);
            }
            else if (!line.StartsWith("  ", StringComparison.Ordinal))
            {
                skipping = false;
            }

            if (!skipping)
            {
                output.Add(line);
            }
        }

        return string.Join('\n', output);
    }

    /// <summary>Adds an HBONE workload block at the top of <c>workloads:</c>.</summary>
    public static string WithWorkload(string yaml, string uid, string name, IPAddress ip, string node, string serviceAccount)
    {
        var block = $"workloads:\n- uid: {uid}\n  name: {name}\n  namespace: {LabPod.Namespace}\n  serviceAccount: {serviceAccount}\n  workloadIps: [\"{ip}\"]\n  protocol: HBONE\n  node: {node}\n";
        return Replace(yaml, "workloads:\n", block);
    }

    /// <summary>Replaces <c>policies: []</c> with <paramref name="policies"/> (a <c>policies:</c> block).</summary>
    public static string WithPolicies(string yaml, string policies) => Replace(yaml, "policies: []", policies.TrimEnd('\n'));

    private static string Replace(string yaml, string marker, string replacement)
    {
        var at = yaml.IndexOf(marker, StringComparison.Ordinal);
        return at < 0
            ? throw new InvalidOperationException($"the lab config has no '{marker.Trim()}'")
            : string.Concat(yaml.AsSpan(0, at), replacement, yaml.AsSpan(at + marker.Length));
    }
}

/// <summary>What a read on a tunnel socket ended with.</summary>
internal enum LifecycleReadOutcome
{
    /// <summary>Bytes arrived.</summary>
    Data,

    /// <summary>The peer closed (read returned 0).</summary>
    EndOfStream,

    /// <summary>The peer reset (or the socket failed).</summary>
    Reset,

    /// <summary>Nothing within the deadline.</summary>
    Timeout,
}

/// <summary>Small polling and socket helpers with deadlines for the lifecycle tests.</summary>
internal static partial class Lifecycle
{
    private const int SigTerm = 15;

    /// <summary>Polls <paramref name="condition"/> every 100 ms until it holds.</summary>
    /// <exception cref="TimeoutException">It did not hold within the deadline.</exception>
    public static async Task UntilAsync(Func<Task<bool>> condition, TimeSpan deadline, string what)
    {
        var clock = Stopwatch.StartNew();
        while (!await condition())
        {
            if (clock.Elapsed > deadline)
            {
                throw new TimeoutException($"{what} did not happen within {deadline}");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(100));
        }
    }

    /// <summary>Sends <paramref name="data"/> without closing and reads exactly as many bytes back (the echo).</summary>
    public static Task<byte[]> EchoAsync(Socket socket, byte[] data, TimeSpan deadline) =>
        PodSockets.ExchangeAsync(socket, data, deadline, halfClose: false);

    /// <summary>One read with a deadline: what the peer did.</summary>
    public static async Task<(LifecycleReadOutcome Outcome, byte[] Data)> ReadAsync(Socket socket, TimeSpan deadline)
    {
        var buffer = new byte[16 * 1024];
        using var timeout = new CancellationTokenSource(deadline);
        try
        {
            var read = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
            return read == 0 ? (LifecycleReadOutcome.EndOfStream, []) : (LifecycleReadOutcome.Data, buffer[..read]);
        }
        catch (OperationCanceledException)
        {
            return (LifecycleReadOutcome.Timeout, []);
        }
        catch (SocketException)
        {
            return (LifecycleReadOutcome.Reset, []);
        }
    }

    /// <summary>Sends (ignoring a send failure: the peer may already be gone) and reads once: how a tunnel in use fails.</summary>
    public static async Task<(LifecycleReadOutcome Outcome, byte[] Data)> SendAndReadAsync(Socket socket, byte[] data, TimeSpan deadline)
    {
        try
        {
            await socket.SendAsync(data, SocketFlags.None);
        }
        catch (SocketException)
        {
            return (LifecycleReadOutcome.Reset, []);
        }

        return await ReadAsync(socket, deadline);
    }

    /// <summary>
    /// Connects from a pod, sends and reads once: how a connection the mesh should refuse ends. A connect that is
    /// reset right away (the proxy accepted and reset before the connect completed) counts as <see cref="LifecycleReadOutcome.Reset"/>.
    /// </summary>
    public static async Task<(LifecycleReadOutcome Outcome, byte[] Data)> ProbeAsync(string netnsPath, IPEndPoint remote, byte[] data, TimeSpan deadline)
    {
        Socket socket;
        try
        {
            socket = await PodSockets.ConnectAsync(netnsPath, remote, deadline);
        }
        catch (SocketException)
        {
            return (LifecycleReadOutcome.Reset, []);
        }

        using (socket)
        {
            return await SendAndReadAsync(socket, data, deadline);
        }
    }

    /// <summary>The TCP listeners (<c>ss -ltn</c> local addresses) inside a namespace.</summary>
    public static async Task<IReadOnlyList<string>> ListenersAsync(string netns)
    {
        var table = await MeshLab.ExecAsync(netns, ["ss", "-Hltn"]);
        return [.. table.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Where(columns => columns.Length >= 4)
            .Select(columns => columns[3])];
    }

    /// <summary>Enrolls any namespace under any workload identity (e.g. a uid the config does not know yet).</summary>
    public static Task EnrollAsync(AgentProcess agent, string netnsPath, string uid, string name, string serviceAccount) =>
        Shell.RunAsync(
            [AgentProcess.Program, "enroll", "--netns", netnsPath, "--pods-dir", agent.PodsDirectory, "--uid", uid, "--name", name,
             "--namespace", LabPod.Namespace, "--service-account", serviceAccount],
            TimeSpan.FromSeconds(60));

    /// <summary>Sends SIGTERM to <paramref name="process"/> without waiting (the test times the exit itself).</summary>
    public static void Terminate(NodeProcess process)
    {
        if (kill(process.Pid, SigTerm) != 0)
        {
            throw new InvalidOperationException($"kill({process.Pid}, SIGTERM) failed: errno {Marshal.GetLastPInvokeError()}");
        }
    }

    /// <summary>Polls until <paramref name="process"/> exited; returns the time it took since <paramref name="since"/> started.</summary>
    public static async Task<TimeSpan> WaitExitAsync(NodeProcess process, Stopwatch since, TimeSpan deadline)
    {
        while (!process.HasExited)
        {
            if (since.Elapsed > deadline)
            {
                throw new TimeoutException($"{process.DisplayName} still running {since.Elapsed} after the signal.{process.Tail()}");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(20));
        }

        return since.Elapsed;
    }

    /// <summary>The access-log lines of one direction on stdout.</summary>
    public static IReadOnlyList<string> AccessLines(NodeProcess process, string direction) =>
        [.. process.StdoutLines.Where(l => l.Contains("connection complete", StringComparison.Ordinal) && l.Contains($"direction=\"{direction}\"", StringComparison.Ordinal))];

    [LibraryImport("libc", SetLastError = true)]
    private static partial int kill(int pid, int signal);
}
