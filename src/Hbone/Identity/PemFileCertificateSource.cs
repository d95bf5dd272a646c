namespace Hbone.Identity;

/// <summary>An SVID and trust bundle read from PEM files (e.g. a mounted Kubernetes secret) and reloaded when they change.</summary>
/// <remarks>
/// A reload that fails keeps the last good material and records <see cref="LastReloadError"/>; the next file event retries.
/// Live TLS connections are unaffected: consumers call <see cref="GetSvid"/> per handshake.
/// </remarks>
public sealed class PemFileCertificateSource : ISvidSource, ITrustBundleSource, IDisposable
{
    private static readonly TimeSpan Debounce = TimeSpan.FromMilliseconds(200);

    private readonly string _certificatePath;
    private readonly string _privateKeyPath;
    private readonly string _trustBundlePath;
    private readonly string? _configuredTrustDomain;
    private readonly List<FileSystemWatcher> _watchers = [];
    private readonly Timer _reloadTimer;
    private readonly Lock _reloadLock = new();
    private volatile Material _material;
    private volatile CertificateLoadException? _lastReloadError;
    private bool _disposed;

    /// <summary>Loads the three files now and starts watching their directories.</summary>
    /// <param name="certificatePath">PEM chain: the leaf first, then intermediates.</param>
    /// <param name="privateKeyPath">PEM private key of the leaf (PKCS#8, SEC1 or PKCS#1).</param>
    /// <param name="trustBundlePath">PEM roots of the trust domain.</param>
    /// <param name="trustDomain">The bundle's trust domain; defaults to the trust domain of the leaf's SPIFFE ID.</param>
    /// <exception cref="CertificateLoadException">A file is missing, unreadable or malformed, or the key does not match.</exception>
    public PemFileCertificateSource(string certificatePath, string privateKeyPath, string trustBundlePath, string? trustDomain = null)
    {
        _certificatePath = Path.GetFullPath(certificatePath);
        _privateKeyPath = Path.GetFullPath(privateKeyPath);
        _trustBundlePath = Path.GetFullPath(trustBundlePath);
        _configuredTrustDomain = trustDomain;
        _material = Load();
        _reloadTimer = new Timer(_ => Reload(), null, Timeout.Infinite, Timeout.Infinite);
        foreach (string? directory in new[] { _certificatePath, _privateKeyPath, _trustBundlePath }.Select(Path.GetDirectoryName).Distinct(StringComparer.Ordinal))
        {
            // Watch whole directories: Kubernetes swaps secret files through a '..data' symlink, not by writing them.
            FileSystemWatcher watcher = new(directory!)
            {
                NotifyFilter = NotifyFilters.FileName | NotifyFilters.DirectoryName | NotifyFilters.LastWrite | NotifyFilters.Size | NotifyFilters.CreationTime,
                IncludeSubdirectories = false,
            };
            watcher.Changed += OnFileEvent;
            watcher.Created += OnFileEvent;
            watcher.Deleted += OnFileEvent;
            watcher.Renamed += OnFileEvent;
            watcher.EnableRaisingEvents = true;
            _watchers.Add(watcher);
        }
    }

    /// <summary>Raised after new material was loaded successfully.</summary>
    public event EventHandler? Changed;

    /// <summary>Raised when a reload failed; the last good material is still served.</summary>
    public event EventHandler<CertificateLoadException>? ReloadFailed;

    /// <summary>Why the most recent reload failed, or null when it succeeded (the last good material is still served).</summary>
    public CertificateLoadException? LastReloadError => _lastReloadError;

    /// <inheritdoc />
    public Svid GetSvid() => _material.Svid;

    /// <inheritdoc />
    public TrustBundle GetTrustBundle() => _material.Bundle;

    /// <summary>Reloads the files now instead of waiting for a file event.</summary>
    /// <returns>True when new material was loaded; false when the files were unchanged or the load failed.</returns>
    public bool Reload()
    {
        lock (_reloadLock)
        {
            if (_disposed)
            {
                return false;
            }

            Material? loaded = null;
            CertificateLoadException? failure = null;
            try
            {
                loaded = Load();
            }
            catch (CertificateLoadException ex)
            {
                _lastReloadError = ex;
                failure = ex;
            }

            if (loaded is null)
            {
                // Raised under the lock so it cannot be reordered after a later success; handlers must be quick.
                ReloadFailed?.Invoke(this, failure!);
                return false;
            }

            _lastReloadError = null;
            if (loaded.SameTextAs(_material))
            {
                loaded.Svid.Dispose();
                return false;
            }

            // The old SVID is not disposed: a handshake that fetched it may still be running.
            _material = loaded;
        }

        Changed?.Invoke(this, EventArgs.Empty);
        return true;
    }

    /// <summary>Stops watching the files.</summary>
    public void Dispose()
    {
        lock (_reloadLock)
        {
            _disposed = true;
        }

        foreach (FileSystemWatcher watcher in _watchers)
        {
            watcher.Dispose();
        }

        _reloadTimer.Dispose();
    }

    private void OnFileEvent(object sender, FileSystemEventArgs e)
    {
        // Several events arrive per rewrite (truncate, write, rename); reload once they settle.
        try
        {
            _reloadTimer.Change(Debounce, Timeout.InfiniteTimeSpan);
        }
        catch (ObjectDisposedException)
        {
            // Disposed while an event was in flight: nothing left to reload.
        }
    }

    private Material Load()
    {
        string certificatePem = ReadFile(_certificatePath);
        string keyPem = ReadFile(_privateKeyPath);
        string bundlePem = ReadFile(_trustBundlePath);
        Svid svid;
        try
        {
            svid = Svid.FromPem(certificatePem, keyPem, _certificatePath, _privateKeyPath);
        }
        catch (SvidValidationException ex)
        {
            // Callers handle one exception type for file problems; the SVID reason stays in the inner exception.
            throw CertificateLoadException.Create(CertificateLoadError.NotAnSvid, _certificatePath, "certificate", ex);
        }

        try
        {
            TrustBundle bundle = TrustBundle.FromPem(_configuredTrustDomain ?? svid.Id.TrustDomain, bundlePem, _trustBundlePath);
            return new Material(svid, bundle, certificatePem, keyPem, bundlePem);
        }
        catch
        {
            svid.Dispose();
            throw;
        }
    }

    private static string ReadFile(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            throw CertificateLoadException.Create(CertificateLoadError.FileNotFound, path, "file", ex);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw CertificateLoadException.Create(CertificateLoadError.Unreadable, path, "file", ex);
        }
    }

    private sealed record Material(Svid Svid, TrustBundle Bundle, string CertificatePem, string KeyPem, string BundlePem)
    {
        public bool SameTextAs(Material other) =>
            CertificatePem == other.CertificatePem && KeyPem == other.KeyPem && BundlePem == other.BundlePem;
    }
}
