using Microsoft.Extensions.Logging;

namespace DevControlPlane.Config;

/// <summary>
/// The current good snapshot of the mesh YAML, reloaded when the file changes (debounced); a bad file is logged and the
/// last good snapshot stays.
/// </summary>
public sealed partial class MeshState : IDisposable
{
    private static readonly TimeSpan Debounce = TimeSpan.FromMilliseconds(200);
    private readonly string _path;
    private readonly string _trustDomain;
    private readonly ILogger _logger;
    private readonly FileSystemWatcher _watcher;
    private readonly Timer _debounce;
    private readonly Lock _reloadLock = new();
    private MeshSnapshot _current;

    /// <exception cref="MeshConfigException">The file is not a valid mesh config.</exception>
    /// <exception cref="IOException">The file cannot be read.</exception>
    public MeshState(string path, string trustDomain, ILogger<MeshState> logger)
    {
        _path = Path.GetFullPath(path);
        _trustDomain = trustDomain;
        _logger = logger;
        _current = MeshSnapshot.Build(MeshYamlReader.ReadFile(_path, trustDomain), trustDomain, 1);
        _debounce = new Timer(_ => Reload());
        _watcher = new FileSystemWatcher(Path.GetDirectoryName(_path)!)
        {
            NotifyFilter = NotifyFilters.FileName | NotifyFilters.LastWrite | NotifyFilters.Size | NotifyFilters.CreationTime,
        };
        _watcher.Changed += OnFileEvent;
        _watcher.Created += OnFileEvent;
        _watcher.Renamed += OnFileEvent;
        _watcher.EnableRaisingEvents = true;
    }

    public MeshSnapshot Current => Volatile.Read(ref _current);

    /// <summary>Raised after a good config replaced the snapshot.</summary>
    public event Action<MeshSnapshot>? Changed;

    /// <summary>Raised after every reload attempt: null when it succeeded, else the one-line reason it was rejected.</summary>
    public event Action<string?>? Reloaded;

    private void OnFileEvent(object sender, FileSystemEventArgs e)
    {
        // Editors and atomic writers save through a temporary file renamed over ours; any event on our name counts.
        if (string.Equals(e.FullPath, _path, StringComparison.Ordinal))
        {
            _debounce.Change(Debounce, Timeout.InfiniteTimeSpan);
        }
    }

    private void Reload()
    {
        // Timer callbacks may overlap; one reload at a time keeps generations and Changed events in order.
        lock (_reloadLock)
        {
            MeshSnapshot next;
            try
            {
                next = MeshSnapshot.Build(MeshYamlReader.ReadFile(_path, _trustDomain), _trustDomain, Current.Generation + 1);
            }
            catch (Exception e) when (e is MeshConfigException or IOException or UnauthorizedAccessException)
            {
                string reason = e.Message.ReplaceLineEndings(" ");
                LogRejected(reason);
                Reloaded?.Invoke(reason);
                return;
            }

            Volatile.Write(ref _current, next);
            LogLoaded(next.Generation, next.Resources[MeshSnapshot.AddressType].Count, next.Resources[MeshSnapshot.AuthorizationType].Count);
            Changed?.Invoke(next);
            Reloaded?.Invoke(null);
        }
    }

    public void Dispose()
    {
        _watcher.Dispose();
        _debounce.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "config: kept the last good config: {Reason}")]
    private partial void LogRejected(string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "config: loaded generation {Generation}: {Addresses} addresses, {Policies} policies")]
    private partial void LogLoaded(long generation, int addresses, int policies);
}
