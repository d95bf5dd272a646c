using System.Collections.Concurrent;
using Hbone.Identity;

namespace Hbone.Ztunnel.Identity;

/// <summary>
/// The certificates of the workloads this node serves: one SVID per identity, issued on first use by the node's
/// certificate authority (the development CA, from PEM files so every node shares its root, or made up in process).
/// </summary>
public sealed class WorkloadIdentities : ITrustBundleSource, IDisposable
{
    private static readonly TimeSpan Lifetime = TimeSpan.FromHours(24);

    private readonly DevelopmentCertificateAuthority _authority;
    private readonly ConcurrentDictionary<SpiffeId, Lazy<InMemoryCertificateSource>> _sources = new();

    public WorkloadIdentities(DevelopmentCertificateAuthority authority)
    {
        ArgumentNullException.ThrowIfNull(authority);
        _authority = authority;
    }

    /// <summary>The roots every workload certificate chains to; peers must chain to them too.</summary>
    public TrustBundle TrustBundle => _authority.TrustBundle;

    /// <summary>Never raised: the node's CA root does not rotate while the process runs.</summary>
    public event EventHandler? Changed
    {
        add { }
        remove { }
    }

    /// <inheritdoc />
    public TrustBundle GetTrustBundle() => _authority.TrustBundle;

    /// <summary>Loads the CA from <paramref name="certificatePath"/> and <paramref name="keyPath"/> (as <c>hbone certs</c> writes them), or makes a new one when both are null.</summary>
    /// <exception cref="CertificateLoadException">The files cannot be read or are not a CA.</exception>
    public static WorkloadIdentities Create(string? certificatePath, string? keyPath, string trustDomain)
    {
        if (certificatePath is null && keyPath is null)
        {
            return new WorkloadIdentities(new DevelopmentCertificateAuthority(trustDomain));
        }

        if (certificatePath is null || keyPath is null)
        {
            throw new CertificateLoadException(CertificateLoadError.FileNotFound, certificatePath ?? keyPath, "set both CA_ROOT_CERT and CA_ROOT_KEY, or neither");
        }

        string certificate, key;
        try
        {
            certificate = File.ReadAllText(certificatePath);
            key = File.ReadAllText(keyPath);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new CertificateLoadException(CertificateLoadError.Unreadable, certificatePath, $"cannot read the CA: {ex.Message}", ex);
        }

        return new WorkloadIdentities(DevelopmentCertificateAuthority.FromPem(certificate, key, trustDomain));
    }

    /// <summary>The certificate source presenting <paramref name="id"/>.</summary>
    public InMemoryCertificateSource For(SpiffeId id) =>
        _sources.GetOrAdd(id, static (key, ca) => new Lazy<InMemoryCertificateSource>(() => new InMemoryCertificateSource(ca.Issue(key, Lifetime), ca.TrustBundle)), _authority).Value;

    public void Dispose() => _authority.Dispose();
}
