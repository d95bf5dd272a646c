using System.Net;
using System.Security.Cryptography;

namespace Hbone.Ztunnel.E2E.Tests.Infrastructure;

/// <summary>
/// The two-node lab of <c>scripts/lab/mesh-lab.sh</c> under a unique prefix: created by <see cref="UpAsync"/>, removed
/// (with every process and socket registered through <see cref="Track{T}"/>) by <see cref="DisposeAsync"/>.
/// Names and addresses come from the script's <c>env</c> command, so the tests and the demo share one topology.
/// </summary>
internal sealed class MeshLab : IAsyncDisposable
{
    private readonly Dictionary<string, string> _env;
    private readonly List<IAsyncDisposable> _owned = [];
    private readonly Lock _lock = new();
    private bool _disposed;

    private MeshLab(string prefix, Dictionary<string, string> env)
    {
        Prefix = prefix;
        _env = env;
        NodeA = Node("A", "node-a");
        NodeB = Node("B", "node-b");
        Pods = [.. Get("LAB_PODS").Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(PodFromEnv)];
        EchoVip = new IPEndPoint(IPAddress.Parse(Get("LAB_ECHO_VIP")), int.Parse(Get("LAB_ECHO_SERVICE_PORT"), System.Globalization.CultureInfo.InvariantCulture));
        EchoVip6 = new IPEndPoint(IPAddress.Parse(Get("LAB_ECHO_VIP6")), EchoVip.Port);
        EchoTargetPort = int.Parse(Get("LAB_ECHO_TARGET_PORT"), System.Globalization.CultureInfo.InvariantCulture);
        WorkDir = Directory.CreateTempSubdirectory($"hbone-lab-{prefix}-").FullName;
    }

    /// <summary>The prefix of every namespace name of this lab.</summary>
    public string Prefix { get; }

    /// <summary>node-a: client and local-echo run here.</summary>
    public LabNode NodeA { get; }

    /// <summary>node-b: echo and outsider run here.</summary>
    public LabNode NodeB { get; }

    /// <summary>Every pod, in the script's order.</summary>
    public IReadOnlyList<LabPod> Pods { get; }

    /// <summary>10.244.1.2 on node-a, in the mesh.</summary>
    public LabPod Client => Pod("client");

    /// <summary>10.244.2.2 on node-b, in the mesh, the backend of the echo service.</summary>
    public LabPod Echo => Pod("echo");

    /// <summary>10.244.1.3 on node-a (same node as the client), in the mesh.</summary>
    public LabPod LocalEcho => Pod("local-echo");

    /// <summary>10.244.2.9 on node-b, not in the mesh (a plain TCP workload).</summary>
    public LabPod Outsider => Pod("outsider");

    /// <summary>The echo service's VIP and port (10.96.0.10:80).</summary>
    public IPEndPoint EchoVip { get; }

    /// <summary>The echo service's IPv6 VIP and port ([fd00:10:96::10]:80).</summary>
    public IPEndPoint EchoVip6 { get; }

    /// <summary>The port the echo service's port maps to on its pods (8080).</summary>
    public int EchoTargetPort { get; }

    /// <summary>A temporary directory for this lab's files (config, certificates, sockets); removed on dispose.</summary>
    public string WorkDir { get; }

    /// <summary>The path of a named network namespace.</summary>
    public static string NetnsPath(string name) => $"/var/run/netns/{name}";

    /// <summary>A pod by name.</summary>
    public LabPod Pod(string name) => Pods.FirstOrDefault(p => p.Name == name) ?? throw new ArgumentException($"no pod '{name}' in the lab", nameof(name));

    /// <summary>Creates a lab with a fresh prefix (<c>hb</c> + 4 hex digits). Needs root.</summary>
    public static async Task<MeshLab> UpAsync(CancellationToken cancellationToken = default)
    {
        if (!Environment.IsPrivilegedProcess)
        {
            throw new InvalidOperationException("The end-to-end tests create network namespaces and need root (CI runs as root).");
        }

        var prefix = "hb" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(2));
        var env = ParseEnv(await Script(["env", prefix], cancellationToken));
        var lab = new MeshLab(prefix, env);
        try
        {
            await Script(["up", prefix], cancellationToken);
        }
        catch
        {
            await lab.DisposeAsync();
            throw;
        }

        return lab;
    }

    /// <summary>The ztunnel local config (LOCAL_XDS_PATH) of this topology, as the script prints it (with its <paramref name="options"/>, e.g. <c>--waypoint IP:PORT</c>).</summary>
    public Task<string> ConfigYamlAsync(IReadOnlyList<string>? options = null, CancellationToken cancellationToken = default) =>
        Script(["config", Prefix, .. options ?? []], cancellationToken);

    /// <summary>Writes <see cref="ConfigYamlAsync"/> to <c>WorkDir/config.yaml</c> and returns the path.</summary>
    public async Task<string> WriteConfigAsync(IReadOnlyList<string>? options = null, CancellationToken cancellationToken = default)
    {
        var path = Path.Combine(WorkDir, "config.yaml");
        await File.WriteAllTextAsync(path, await ConfigYamlAsync(options, cancellationToken), cancellationToken);
        return path;
    }

    /// <summary>Runs a command inside a namespace of the lab (<c>ip netns exec</c>) and returns its stdout.</summary>
    public static Task<string> ExecAsync(string netns, IReadOnlyList<string> command, CancellationToken cancellationToken = default) =>
        Shell.RunAsync(["ip", "netns", "exec", netns, .. command], cancellationToken: cancellationToken);

    /// <summary>The names of the namespaces that currently exist with this lab's prefix.</summary>
    public async Task<IReadOnlyList<string>> ExistingNamespacesAsync(CancellationToken cancellationToken = default) =>
        await ExistingNamespacesAsync(Prefix, cancellationToken);

    /// <summary>The names of the namespaces that currently exist with the given prefix.</summary>
    public static async Task<IReadOnlyList<string>> ExistingNamespacesAsync(string prefix, CancellationToken cancellationToken = default)
    {
        var list = await Shell.RunAsync(["ip", "netns", "list"], cancellationToken: cancellationToken);
        return [.. list.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => line.Split(' ')[0])
            .Where(name => name.StartsWith(prefix + "-", StringComparison.Ordinal))];
    }

    /// <summary>Makes the lab dispose <paramref name="owned"/> (a process, an app) before it removes the namespaces.</summary>
    public T Track<T>(T owned)
        where T : IAsyncDisposable
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            _owned.Add(owned);
        }

        return owned;
    }

    /// <summary>Stops what was tracked (last first), runs <c>mesh-lab.sh down</c> and deletes <see cref="WorkDir"/>.</summary>
    public async ValueTask DisposeAsync()
    {
        IAsyncDisposable[] owned;
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            owned = [.. _owned];
        }

        List<Exception> failures = [];
        foreach (var item in owned.Reverse())
        {
            try
            {
                await item.DisposeAsync();
            }
            catch (Exception ex)
            {
                failures.Add(ex);
            }
        }

        try
        {
            await Script(["down", Prefix], CancellationToken.None);
        }
        catch (Exception ex)
        {
            failures.Add(ex);
        }

        try
        {
            Directory.Delete(WorkDir, recursive: true);
        }
        catch (IOException ex)
        {
            failures.Add(ex);
        }

        if (failures.Count > 0)
        {
            throw new AggregateException($"cleaning up lab {Prefix} failed", failures);
        }
    }

    private static Task<string> Script(string[] arguments, CancellationToken cancellationToken) =>
        Shell.RunAsync(["bash", Repo.MeshLabScript, .. arguments], cancellationToken: cancellationToken);

    private static Dictionary<string, string> ParseEnv(string text)
    {
        var env = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var equals = line.IndexOf('=', StringComparison.Ordinal);
            if (equals > 0)
            {
                // KEY='value': the script quotes every value for bash's eval.
                env[line[..equals]] = line[(equals + 1)..].Trim('\'');
            }
        }

        return env;
    }

    private string Get(string key) => _env.TryGetValue(key, out var value) ? value : throw new InvalidOperationException($"mesh-lab.sh env printed no {key}");

    private LabNode Node(string letter, string name) => new(name, Get($"LAB_NODE_{letter}_NETNS"), IPAddress.Parse(Get($"LAB_NODE_{letter}_IP")));

    private LabPod PodFromEnv(string name)
    {
        var key = "LAB_POD_" + name.ToUpperInvariant().Replace('-', '_');
        var node = Get(key + "_NODE") switch
        {
            "node-a" => NodeA,
            "node-b" => NodeB,
            var other => throw new InvalidOperationException($"pod {name} on unknown node {other}"),
        };
        return new LabPod(name, IPAddress.Parse(Get(key + "_IP")), node, Get(key + "_NETNS"), Get(key + "_VETH"), Get(key + "_MESH") == "mesh", Get(key + "_UID"), IPAddress.Parse(Get(key + "_IP6")));
    }
}
