using Hbone.Ztunnel.Config;
using Hbone.Ztunnel.State;

namespace Hbone.Ztunnel.Policy;

/// <summary>An <see cref="AuthorizationPolicy"/> as arrays: policy = any rule; rule = all clauses; clause = any match.</summary>
internal sealed class CompiledPolicy
{
    private readonly CompiledMatch[][][] _rules;

    public CompiledPolicy(AuthorizationPolicy policy)
    {
        ArgumentNullException.ThrowIfNull(policy);
        Source = policy;
        Key = policy.Key;
        IsDeny = policy.Action == PolicyAction.Deny;
        _rules = new CompiledMatch[policy.Rules.Count][][];
        for (int r = 0; r < _rules.Length; r++)
        {
            IReadOnlyList<PolicyClause> clauses = policy.Rules[r].Clauses;
            _rules[r] = new CompiledMatch[clauses.Count][];
            for (int c = 0; c < clauses.Count; c++)
            {
                IReadOnlyList<PolicyMatch> matches = clauses[c].Matches;
                _rules[r][c] = new CompiledMatch[matches.Count];
                for (int m = 0; m < matches.Count; m++)
                {
                    _rules[r][c][m] = new CompiledMatch(matches[m], policy.Namespace);
                }
            }
        }
    }

    public AuthorizationPolicy Source { get; }

    /// <summary><c>namespace/name</c>, the name a decision reports.</summary>
    public string Key { get; }

    public bool IsDeny { get; }

    /// <summary>True when any rule holds. No rules: matches nothing. A rule with no clauses holds; a clause with no matches does not.</summary>
    public bool Matches(ConnectionAttributes c)
    {
        foreach (CompiledMatch[][] rule in _rules)
        {
            if (RuleHolds(rule, c))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Whether this policy applies to <paramref name="workload"/> by its scope.</summary>
    /// <remarks>A WorkloadSelector policy selects only in its own namespace (as Istio's selector does).</remarks>
    public static bool AppliesTo(AuthorizationPolicy policy, DestinationWorkload workload) => policy.Scope switch
    {
        PolicyScope.Global => true,
        PolicyScope.Namespace => string.Equals(policy.Namespace, workload.Namespace, StringComparison.Ordinal),
        PolicyScope.WorkloadSelector => string.Equals(policy.Namespace, workload.Namespace, StringComparison.Ordinal)
            && (policy.Selector is null ? IsNamed(policy, workload) : SelectorMatches(policy.Selector, workload.Labels)),
        _ => false,
    };

    // xDS selects by name: istiod lists on each workload the selector policies that match it.
    private static bool IsNamed(AuthorizationPolicy policy, DestinationWorkload workload)
    {
        foreach (string name in workload.SelectedBy ?? [])
        {
            if (string.Equals(name, policy.Key, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }

    private static bool SelectorMatches(IReadOnlyDictionary<string, string> selector, IReadOnlyDictionary<string, string> labels)
    {
        foreach (KeyValuePair<string, string> entry in selector)
        {
            if (!labels.TryGetValue(entry.Key, out string? value) || !string.Equals(value, entry.Value, StringComparison.Ordinal))
            {
                return false;
            }
        }

        return true;
    }

    private bool RuleHolds(CompiledMatch[][] rule, ConnectionAttributes c)
    {
        foreach (CompiledMatch[] clause in rule)
        {
            bool any = false;
            foreach (CompiledMatch match in clause)
            {
                if (match.Holds(c, IsDeny))
                {
                    any = true;
                    break;
                }
            }

            if (!any)
            {
                return false;
            }
        }

        return true;
    }
}
