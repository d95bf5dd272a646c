namespace Hbone.Ztunnel.Cni.Agent;

/// <summary>
/// The pods directory as the source of pods (one machine, no cluster): a file watcher reacts quickly (debounced); a
/// periodic rescan catches whatever the watcher missed. A file that turns bad keeps its last good reading.
/// </summary>
internal sealed class PodDirectorySource : IPodSource
{
    private readonly string _directory;
    private readonly AgentLog _log;
    private readonly TimeSpan _debounce;
    private readonly TimeSpan _rescanInterval;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, PodRecord> _lastGoodByPath = new(StringComparer.Ordinal);
    private readonly Dictionary<string, DateTime> _reportedBadFiles = new(StringComparer.Ordinal);
    private FileSystemWatcher? _watcher;
    private Timer? _debounceTimer;
    private Timer? _rescanTimer;
    private bool _disposed;

    /// <param name="directory">The directory of pod files; created when missing.</param>
    /// <param name="log">Where bad pod files are reported.</param>
    /// <param name="rescanInterval">The safety-net rescan period; 2 s unless set.</param>
    /// <param name="debounce">How long the directory must be quiet after a change before it is read; 100 ms unless set.</param>
    public PodDirectorySource(string directory, AgentLog log, TimeSpan? rescanInterval = null, TimeSpan? debounce = null)
    {
        _directory = Path.GetFullPath(directory);
        _log = log;
        _debounce = debounce ?? TimeSpan.FromMilliseconds(100);
        _rescanInterval = rescanInterval ?? TimeSpan.FromSeconds(2);
        Directory.CreateDirectory(_directory);
    }

    public string Description => _directory;

    public Task Synced => Task.CompletedTask;

    public void Start(Action changed)
    {
        _debounceTimer = new Timer(_ => changed(), null, Timeout.Infinite, Timeout.Infinite);

        // Watching starts before the agent's first read, so that a file created in between is not missed.
        _watcher = new FileSystemWatcher(_directory, "*" + PodDirectory.Extension)
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
        _rescanTimer = new Timer(_ => changed(), null, _rescanInterval, _rescanInterval);
    }

    /// <summary>Reads the directory: one pod per good file (a uid claimed by two files is kept once, the other reported).</summary>
    public IReadOnlyCollection<PodRecord> Current()
    {
        lock (_gate)
        {
            var present = new Dictionary<string, PodRecord>(StringComparer.Ordinal);
            var files = new HashSet<string>(StringComparer.Ordinal);
            foreach (var path in PodDirectory.List(_directory))
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

            return present.Values;
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

    /// <summary>One error line per bad file version, not one per rescan.</summary>
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
        _log.Error($"agent: skipping bad pod file {message}");
    }

    private void OnDirectoryChanged(object sender, FileSystemEventArgs e) => ScheduleRescan();

    private void ScheduleRescan()
    {
        lock (_gate)
        {
            if (!_disposed)
            {
                _debounceTimer?.Change(_debounce, Timeout.InfiniteTimeSpan);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        lock (_gate)
        {
            _disposed = true;
        }

        _watcher?.Dispose();
        if (_rescanTimer is not null)
        {
            await _rescanTimer.DisposeAsync().ConfigureAwait(false);
        }

        if (_debounceTimer is not null)
        {
            await _debounceTimer.DisposeAsync().ConfigureAwait(false);
        }
    }
}
