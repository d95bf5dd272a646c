using System.Collections.Concurrent;
using Hbone.Identity;

namespace Hbone.Ztunnel.Identity;

/// <summary>
/// The certificates of the workloads this node serves, one source per identity, made on first use: issued by the
/// node's development CA (loaded from PEM so every node shares its root, or made up in process), or read from a
/// directory of PEM files as <c>hbone certs</c> writes them (<c>ca.pem</c>, <c>SA.pem</c>, <c>SA.key</c>), reloaded when they change.
/// </summary>
public sealed class WorkloadIdentities : ITrustBundleSource, IDisposable
{
    private static readonly TimeSpan Lifetime = TimeSpan.FromHours(24);

    private readonly DevelopmentCertificateAuthority? _authority;
    private readonly string? _certificateDirectory;
    private readonly TrustBundle _bundle;
    private readonly ConcurrentDictionary<SpiffeId, Lazy<ISvidSource>> _sources = new();

    private WorkloadIdentities(DevelopmentCertificateAuthority? authority, string? certificateDirectory, TrustBundle bundle)
    {
        _authority = authority;
        _certificateDirectory = certificateDirectory;
        _bundle = bundle;
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

    /// <summary>Issues certificates with <paramref name="authority"/> (owned from now on).</summary>
    public static WorkloadIdentities FromAuthority(DevelopmentCertificateAuthority authority)
    {
        ArgumentNullException.ThrowIfNull(authority);
        return new WorkloadIdentities(authority, null, authority.TrustBundle);
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
            return new WorkloadIdentities(null, certificateDirectory, TrustBundle.FromPem(trustDomain, ReadFile(bundlePath)));
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

    public void Dispose()
    {
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
