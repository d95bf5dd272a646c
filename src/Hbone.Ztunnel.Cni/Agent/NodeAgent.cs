using Hbone.Ztunnel.Zds;

namespace Hbone.Ztunnel.Cni.Agent;

/// <summary>
/// The node agent daemon: serves ZDS on a Unix socket and keeps the ztunnel's pods equal to what its
/// <see cref="IPodSource"/> says (the pods directory on one machine, the Kubernetes API in a cluster).
/// </summary>
internal sealed class NodeAgent : IAsyncDisposable
{
    private readonly IPodSource _source;
    private readonly AgentLog _log;
    private readonly ZdsServer _server;
    private readonly string _socketPath;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, PodRecord> _enrolled = new(StringComparer.Ordinal);
    private bool _disposed;

    /// <summary>Starts serving pods from a directory: the socket is listening and the directory loaded when the constructor returns.</summary>
    /// <param name="socketPath">The ZDS socket; its directory is created when missing.</param>
    /// <param name="podsDirectory">The directory of pod files; created when missing.</param>
    /// <param name="output">Where one line per event goes.</param>
    /// <param name="error">Where bad pod files are reported.</param>
    /// <param name="rescanInterval">The safety-net rescan period; 2 s unless set.</param>
    /// <param name="debounce">How long the directory must be quiet after a change before it is read; 100 ms unless set.</param>
    /// <param name="ackTimeout">The bound on each ztunnel ack; <see cref="ZdsServer.DefaultAckTimeout"/> unless set.</param>
    public NodeAgent(
        string socketPath,
        string podsDirectory,
        TextWriter output,
        TextWriter error,
        TimeSpan? rescanInterval = null,
        TimeSpan? debounce = null,
        TimeSpan? ackTimeout = null)
        : this(socketPath, new AgentLog(output, error), log => new PodDirectorySource(podsDirectory, log, rescanInterval, debounce), ackTimeout)
    {
        // The directory is read synchronously: nothing to wait for before serving.
        StartServing();
    }

    private NodeAgent(string socketPath, AgentLog log, Func<AgentLog, IPodSource> source, TimeSpan? ackTimeout)
    {
        _log = log;
        _socketPath = Path.GetFullPath(socketPath);
        var socketDirectory = Path.GetDirectoryName(_socketPath);
        if (!string.IsNullOrEmpty(socketDirectory))
        {
            Directory.CreateDirectory(socketDirectory);
        }

        _source = source(log);
        _server = new ZdsServer(socketPath, ackTimeout, start: false) { BeforeSnapshot = Rescan };
        _server.Acked += OnAcked;
        _source.Start(Rescan);
    }

    /// <summary>
    /// Starts an agent whose pods come from <paramref name="source"/>: it serves ZDS once the source has synced, so the
    /// first ztunnel to connect gets the whole set, never an empty snapshot that would remove every pod.
    /// </summary>
    public static async Task<NodeAgent> StartAsync(
        string socketPath,
        Func<AgentLog, IPodSource> source,
        TextWriter output,
        TextWriter error,
        TimeSpan? ackTimeout = null,
        CancellationToken cancellationToken = default)
    {
        var agent = new NodeAgent(socketPath, new AgentLog(output, error), source, ackTimeout);
        try
        {
            await agent._source.Synced.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await agent.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        agent.StartServing();
        return agent;
    }

    /// <summary>The uids currently handed to the ZDS server.</summary>
    public IReadOnlyCollection<string> EnrolledUids
    {
        get
        {
            lock (_gate)
            {
                return [.. _enrolled.Keys];
            }
        }
    }

    /// <summary>Asks the source for its pods and sends the difference to the ZDS server: adds for new or changed pods, deletes for gone ones.</summary>
    public void Rescan()
    {
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            var present = new Dictionary<string, PodRecord>(StringComparer.Ordinal);
            foreach (var pod in _source.Current())
            {
                present[pod.Uid] = pod;
            }

            foreach (var (uid, pod) in present)
            {
                if (!_enrolled.TryGetValue(uid, out var known) || known != pod)
                {
                    _enrolled[uid] = pod;
                    _log.Info($"agent: add {pod.Namespace}/{pod.Name} uid={uid} sa={pod.ServiceAccount} netns={pod.Netns}");
                    _server.Add(new ZdsWorkload(pod.Uid, pod.Name, pod.Namespace, pod.ServiceAccount, pod.Netns));
                }
            }

            foreach (var uid in _enrolled.Keys.Where(u => !present.ContainsKey(u)).ToList())
            {
                var pod = _enrolled[uid];
                _enrolled.Remove(uid);
                _log.Info($"agent: delete {pod.Namespace}/{pod.Name} uid={uid}");
                _server.Delete(uid);
            }
        }
    }

    /// <summary>Learns the pods before serving: a ztunnel that reconnects after an agent restart must get the full snapshot.</summary>
    private void StartServing()
    {
        Rescan();
        _server.Start();
        _log.Info($"agent: serving ZDS on {_socketPath}, pods from {_source.Description}");
    }

    private void OnAcked(string uid, string error)
    {
        var subject = uid.Length == 0 ? "snapshot" : $"uid={uid}";
        _log.Info(error.Length == 0 ? $"agent: ack {subject} ok" : $"agent: ack {subject} error={error}");
    }

    /// <summary>Stops following the source, closes the ZDS socket (the ztunnel keeps its pods and reconnects to the next agent).</summary>
    public async ValueTask DisposeAsync()
    {
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
        }

        // A rescan that was running has finished once the gate is free: nothing calls the server after this.
        await _source.DisposeAsync().ConfigureAwait(false);
        lock (_gate)
        {
        }

        await _server.DisposeAsync().ConfigureAwait(false);
        _log.Info("agent: stopped");
    }
}
