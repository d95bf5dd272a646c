using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Hbone.Identity;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Hbone.Istio.Ca;

/// <summary>
/// Keeps one certificate per workload identity, as ztunnel's SecretManager does: fetched on first use, renewed at half its
/// lifetime (minus jitter), retried with backoff while the old certificate stays in use, at most
/// <see cref="IstioCertificateManagerOptions.MaxConcurrentFetches"/> CSRs in flight.
/// </summary>
/// <remarks>
/// The trust bundle is the root bundle of the latest issued chain. Until the first certificate arrives there is none, and
/// <see cref="GetTrustBundle"/> throws rather than hand out an empty bundle that would reject every peer silently.
/// Replaced SVIDs are never disposed: a handshake or live connection may still use them.
/// </remarks>
public sealed class IstioCertificateManager : ITrustBundleSource, IAsyncDisposable
{
    private readonly Lock _gate = new();
    private readonly Dictionary<SpiffeId, IdentityCertificate> _entries = [];
    private readonly List<Task> _stopping = [];
    private volatile TrustBundle? _bundle;
    private bool _disposed;

    /// <summary>Creates a manager that fetches through <paramref name="issuer"/>; nothing is fetched until an identity is asked for.</summary>
    /// <param name="issuer">Issues certificates, usually an <see cref="IstioCaClient"/>.</param>
    /// <param name="options">Concurrency, jitter and retry settings; defaults when null.</param>
    /// <param name="logger">Where to log; none by default.</param>
    /// <param name="timeProvider">The clock for renewal timers and retry delays; the system clock by default.</param>
    /// <exception cref="IstioException">The options are invalid (<see cref="IstioErrorReason.InvalidOptions"/>).</exception>
    public IstioCertificateManager(ICertificateIssuer issuer, IstioCertificateManagerOptions? options = null, ILogger<IstioCertificateManager>? logger = null, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(issuer);
        Options = options ?? new IstioCertificateManagerOptions();
        Options.Validate();
        Issuer = issuer;
        Logger = (ILogger?)logger ?? NullLogger.Instance;
        TimeProvider = timeProvider ?? TimeProvider.System;
        Fetches = new SemaphoreSlim(Options.MaxConcurrentFetches, Options.MaxConcurrentFetches);
    }

    /// <summary>Raised when the roots of the trust bundle change.</summary>
    public event EventHandler? Changed;

    internal IstioCertificateManagerOptions Options { get; }

    internal ICertificateIssuer Issuer { get; }

    internal ILogger Logger { get; }

    internal TimeProvider TimeProvider { get; }

    // Not disposed: a forgotten identity's fetch may still release it after the manager is gone.
    internal SemaphoreSlim Fetches { get; }

    /// <summary>The certificate source of <paramref name="id"/>, starting its first fetch if it is new.</summary>
    /// <remarks>The source's <see cref="ISvidSource.GetSvid"/> throws <see cref="IstioException"/> (<see cref="IstioErrorReason.CertificateUnavailable"/>) until a certificate is there.</remarks>
    /// <exception cref="ObjectDisposedException">The manager was disposed.</exception>
    public ISvidSource For(SpiffeId id) => GetOrStart(id);

    /// <summary>Waits until <paramref name="id"/> has a certificate (starting its fetch if it is new) and returns its source.</summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled first.</exception>
    /// <exception cref="IstioException">The identity was forgotten while waiting (<see cref="IstioErrorReason.CertificateUnavailable"/>).</exception>
    /// <exception cref="ObjectDisposedException">The manager was disposed.</exception>
    public async ValueTask<ISvidSource> GetAsync(SpiffeId id, CancellationToken cancellationToken)
    {
        IdentityCertificate entry = GetOrStart(id);
        await entry.Ready.WaitAsync(cancellationToken).ConfigureAwait(false);
        return entry;
    }

    /// <summary>Starts fetching the certificate of <paramref name="id"/> without waiting (e.g. for a workload that just appeared).</summary>
    /// <exception cref="ObjectDisposedException">The manager was disposed.</exception>
    public void Prefetch(SpiffeId id) => GetOrStart(id);

    /// <summary>Stops renewing the certificate of <paramref name="id"/> and drops it (no local workload uses the identity any more).</summary>
    public void Forget(SpiffeId id)
    {
        ArgumentNullException.ThrowIfNull(id);
        IdentityCertificate? entry;
        lock (_gate)
        {
            if (!_entries.Remove(id, out entry))
            {
                return;
            }
        }

        // Cancelling runs callbacks inline, so it happens outside the lock.
        Task stopped = entry.StopAsync();
        lock (_gate)
        {
            _stopping.RemoveAll(t => t.IsCompleted);
            _stopping.Add(stopped);
        }

        CertificateManagerLog.Forgotten(Logger, id);
    }

    /// <summary>True when <paramref name="id"/> has a certificate that has not expired.</summary>
    public bool IsAvailable(SpiffeId id)
    {
        ArgumentNullException.ThrowIfNull(id);
        lock (_gate)
        {
            return _entries.TryGetValue(id, out IdentityCertificate? entry) && entry.State == IdentityCertificate.Available;
        }
    }

    /// <summary>The roots returned with the latest issued certificate.</summary>
    /// <exception cref="IstioException">No certificate was issued yet (<see cref="IstioErrorReason.CertificateUnavailable"/>).</exception>
    public TrustBundle GetTrustBundle() =>
        _bundle ?? throw new IstioException(IstioErrorReason.CertificateUnavailable, "no trust bundle yet: no certificate has been issued");

    /// <summary>Every managed identity's state and chain, sorted by identity, for <c>/config_dump</c>'s <c>certificates</c>.</summary>
    public IReadOnlyList<CertificateStatus> Describe()
    {
        IdentityCertificate[] entries;
        lock (_gate)
        {
            entries = [.. _entries.Values];
        }

        List<CertificateStatus> result = new(entries.Length);
        foreach (IdentityCertificate entry in entries.OrderBy(e => e.Id.ToString(), StringComparer.Ordinal))
        {
            IssuedCertificate? current = entry.Current;
            List<CertificateDetails> chain = [];
            List<CertificateDetails> roots = [];
            if (current is not null)
            {
                chain.Add(CertificateDetails.From(current.Svid.Certificate));
                chain.AddRange(current.Svid.Intermediates.Select(CertificateDetails.From));
                roots.AddRange(current.Roots.Roots.Select(CertificateDetails.From));
            }

            result.Add(new CertificateStatus(entry.Id.ToString(), entry.State, entry.LastError, chain, roots));
        }

        return result;
    }

    /// <summary>Stops every renewal loop and waits for them to end; certificates already handed out stay usable.</summary>
    public async ValueTask DisposeAsync()
    {
        List<Task> loops;
        IdentityCertificate[] entries;
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            loops = [.. _stopping];
            entries = [.. _entries.Values];
            _entries.Clear();
        }

        foreach (IdentityCertificate entry in entries)
        {
            loops.Add(entry.StopAsync());
        }

        await Task.WhenAll(loops).ConfigureAwait(false);
    }

    internal void OnIssued(IssuedCertificate issued)
    {
        lock (_gate)
        {
            if (_bundle is { } current && SameRoots(current, issued.Roots))
            {
                return;
            }

            _bundle = issued.Roots;
        }

        CertificateManagerLog.RootsChanged(Logger, issued.Roots.TrustDomain, issued.Roots.Roots.Count);
        Changed?.Invoke(this, EventArgs.Empty);
    }

    private IdentityCertificate GetOrStart(SpiffeId id)
    {
        ArgumentNullException.ThrowIfNull(id);
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (!_entries.TryGetValue(id, out IdentityCertificate? entry))
            {
                entry = new IdentityCertificate(this, id);
                _entries.Add(id, entry);
                entry.Start();
            }

            return entry;
        }
    }

    private static bool SameRoots(TrustBundle a, TrustBundle b) =>
        a.TrustDomain == b.TrustDomain && Thumbprints(a).SetEquals(Thumbprints(b));

    private static HashSet<string> Thumbprints(TrustBundle bundle) =>
        [.. bundle.Roots.Select(r => r.GetCertHashString(HashAlgorithmName.SHA256))];
}
