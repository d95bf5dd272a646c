using Hbone.Ztunnel.Zds;

namespace Hbone.Ztunnel.Cni.Agent;

/// <summary>
/// The node agent daemon: serves ZDS on a Unix socket and keeps the ztunnel's pods equal to the pods directory,
/// which stands in for the Kubernetes pod events of a cluster. A file watcher reacts quickly (debounced); a periodic
/// rescan catches whatever the watcher missed.
/// </summary>
internal sealed class NodeAgent : IAsyncDisposable
{
    private readonly string _podsDirectory;
    private readonly TextWriter _output;
    private readonly TextWriter _error;
    private readonly TimeSpan _debounce;
    private readonly ZdsServer _server;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, PodRecord> _enrolled = new(StringComparer.Ordinal);
    private readonly Dictionary<string, PodRecord> _lastGoodByPath = new(StringComparer.Ordinal);
    private readonly Dictionary<string, DateTime> _reportedBadFiles = new(StringComparer.Ordinal);
    private readonly FileSystemWatcher _watcher;
    private readonly Timer _debounceTimer;
    private readonly Timer _rescanTimer;
    private bool _disposed;

    /// <summary>Starts serving: the socket is listening and the directory loaded when the constructor returns.</summary>
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
    {
        _podsDirectory = Path.GetFullPath(podsDirectory);
        _output = output;
        _error = error;
        _debounce = debounce ?? TimeSpan.FromMilliseconds(100);
        Directory.CreateDirectory(_podsDirectory);
        var socketDirectory = Path.GetDirectoryName(Path.GetFullPath(socketPath));
        if (!string.IsNullOrEmpty(socketDirectory))
        {
            Directory.CreateDirectory(socketDirectory);
        }

        _server = new ZdsServer(socketPath, ackTimeout, start: false) { BeforeSnapshot = Rescan };
        _server.Acked += OnAcked;
        _debounceTimer = new Timer(_ => Rescan(), null, Timeout.Infinite, Timeout.Infinite);

        // Watch before the first scan, so that a file created in between is not missed.
        _watcher = new FileSystemWatcher(_podsDirectory, "*" + PodDirectory.Extension)
        {
            NotifyFilter = NotifyFilters.FileName | NotifyFilters.LastWrite | NotifyFilters.Size,
            IncludeSubdirectories = false,
        };
        _watcher.Created += OnDirectoryChanged;
        _watcher.Changed += OnDirectoryChanged;
        _watcher.Deleted += OnDirectoryChanged;
        _watcher.Renamed += OnDirectoryChanged;
        _watcher.Error += (_, _) => ScheduleRescan();
        _watcher.EnableRaisingEvents = true;

        // Learn the pods before serving: a ztunnel that reconnects after an agent restart must get the full snapshot.
        Rescan();
        _server.Start();
        Log($"agent: serving ZDS on {Path.GetFullPath(socketPath)}, pods from {_podsDirectory}");
        var period = rescanInterval ?? TimeSpan.FromSeconds(2);
        _rescanTimer = new Timer(_ => Rescan(), null, period, period);
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

    /// <summary>Reads the directory and sends the difference to the ZDS server: adds for new or changed pods, deletes for gone ones.</summary>
    public void Rescan()
    {
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            var present = new Dictionary<string, PodRecord>(StringComparer.Ordinal);
            var files = new HashSet<string>(StringComparer.Ordinal);
            foreach (var path in PodDirectory.List(_podsDirectory))
            {
                files.Add(path);
                var pod = ReadOrKeepLastGood(path);
                if (pod is not null && !present.TryAdd(pod.Uid, pod))
                {
                    ReportBadFile(path, $"{path}: uid {pod.Uid} is already enrolled by another file; skipped");
                }
            }

            foreach (var path in _lastGoodByPath.Keys.Where(p => !files.Contains(p)).ToList())
            {
                _lastGoodByPath.Remove(path);
            }

            foreach (var path in _reportedBadFiles.Keys.Where(p => !files.Contains(p)).ToList())
            {
                _reportedBadFiles.Remove(path);
            }

            foreach (var (uid, pod) in present)
            {
                if (!_enrolled.TryGetValue(uid, out var known) || known != pod)
                {
                    _enrolled[uid] = pod;
                    Log($"agent: add {pod.Namespace}/{pod.Name} uid={uid} sa={pod.ServiceAccount} netns={pod.Netns}");
                    _server.Add(new ZdsWorkload(pod.Uid, pod.Name, pod.Namespace, pod.ServiceAccount, pod.Netns));
                }
            }

            foreach (var uid in _enrolled.Keys.Where(u => !present.ContainsKey(u)).ToList())
            {
                var pod = _enrolled[uid];
                _enrolled.Remove(uid);
                Log($"agent: delete {pod.Namespace}/{pod.Name} uid={uid}");
                _server.Delete(uid);
            }
        }
    }

    /// <summary>The file's pod; when it turned bad, the last good reading of the same file (a half-written update must not delete a pod).</summary>
    private PodRecord? ReadOrKeepLastGood(string path)
    {
        try
        {
            var pod = PodDirectory.Read(path);
            _lastGoodByPath[path] = pod;
            return pod;
        }
        catch (PodFileException ex)
        {
            if (File.Exists(path))
            {
                ReportBadFile(path, ex.Message);
            }

            return _lastGoodByPath.GetValueOrDefault(path);
        }
    }

    /// <summary>One stderr line per bad file version, not one per rescan.</summary>
    private void ReportBadFile(string path, string message)
    {
        DateTime written;
        try
        {
            written = File.GetLastWriteTimeUtc(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            written = DateTime.MinValue;
        }

        if (_reportedBadFiles.TryGetValue(path, out var reported) && reported == written)
        {
            return;
        }

        _reportedBadFiles[path] = written;
        WriteLine(_error, $"agent: skipping bad pod file {message}");
    }

    private void OnDirectoryChanged(object sender, FileSystemEventArgs e) => ScheduleRescan();

    private void ScheduleRescan()
    {
        lock (_gate)
        {
            if (!_disposed)
            {
                _debounceTimer.Change(_debounce, Timeout.InfiniteTimeSpan);
            }
        }
    }

    private void OnAcked(string uid, string error)
    {
        var subject = uid.Length == 0 ? "snapshot" : $"uid={uid}";
        Log(error.Length == 0 ? $"agent: ack {subject} ok" : $"agent: ack {subject} error={error}");
    }

    private void Log(string line) => WriteLine(_output, line);

    private static void WriteLine(TextWriter writer, string line)
    {
        lock (writer)
        {
            writer.WriteLine(line);
            writer.Flush();
        }
    }

    /// <summary>Stops watching, closes the ZDS socket (the ztunnel keeps its pods and reconnects to the next agent).</summary>
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

        _watcher.Dispose();
        await _rescanTimer.DisposeAsync().ConfigureAwait(false);
        await _debounceTimer.DisposeAsync().ConfigureAwait(false);

        // A rescan that was running has finished once the gate is free: nothing calls the server after this.
        lock (_gate)
        {
        }

        await _server.DisposeAsync().ConfigureAwait(false);
        Log("agent: stopped");
    }
}
