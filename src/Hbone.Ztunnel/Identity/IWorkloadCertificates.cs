using Hbone.Identity;
using Hbone.Istio.Ca;

namespace Hbone.Ztunnel.Identity;

/// <summary>
/// Where the certificates of the workloads this node serves come from: a local CA or PEM directory
/// (<see cref="WorkloadIdentities"/>), or istiod's CA (<see cref="IstioWorkloadCertificates"/>).
/// </summary>
internal interface IWorkloadCertificates : ITrustBundleSource, IAsyncDisposable
{
    /// <summary>The source presenting <paramref name="id"/>; its <see cref="ISvidSource.GetSvid"/> may fail while no certificate was issued yet.</summary>
    ISvidSource For(SpiffeId id);

    /// <summary>The source presenting <paramref name="id"/>, once it has a certificate.</summary>
    ValueTask<ISvidSource> GetAsync(SpiffeId id, CancellationToken cancellationToken);

    /// <summary>Starts getting <paramref name="id"/>'s certificate ahead of its first connection.</summary>
    void Prefetch(SpiffeId id);

    /// <summary>Stops renewing <paramref name="id"/>'s certificate: no local workload uses it any more.</summary>
    void Forget(SpiffeId id);

    /// <summary>Whether <paramref name="id"/> has a certificate now.</summary>
    bool IsAvailable(SpiffeId id);

    /// <summary>The certificates for <c>/config_dump</c>, sorted by identity.</summary>
    IReadOnlyList<CertificateStatus> Describe();
}
