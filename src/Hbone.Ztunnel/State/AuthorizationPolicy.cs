namespace Hbone.Ztunnel.State;

/// <summary>An L4 authorization policy as ztunnel's local config writes it; the policy engine evaluates it.</summary>
/// <param name="Name">The policy name.</param>
/// <param name="Namespace">The policy namespace.</param>
/// <param name="Scope">Which workloads the policy applies to.</param>
/// <param name="Action">Allow or deny.</param>
/// <param name="Rules">The rules; the policy matches when any rule matches.</param>
/// <param name="Selector">
/// The labels a workload needs when <paramref name="Scope"/> is <see cref="PolicyScope.WorkloadSelector"/>; null when the
/// selected workloads name the policy instead (<see cref="Workload.AuthorizationPolicies"/>, as xDS sends it).
/// </param>
/// <param name="DryRun">Evaluated by nobody: a dry-run policy is known (so not "missing") but never enforced.</param>
public sealed record AuthorizationPolicy(string Name, string Namespace, PolicyScope Scope, PolicyAction Action, IReadOnlyList<PolicyRule> Rules, IReadOnlyDictionary<string, string>? Selector, bool DryRun = false)
{
    /// <summary>How workloads and xDS name the policy: <c>namespace/name</c>.</summary>
    public string Key => Namespace + "/" + Name;
}

/// <summary>Which workloads a policy applies to.</summary>
public enum PolicyScope
{
    /// <summary>Every workload.</summary>
    Global,

    /// <summary>Every workload of the policy's namespace.</summary>
    Namespace,

    /// <summary>Workloads of the policy's namespace whose labels match the selector.</summary>
    WorkloadSelector,
}

/// <summary>What a matching policy does.</summary>
public enum PolicyAction
{
    /// <summary>Allow the connection.</summary>
    Allow,

    /// <summary>Deny the connection.</summary>
    Deny,
}

/// <summary>A rule: all clauses must hold.</summary>
/// <param name="Clauses">The clauses.</param>
public sealed record PolicyRule(IReadOnlyList<PolicyClause> Clauses);

/// <summary>A clause: any match holds.</summary>
/// <param name="Matches">The matches.</param>
public sealed record PolicyClause(IReadOnlyList<PolicyMatch> Matches);

/// <summary>A match: every set field must hold; lists are any-of; <c>Not*</c> lists are none-of. Strings are raw (exact, <c>abc*</c>, <c>*abc</c>, <c>*</c>).</summary>
public sealed record PolicyMatch
{
    /// <summary>Source namespaces.</summary>
    public IReadOnlyList<string> Namespaces { get; init; } = [];

    /// <summary>Source namespaces that must not match.</summary>
    public IReadOnlyList<string> NotNamespaces { get; init; } = [];

    /// <summary>Source principals (SPIFFE IDs without the scheme, as Istio writes them).</summary>
    public IReadOnlyList<string> Principals { get; init; } = [];

    /// <summary>Source principals that must not match.</summary>
    public IReadOnlyList<string> NotPrincipals { get; init; } = [];

    /// <summary>Source service accounts.</summary>
    public IReadOnlyList<string> ServiceAccounts { get; init; } = [];

    /// <summary>Source service accounts that must not match.</summary>
    public IReadOnlyList<string> NotServiceAccounts { get; init; } = [];

    /// <summary>Source address ranges.</summary>
    public IReadOnlyList<System.Net.IPNetwork> SourceIps { get; init; } = [];

    /// <summary>Source address ranges that must not match.</summary>
    public IReadOnlyList<System.Net.IPNetwork> NotSourceIps { get; init; } = [];

    /// <summary>Destination address ranges.</summary>
    public IReadOnlyList<System.Net.IPNetwork> DestinationIps { get; init; } = [];

    /// <summary>Destination address ranges that must not match.</summary>
    public IReadOnlyList<System.Net.IPNetwork> NotDestinationIps { get; init; } = [];

    /// <summary>Destination ports.</summary>
    public IReadOnlyList<int> DestinationPorts { get; init; } = [];

    /// <summary>Destination ports that must not match.</summary>
    public IReadOnlyList<int> NotDestinationPorts { get; init; } = [];

    /// <summary>The match names an L7 field (methods, paths, hosts…) that L4 cannot check: the engine must fail closed.</summary>
    public bool RequiresL7 { get; init; }
}
