using System.Net;
using FsCheck;
using FsCheck.Fluent;
using Hbone.Identity;
using Hbone.Ztunnel.Config;
using Hbone.Ztunnel.Policy;
using Hbone.Ztunnel.State;
using static Hbone.Ztunnel.Tests.Policy.PolicyFixtures;

namespace Hbone.Ztunnel.Tests.Policy;

public class PolicyPropertyTests
{
    private static readonly FsCheck.Config Config2K = FsCheck.Config.QuickThrowOnFailure.WithMaxTest(2_000);

    private static readonly Gen<string[]> Namespaces = Subset("default", "other", "*", "def*", "*her");
    private static readonly Gen<string[]> Principals = Subset("cluster.local/ns/default/sa/client", "spiffe://cluster.local/ns/other/*", "*/sa/client", "*");
    private static readonly Gen<string[]> ServiceAccounts = Subset("client", "default/client", "other/*", "*/x");
    private static readonly Gen<IPNetwork[]> Networks = Subset(
        IPNetwork.Parse("10.0.0.0/8"), IPNetwork.Parse("10.244.0.2/32"), IPNetwork.Parse("::ffff:10.244.0.0/112"), IPNetwork.Parse("fd00::/8"));
    private static readonly Gen<int[]> Ports = Subset(80, 8080, 9999);

    private static readonly Gen<PolicyMatch> Matches =
        from ns in Namespaces
        from notNs in Namespaces
        from p in Principals
        from notP in Principals
        from sa in ServiceAccounts
        from notSa in ServiceAccounts
        from src in Networks
        from notSrc in Networks
        from dst in Networks
        from notDst in Networks
        from ports in Ports
        from notPorts in Ports
        from l7 in Gen.Frequency((9, Gen.Constant(false)), (1, Gen.Constant(true)))
        select new PolicyMatch
        {
            Namespaces = ns, NotNamespaces = notNs, Principals = p, NotPrincipals = notP, ServiceAccounts = sa, NotServiceAccounts = notSa,
            SourceIps = src, NotSourceIps = notSrc, DestinationIps = dst, NotDestinationIps = notDst,
            DestinationPorts = ports, NotDestinationPorts = notPorts, RequiresL7 = l7,
        };

    private static readonly Gen<PolicyRule> Rules =
        Gen.Choose(0, 2).SelectMany(n => Gen.ArrayOf(Gen.Choose(0, 2).SelectMany(m => Gen.ArrayOf(Matches, m)).Select(ms => new PolicyClause(ms)), n))
            .Select(clauses => new PolicyRule(clauses));

    private static readonly Gen<AuthorizationPolicy> Policies =
        from name in Gen.Choose(0, 1000).Select(i => "p" + i)
        from action in Gen.Elements(PolicyAction.Allow, PolicyAction.Deny)
        from scope in Gen.Elements(PolicyScope.Global, PolicyScope.Namespace, PolicyScope.WorkloadSelector)
        from ns in Gen.Elements("default", "other", "istio-system")
        from selector in Gen.Elements<IReadOnlyDictionary<string, string>?>(null, new Dictionary<string, string> { ["app"] = "echo" }, new Dictionary<string, string> { ["app"] = "x" })
        from rules in Gen.Choose(0, 2).SelectMany(n => Gen.ArrayOf(Rules, n))
        select new AuthorizationPolicy(name, ns, scope, action, rules, selector);

    private static readonly Gen<ConnectionAttributes> Connections =
        from id in Gen.Elements<SpiffeId?>(null, PolicyFixtures.Client, Id("other", "client"), Id("default", "x"), SpiffeId.Parse("spiffe://example.org/web"))
        from src in Gen.Elements("10.244.0.2", "10.1.2.3", "::ffff:10.244.0.7", "fd00::1", "192.168.0.1")
        from dst in Gen.Elements("10.244.0.9", "fd00::9", "10.244.0.2")
        from port in Gen.Elements(80, 8080, 9999, 15006)
        select new ConnectionAttributes(id, IPAddress.Parse(src), IPAddress.Parse(dst), port, Echo);

    private static readonly Gen<AuthorizationPolicy[]> PolicyLists = Gen.Choose(0, 4).SelectMany(n => Gen.ArrayOf(Policies, n));

    [Fact]
    public void Adding_a_deny_policy_never_turns_a_denied_connection_into_an_allowed_one()
    {
        var cases = from policies in PolicyLists from extra in Policies from c in Connections select (policies, extra: extra with { Action = PolicyAction.Deny }, c);
        Prop.ForAll(Arb.From(cases), x =>
        {
            bool before = Allowed(x.c, x.policies);
            bool after = Allowed(x.c, [.. x.policies, x.extra]);
            return before || !after;
        }).Check(Config2K);
    }

    [Fact]
    public void Adding_an_allow_policy_never_allows_a_connection_a_deny_matched()
    {
        var cases = from policies in PolicyLists from extra in Policies from c in Connections select (policies, extra: extra with { Action = PolicyAction.Allow }, c);
        Prop.ForAll(Arb.From(cases), x =>
        {
            AuthorizationDecision before = Decide(x.c, x.policies);
            AuthorizationDecision after = Decide(x.c, [.. x.policies, x.extra]);
            return before.Reason != AuthorizationReasons.DenyPolicyMatched || (!after.Allowed && after.Policy == before.Policy);
        }).Check(Config2K);
    }

    [Fact]
    public void Evaluation_is_independent_of_policy_order_for_the_allowed_bit()
    {
        var cases = from policies in PolicyLists from c in Connections select (policies, c);
        Prop.ForAll(Arb.From(cases), x => Allowed(x.c, x.policies) == Allowed(x.c, [.. x.policies.Reverse()])).Check(Config2K);
    }

    [Fact]
    [Trait("case", "ADV-12")]
    public void Recheck_returns_exactly_the_connections_authorize_denies()
    {
        var cases = from policies in PolicyLists from cs in Gen.Choose(0, 6).SelectMany(n => Gen.ArrayOf(Connections, n)) select (policies, cs);
        Prop.ForAll(Arb.From(cases), x =>
        {
            PolicyEngine engine = Engine(x.policies);
            return engine.Recheck(x.cs).SequenceEqual(x.cs.Where(c => !engine.Authorize(c).Allowed));
        }).Check(Config2K);
    }

    private static Gen<T[]> Subset<T>(params T[] pool) =>
        Gen.Frequency((3, Gen.Constant(Array.Empty<T>())), (1, Gen.SubListOf(pool).Select(l => l.ToArray())));
}
