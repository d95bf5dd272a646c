namespace Hbone.Ztunnel.Policy;

/// <summary>L4 authorization for one destination workload over its current, immutable <see cref="PolicySet"/>.</summary>
/// <remarks>
/// <see cref="Authorize"/> allocates nothing. On a policy change, <see cref="Update"/> swaps the set and the caller
/// passes its live connections to <see cref="Recheck"/> to close those now denied (ADV-12, late rejection).
/// </remarks>
public sealed class PolicyEngine
{
    private PolicySet _policies;

    public PolicyEngine(PolicySet policies)
    {
        ArgumentNullException.ThrowIfNull(policies);
        _policies = policies;
    }

    /// <summary>The set used by the next <see cref="Authorize"/>.</summary>
    public PolicySet Policies => Volatile.Read(ref _policies);

    /// <summary>Replaces the policy set (atomically; calls in flight finish on the old one).</summary>
    public void Update(PolicySet policies)
    {
        ArgumentNullException.ThrowIfNull(policies);
        Volatile.Write(ref _policies, policies);
    }

    /// <summary>Decides whether <paramref name="connection"/> may proceed.</summary>
    public AuthorizationDecision Authorize(ConnectionAttributes connection)
    {
        ArgumentNullException.ThrowIfNull(connection);
        return Volatile.Read(ref _policies).Evaluate(connection);
    }

    /// <summary>Re-evaluates live connections against the current set; returns those now denied.</summary>
    public IReadOnlyList<ConnectionAttributes> Recheck(IEnumerable<ConnectionAttributes> connections)
    {
        ArgumentNullException.ThrowIfNull(connections);
        PolicySet policies = Volatile.Read(ref _policies);
        var denied = new List<ConnectionAttributes>();
        foreach (ConnectionAttributes connection in connections)
        {
            if (!policies.Evaluate(connection).Allowed)
            {
                denied.Add(connection);
            }
        }

        return denied;
    }
}
