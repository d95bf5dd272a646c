using Hbone.Ztunnel.State;

namespace Hbone.Ztunnel.Policy;

/// <summary>
/// The L4 authorization of one pod's workload, kept across config snapshots: the policy set is rebuilt once per
/// snapshot and swapped into the same <see cref="PolicyEngine"/>, so its decision caches live as long as the pod.
/// </summary>
internal sealed class PodPolicy(Func<WorkloadSnapshot, Workload?> findWorkload)
{
    private readonly Lock _gate = new();
    private PolicyEngine? _engine;
    private WorkloadSnapshot? _snapshot;
    private bool _present;

    /// <summary>The engine for the policies of <paramref name="snapshot"/>; null when the pod's workload is not in it.</summary>
    public PolicyEngine? For(WorkloadSnapshot snapshot)
    {
        lock (_gate)
        {
            if (!ReferenceEquals(_snapshot, snapshot))
            {
                _snapshot = snapshot;
                var set = findWorkload(snapshot) is { } workload
                    ? PolicySet.Create(new DestinationWorkload(workload.Namespace, workload.Name, workload.Labels, workload.AuthorizationPolicies), snapshot.Config.Policies, snapshot.MissingPolicies(workload))
                    : null;
                if (set is not null)
                {
                    if (_engine is null)
                    {
                        _engine = new PolicyEngine(set);
                    }
                    else
                    {
                        _engine.Update(set);
                    }
                }

                _present = set is not null;
            }

            return _present ? _engine : null;
        }
    }
}
