using Hbone.Ztunnel.Config;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Hbone.Ztunnel.State;

/// <summary>Loads the local config file into a <see cref="WorkloadStore"/> and reloads it when it changes; a bad update keeps the last good state (FT-03).</summary>
public sealed partial class ConfigWatcher : IDisposable
{
    private readonly string _path;
    private readonly WorkloadStore _store;
    private readonly TimeSpan _debounce;
    private readonly ILogger _logger;
    private readonly Lock _gate = new();
    private readonly Timer _timer;
    private FileSystemWatcher? _watcher;
    private string? _lastText;
    private volatile Exception? _lastError;
    private bool _disposed;

    /// <summary>Creates a watcher; nothing is read until <see cref="Start"/>.</summary>
    /// <param name="path">The YAML file (<c>LOCAL_XDS_PATH</c>).</param>
    /// <param name="store">The store each good config is swapped into.</param>
    /// <param name="debounce">How long the file must be quiet before a reload; 200 ms unless set.</param>
    /// <param name="logger">Where reloads are reported.</param>
    public ConfigWatcher(string path, WorkloadStore store, TimeSpan? debounce = null, ILogger<ConfigWatcher>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(store);
        _path = Path.GetFullPath(path);
        _store = store;
        _debounce = debounce ?? TimeSpan.FromMilliseconds(200);
        _logger = logger ?? NullLogger<ConfigWatcher>.Instance;
        _timer = new Timer(_ => Reload(), null, Timeout.Infinite, Timeout.Infinite);
    }

    /// <summary>Raised after each reload attempt, applied or rejected.</summary>
    public event EventHandler<ConfigChangedEventArgs>? Changed;

    /// <summary>Why the latest reload was rejected; null once a reload applies.</summary>
    public Exception? LastError => _lastError;

    /// <summary>Loads the file and starts watching it.</summary>
    /// <exception cref="LocalConfigException">The file is not a valid config.</exception>
    /// <exception cref="IOException">The file cannot be read.</exception>
    public void Start()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        string text = File.ReadAllText(_path);
        LocalConfig config = LocalConfigParser.Parse(text, Path.GetFileName(_path));
        lock (_gate)
        {
            _lastText = text;
            _store.Update(config);
            Log.Loaded(_logger, _path, config.Workloads.Count, config.Services.Count, config.Policies.Count);
            _watcher = new FileSystemWatcher(Path.GetDirectoryName(_path)!)
            {
                NotifyFilter = NotifyFilters.LastWrite | NotifyFilters.FileName | NotifyFilters.Size | NotifyFilters.CreationTime,
                IncludeSubdirectories = false,
            };
            _watcher.Changed += OnFileEvent;
            _watcher.Created += OnFileEvent;
            _watcher.Renamed += OnFileEvent;
            _watcher.EnableRaisingEvents = true;
        }
    }

    /// <summary>Reads and applies the file now; a bad file keeps the last good state.</summary>
    /// <returns>True when the file's config is in force (also when it did not change).</returns>
    public bool Reload()
    {
        ConfigChangedEventArgs args;
        lock (_gate)
        {
            if (_disposed)
            {
                return false;
            }

            string text;
            try
            {
                text = File.ReadAllText(_path);
            }
            catch (IOException e)
            {
                // A writer that replaces the file may hold it for a moment: try again after the next quiet period.
                Log.Unreadable(_logger, _path, e.Message);
                _timer.Change(_debounce, Timeout.InfiniteTimeSpan);
                return false;
            }

            if (text == _lastText)
            {
                return _lastError is null;
            }

            _lastText = text;
            try
            {
                LocalConfig config = LocalConfigParser.Parse(text, Path.GetFileName(_path));
                _lastError = null;
                args = new ConfigChangedEventArgs(_store.Update(config), null);
                Log.Loaded(_logger, _path, config.Workloads.Count, config.Services.Count, config.Policies.Count);
            }
            catch (LocalConfigException e)
            {
                _lastError = e;
                args = new ConfigChangedEventArgs(null, e);
                Log.Rejected(_logger, e.Message);
            }
        }

        Changed?.Invoke(this, args);
        return args.Applied;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        lock (_gate)
        {
            _disposed = true;
            _watcher?.Dispose();
            _timer.Dispose();
        }
    }

    private void OnFileEvent(object sender, FileSystemEventArgs e)
    {
        // Kubernetes ConfigMaps swap a "..data" symlink rather than writing the file itself.
        if (e.Name is { } name && (name == Path.GetFileName(_path) || name.StartsWith("..", StringComparison.Ordinal)))
        {
            lock (_gate)
            {
                if (!_disposed)
                {
                    _timer.Change(_debounce, Timeout.InfiniteTimeSpan);
                }
            }
        }
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "Loaded {Path}: {Workloads} workloads, {Services} services, {Policies} policies")]
        public static partial void Loaded(ILogger logger, string path, int workloads, int services, int policies);

        [LoggerMessage(2, LogLevel.Error, "Rejected config update, keeping the last good state: {Error}")]
        public static partial void Rejected(ILogger logger, string error);

        [LoggerMessage(3, LogLevel.Warning, "Cannot read {Path}, retrying: {Error}")]
        public static partial void Unreadable(ILogger logger, string path, string error);
    }
}
