using Hbone.Identity;
using Hbone.Ztunnel.Config;
using Hbone.Ztunnel.State;
using Microsoft.Extensions.Logging;

namespace Hbone.Ztunnel.Identity;

/// <summary>
/// Keeps a certificate ready for every HBONE workload the config places on this node, as ztunnel's prefetch does, so a
/// pod's first connection does not wait for a CSR; identities no local workload uses any more are forgotten.
/// </summary>
internal sealed partial class CertificatePrefetcher(IWorkloadCertificates certificates, string? nodeName, ILogger logger)
{
    private readonly Lock _gate = new();
    private HashSet<SpiffeId> _local = [];

    /// <summary>The identities of this node's HBONE workloads in the latest snapshot.</summary>
    public IReadOnlyCollection<SpiffeId> LocalIdentities
    {
        get
        {
            lock (_gate)
            {
                return [.. _local];
            }
        }
    }

    /// <summary>Whether every local identity has a certificate now.</summary>
    public bool AllAvailable
    {
        get
        {
            foreach (SpiffeId id in LocalIdentities)
            {
                if (!certificates.IsAvailable(id))
                {
                    return false;
                }
            }

            return true;
        }
    }

    /// <summary>Prefetches the certificates of local workloads new in <paramref name="snapshot"/> and forgets the ones gone.</summary>
    public void Update(WorkloadSnapshot snapshot)
    {
        if (nodeName is null)
        {
            return;
        }

        var current = new HashSet<SpiffeId>();
        foreach (Workload workload in snapshot.Config.Workloads)
        {
            if (workload.Protocol == WorkloadProtocol.Hbone && string.Equals(workload.Node, nodeName, StringComparison.Ordinal))
            {
                current.Add(snapshot.IdentityOf(workload));
            }
        }

        HashSet<SpiffeId> previous;
        lock (_gate)
        {
            previous = _local;
            _local = current;
        }

        foreach (SpiffeId id in current)
        {
            if (!previous.Contains(id))
            {
                Prefetch(id);
            }
        }

        foreach (SpiffeId id in previous)
        {
            if (!current.Contains(id))
            {
                certificates.Forget(id);
            }
        }
    }

    // A certificate that cannot be had now is fetched again on the first connection that needs it.
    private void Prefetch(SpiffeId id)
    {
        try
        {
            certificates.Prefetch(id);
        }
        catch (Exception ex) when (ex is HboneException or Hbone.Istio.IstioException)
        {
            Log.PrefetchFailed(logger, id, ex.Message);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "cannot prefetch the certificate of {Identity}: {Error}")]
        public static partial void PrefetchFailed(ILogger logger, SpiffeId identity, string error);
    }
}
