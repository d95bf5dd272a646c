using System.Collections.Concurrent;
using Hbone.Identity;
using Hbone.Istio.Ca;

namespace Hbone.Ztunnel.Identity;

/// <summary>
/// The certificates of the workloads this node serves, one source per identity, made on first use: issued by the
/// node's development CA (loaded from PEM so every node shares its root, or made up in process), or read from a
/// directory of PEM files as <c>hbone certs</c> writes them (<c>ca.pem</c>, <c>SA.pem</c>, <c>SA.key</c>), reloaded when they change.
/// Issued certificates are renewed at half their lifetime, as Istio's agents do; pooled connections made with the old
/// one take no new streams and servers present the new one at the next handshake.
/// </summary>
internal sealed class WorkloadIdentities : IWorkloadCertificates, IDisposable
{
    private static readonly TimeSpan Lifetime = TimeSpan.FromHours(24);
    private static readonly TimeSpan RenewCheckInterval = TimeSpan.FromMinutes(1);

    private readonly DevelopmentCertificateAuthority? _authority;
    private readonly string? _certificateDirectory;
    private readonly TrustBundle _bundle;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<SpiffeId, Lazy<ISvidSource>> _sources = new();
    private readonly ITimer? _renewTimer;

    private WorkloadIdentities(DevelopmentCertificateAuthority? authority, string? certificateDirectory, TrustBundle bundle, TimeProvider? time)
    {
        _authority = authority;
        _certificateDirectory = certificateDirectory;
        _bundle = bundle;
        _time = time ?? TimeProvider.System;
        if (authority is not null)
        {
            _renewTimer = _time.CreateTimer(_ => RenewQuietly(), null, RenewCheckInterval, RenewCheckInterval);
        }
    }

    /// <summary>Never raised: the roots do not rotate while the process runs.</summary>
    public event EventHandler? Changed
    {
        add { }
        remove { }
    }

    /// <summary>The roots every workload certificate chains to; peers must chain to them too.</summary>
    public TrustBundle TrustBundle => _bundle;

    /// <inheritdoc />
    public TrustBundle GetTrustBundle() => _bundle;

    /// <summary>Issues certificates with <paramref name="authority"/> (owned from now on), checking every minute of <paramref name="time"/> for ones to renew.</summary>
    public static WorkloadIdentities FromAuthority(DevelopmentCertificateAuthority authority, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(authority);
        return new WorkloadIdentities(authority, null, authority.TrustBundle, time);
    }

    /// <summary>
    /// Picks the source from the configuration: <paramref name="certificateDirectory"/> when set; else the CA in
    /// <paramref name="caCertificatePath"/> and <paramref name="caKeyPath"/>; else a new in-process CA.
    /// </summary>
    /// <exception cref="CertificateLoadException">A file cannot be read, is malformed, or only one CA file was given.</exception>
    public static WorkloadIdentities Create(string? certificateDirectory, string? caCertificatePath, string? caKeyPath, string trustDomain)
    {
        if (certificateDirectory is not null)
        {
            var bundlePath = Path.Combine(certificateDirectory, "ca.pem");
            return new WorkloadIdentities(null, certificateDirectory, TrustBundle.FromPem(trustDomain, ReadFile(bundlePath)), null);
        }

        if (caCertificatePath is null && caKeyPath is null)
        {
            return FromAuthority(new DevelopmentCertificateAuthority(trustDomain));
        }

        if (caCertificatePath is null || caKeyPath is null)
        {
            throw new CertificateLoadException(CertificateLoadError.FileNotFound, caCertificatePath ?? caKeyPath, "set both CA_ROOT_CERT and CA_ROOT_KEY, or neither");
        }

        return FromAuthority(DevelopmentCertificateAuthority.FromPem(ReadFile(caCertificatePath), ReadFile(caKeyPath), trustDomain));
    }

    /// <summary>The certificate source presenting <paramref name="id"/>.</summary>
    /// <exception cref="CertificateLoadException">The identity's PEM files are missing or name another identity.</exception>
    public ISvidSource For(SpiffeId id) => _sources.GetOrAdd(id, key => new Lazy<ISvidSource>(() => Open(key))).Value;

    /// <inheritdoc />
    public ValueTask<ISvidSource> GetAsync(SpiffeId id, CancellationToken cancellationToken) => ValueTask.FromResult(For(id));

    /// <summary>Issues (or loads) the certificate now, so the first connection does not pay for it.</summary>
    public void Prefetch(SpiffeId id) => For(id);

    /// <summary>Kept: local certificates cost nothing to keep and may be asked for again.</summary>
    public void Forget(SpiffeId id)
    {
    }

    /// <inheritdoc />
    public bool IsAvailable(SpiffeId id) => _sources.TryGetValue(id, out var lazy) && lazy.IsValueCreated;

    /// <inheritdoc />
    public IReadOnlyList<CertificateStatus> Describe()
    {
        var roots = new List<CertificateDetails>();
        foreach (var root in _bundle.Roots)
        {
            roots.Add(CertificateDetails.From(root));
        }

        var certificates = new List<CertificateStatus>();
        foreach (var (id, lazy) in _sources)
        {
            if (lazy.IsValueCreated)
            {
                var svid = lazy.Value.GetSvid();
                var chain = new List<CertificateDetails> { CertificateDetails.From(svid.Certificate) };
                foreach (var intermediate in svid.Intermediates)
                {
                    chain.Add(CertificateDetails.From(intermediate));
                }

                certificates.Add(new CertificateStatus(id.ToString(), "Available", null, chain, roots));
            }
        }

        certificates.Sort((a, b) => string.CompareOrdinal(a.Identity, b.Identity));
        return certificates;
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync()
    {
        Dispose();
        return ValueTask.CompletedTask;
    }

    /// <summary>Re-issues every CA-issued certificate past half its lifetime; returns how many were renewed.</summary>
    public int RenewDue()
    {
        if (_authority is null)
        {
            return 0;
        }

        var now = _time.GetUtcNow();
        var renewed = 0;
        foreach (var (id, lazy) in _sources)
        {
            if (lazy.IsValueCreated && lazy.Value is InMemoryCertificateSource source)
            {
                var current = source.GetSvid();
                if (now >= current.NotBefore + ((current.NotAfter - current.NotBefore) / 2))
                {
                    source.Update(_authority.Issue(id, Lifetime));
                    renewed++;
                }
            }
        }

        return renewed;
    }

    // A timer callback must not throw (it would end the process); a failed renewal keeps the current certificate until the next check.
    private void RenewQuietly()
    {
        try
        {
            RenewDue();
        }
        catch (Exception ex) when (ex is ObjectDisposedException or System.Security.Cryptography.CryptographicException or ArgumentException)
        {
        }
    }

    public void Dispose()
    {
        _renewTimer?.Dispose();
        _authority?.Dispose();
        foreach (var source in _sources.Values)
        {
            if (source.IsValueCreated && source.Value is IDisposable disposable)
            {
                disposable.Dispose();
            }
        }
    }

    private ISvidSource Open(SpiffeId id)
    {
        if (_authority is not null)
        {
            return new InMemoryCertificateSource(_authority.Issue(id, Lifetime), _bundle);
        }

        var name = id.TryGetIstioIdentity(out var istio) ? istio.ServiceAccount : throw new CertificateLoadException(CertificateLoadError.NotAnSvid, null, $"{id} is not an Istio workload identity");
        var basePath = Path.Combine(_certificateDirectory!, name);
        var source = new PemFileCertificateSource(basePath + ".pem", basePath + ".key", Path.Combine(_certificateDirectory!, "ca.pem"), id.TrustDomain);
        if (source.GetSvid().Id != id)
        {
            source.Dispose();
            throw new CertificateLoadException(CertificateLoadError.NotAnSvid, basePath + ".pem", $"the certificate is for {source.GetSvid().Id}, not {id}");
        }

        return source;
    }

    private static string ReadFile(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new CertificateLoadException(CertificateLoadError.Unreadable, path, $"cannot read {path}: {ex.Message}", ex);
        }
    }
}
