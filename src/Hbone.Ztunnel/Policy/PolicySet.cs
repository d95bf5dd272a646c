using Hbone.Ztunnel.Config;
using Hbone.Ztunnel.State;

namespace Hbone.Ztunnel.Policy;

/// <summary>The immutable set of policies that apply to one destination workload, ready to evaluate.</summary>
/// <remarks>
/// Applies: Global policies; Namespace policies of the workload's namespace; WorkloadSelector policies of the workload's
/// namespace whose selector labels are all present with equal values on the workload.
/// ADV-15: a policy the workload references but that has not been received is treated as a matching DENY for the
/// workload (fail closed: it could be a DENY), until it arrives. ztunnel instead skips unknown policies with a warning.
/// </remarks>
public sealed class PolicySet
{
    private readonly CompiledPolicy[] _deny;
    private readonly CompiledPolicy[] _allow;
    private readonly string[] _missing;

    private PolicySet(DestinationWorkload workload, CompiledPolicy[] deny, CompiledPolicy[] allow, string[] missing)
    {
        Workload = workload;
        _deny = deny;
        _allow = allow;
        _missing = missing;
        var policies = new AuthorizationPolicy[deny.Length + allow.Length];
        for (int i = 0; i < deny.Length; i++)
        {
            policies[i] = deny[i].Source;
        }

        for (int i = 0; i < allow.Length; i++)
        {
            policies[deny.Length + i] = allow[i].Source;
        }

        Policies = policies;
    }

    /// <summary>The workload this set was built for.</summary>
    public DestinationWorkload Workload { get; }

    /// <summary>The policies that apply to <see cref="Workload"/> (DENY ones first).</summary>
    public IReadOnlyList<AuthorizationPolicy> Policies { get; }

    /// <summary>Referenced policies not received yet; each denies every connection to the workload.</summary>
    public IReadOnlyList<string> MissingPolicyNames => _missing;

    /// <summary>Selects and compiles the policies of <paramref name="policies"/> that apply to <paramref name="workload"/>.</summary>
    /// <param name="workload">The destination workload.</param>
    /// <param name="policies">All known policies; those not applying to the workload are left out.</param>
    /// <param name="missingPolicyNames">Policies the workload references that have not been received.</param>
    public static PolicySet Create(DestinationWorkload workload, IEnumerable<AuthorizationPolicy> policies, IEnumerable<string>? missingPolicyNames = null)
    {
        ArgumentNullException.ThrowIfNull(workload);
        ArgumentNullException.ThrowIfNull(policies);
        var deny = new List<CompiledPolicy>();
        var allow = new List<CompiledPolicy>();
        foreach (AuthorizationPolicy policy in policies)
        {
            if (!policy.DryRun && CompiledPolicy.AppliesTo(policy, workload))
            {
                (policy.Action == PolicyAction.Deny ? deny : allow).Add(new CompiledPolicy(policy));
            }
        }

        string[] missing = missingPolicyNames is null ? [] : [.. missingPolicyNames];
        return new PolicySet(workload, [.. deny], [.. allow], missing);
    }

    /// <summary>§6: any matching DENY denies; else no ALLOW -> allowed; else any matching ALLOW -> allowed; else denied.</summary>
    internal AuthorizationDecision Evaluate(ConnectionAttributes c)
    {
        DestinationWorkload d = c.Destination;
        if (!ReferenceEquals(d, Workload)
            && (!string.Equals(d.Namespace, Workload.Namespace, StringComparison.Ordinal) || !string.Equals(d.Name, Workload.Name, StringComparison.Ordinal)))
        {
            return new AuthorizationDecision(false, null, AuthorizationReasons.WrongWorkload);
        }

        if (_missing.Length > 0)
        {
            return new AuthorizationDecision(false, _missing[0], AuthorizationReasons.MissingPolicy);
        }

        foreach (CompiledPolicy policy in _deny)
        {
            if (policy.Matches(c))
            {
                return new AuthorizationDecision(false, policy.Key, AuthorizationReasons.DenyPolicyMatched);
            }
        }

        if (_allow.Length == 0)
        {
            return new AuthorizationDecision(true, null, AuthorizationReasons.NoAllowPolicies);
        }

        foreach (CompiledPolicy policy in _allow)
        {
            if (policy.Matches(c))
            {
                return new AuthorizationDecision(true, policy.Key, AuthorizationReasons.AllowPolicyMatched);
            }
        }

        return new AuthorizationDecision(false, null, AuthorizationReasons.NoAllowPolicyMatched);
    }
}
