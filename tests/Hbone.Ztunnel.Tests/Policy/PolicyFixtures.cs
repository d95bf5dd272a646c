using System.Net;
using Hbone.Identity;
using Hbone.Ztunnel.Config;
using Hbone.Ztunnel.Policy;
using Hbone.Ztunnel.State;

namespace Hbone.Ztunnel.Tests.Policy;

internal static class PolicyFixtures
{
    public static readonly DestinationWorkload Echo = new("default", "echo", new Dictionary<string, string> { ["app"] = "echo", ["version"] = "v1" });

    public static readonly SpiffeId Client = SpiffeId.Parse("spiffe://cluster.local/ns/default/sa/client");

    public static ConnectionAttributes Conn(
        SpiffeId? identity = null, string source = "10.244.0.2", string destination = "10.244.0.9", int port = 8080, DestinationWorkload? workload = null, bool plaintext = false) =>
        new(plaintext ? null : identity ?? Client, IPAddress.Parse(source), IPAddress.Parse(destination), port, workload ?? Echo);

    public static SpiffeId Id(string ns, string sa) => SpiffeId.ForIstio("cluster.local", ns, sa);

    public static AuthorizationPolicy Scoped(
        string name, PolicyAction action, PolicyMatch match, PolicyScope scope = PolicyScope.Namespace, string ns = "default", IReadOnlyDictionary<string, string>? selector = null) =>
        new(name, ns, scope, action, [new PolicyRule([new PolicyClause([match])])], selector);

    public static AuthorizationPolicy Allow(string name, PolicyMatch match) => Scoped(name, PolicyAction.Allow, match);

    public static AuthorizationPolicy Deny(string name, PolicyMatch match) => Scoped(name, PolicyAction.Deny, match);

    public static PolicyEngine Engine(params AuthorizationPolicy[] policies) => new(PolicySet.Create(Echo, policies));

    public static AuthorizationDecision Decide(ConnectionAttributes c, params AuthorizationPolicy[] policies) => Engine(policies).Authorize(c);

    public static bool Allowed(ConnectionAttributes c, params AuthorizationPolicy[] policies) => Decide(c, policies).Allowed;
}
