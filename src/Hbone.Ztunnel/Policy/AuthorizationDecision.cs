namespace Hbone.Ztunnel.Policy;

/// <summary>The outcome of L4 authorization. A struct so that evaluation allocates nothing.</summary>
/// <param name="Allowed">True when the connection may proceed.</param>
/// <param name="Policy">The deciding policy (<c>namespace/name</c>), or null when no policy decided.</param>
/// <param name="Reason">One of the <see cref="AuthorizationReasons"/> constants.</param>
public readonly record struct AuthorizationDecision(bool Allowed, string? Policy, string Reason);

/// <summary>The fixed reasons an <see cref="AuthorizationDecision"/> carries (constants: no per-call allocation).</summary>
public static class AuthorizationReasons
{
    public const string DenyPolicyMatched = "deny policy matched";
    public const string MissingPolicy = "referenced policy not received (treated as a matching deny)";
    public const string NoAllowPolicies = "no allow policies apply";
    public const string AllowPolicyMatched = "allow policy matched";
    public const string NoAllowPolicyMatched = "allow policies apply but none matched";
    public const string WrongWorkload = "connection is for another workload than the policy set";
}
