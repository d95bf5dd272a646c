namespace Hbone.Ztunnel.Config;

// Policy model shared with the config parser (developed on another branch with the same names and shapes).

public sealed record AuthorizationPolicy(string Name, string Namespace, PolicyScope Scope, PolicyAction Action, IReadOnlyList<PolicyRule> Rules, IReadOnlyDictionary<string, string>? Selector);

public enum PolicyScope { Global, Namespace, WorkloadSelector }

public enum PolicyAction { Allow, Deny }

/// <summary>All clauses must hold.</summary>
public sealed record PolicyRule(IReadOnlyList<PolicyClause> Clauses);

/// <summary>Any match holds.</summary>
public sealed record PolicyClause(IReadOnlyList<PolicyMatch> Matches);

/// <summary>Every set (non-empty) field must hold; lists are any-of; Not* lists are none-of.</summary>
public sealed record PolicyMatch
{
    public IReadOnlyList<string> Namespaces { get; init; } = [];
    public IReadOnlyList<string> NotNamespaces { get; init; } = [];
    public IReadOnlyList<string> Principals { get; init; } = [];
    public IReadOnlyList<string> NotPrincipals { get; init; } = [];
    public IReadOnlyList<string> ServiceAccounts { get; init; } = [];
    public IReadOnlyList<string> NotServiceAccounts { get; init; } = [];
    public IReadOnlyList<System.Net.IPNetwork> SourceIps { get; init; } = [];
    public IReadOnlyList<System.Net.IPNetwork> NotSourceIps { get; init; } = [];
    public IReadOnlyList<System.Net.IPNetwork> DestinationIps { get; init; } = [];
    public IReadOnlyList<System.Net.IPNetwork> NotDestinationIps { get; init; } = [];
    public IReadOnlyList<int> DestinationPorts { get; init; } = [];
    public IReadOnlyList<int> NotDestinationPorts { get; init; } = [];

    /// <summary>The policy asked for methods/paths/hosts: at L4 that fails closed.</summary>
    public bool RequiresL7 { get; init; }
}
