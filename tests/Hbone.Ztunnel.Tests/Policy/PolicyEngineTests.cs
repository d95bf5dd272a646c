using System.Net;
using Hbone.Ztunnel.Config;
using Hbone.Ztunnel.Policy;
using Hbone.Ztunnel.State;
using static Hbone.Ztunnel.Tests.Policy.PolicyFixtures;

namespace Hbone.Ztunnel.Tests.Policy;

public class PolicyEngineTests
{
    private static readonly PolicyMatch Everything = new();

    [Fact]
    [Trait("case", "ADV-07")]
    public void ADV_07_service_account_with_a_dot_matches_literally()
    {
        AuthorizationPolicy allow = Allow("sa", new PolicyMatch { ServiceAccounts = ["my.sa"] });
        Assert.False(Allowed(Conn(Id("default", "myXsa")), allow));
        Assert.True(Allowed(Conn(Id("default", "my.sa")), allow));

        AuthorizationPolicy principal = Allow("p", new PolicyMatch { Principals = ["cluster.local/ns/default/sa/my.sa"] });
        Assert.False(Allowed(Conn(Id("default", "myXsa")), principal));
    }

    [Fact]
    [Trait("case", "ADV-07")]
    public void ADV_07_service_accounts_are_namespace_slash_name_and_a_bare_name_means_the_policy_namespace()
    {
        AuthorizationPolicy qualified = Allow("q", new PolicyMatch { ServiceAccounts = ["other/client"] });
        Assert.True(Allowed(Conn(Id("other", "client")), qualified));
        Assert.False(Allowed(Conn(Id("default", "client")), qualified));

        AuthorizationPolicy bare = Allow("b", new PolicyMatch { ServiceAccounts = ["client"] });
        Assert.True(Allowed(Conn(Id("default", "client")), bare));
        Assert.False(Allowed(Conn(Id("other", "client")), bare));
    }

    [Fact]
    [Trait("case", "ADV-11")]
    public void ADV_11_allow_that_needs_L7_denies_all_traffic()
    {
        AuthorizationPolicy getOnly = Allow("get-only", new PolicyMatch { RequiresL7 = true });
        AuthorizationDecision d = Decide(Conn(), getOnly);
        Assert.False(d.Allowed);
        Assert.Equal(AuthorizationReasons.NoAllowPolicyMatched, d.Reason);
        Assert.False(Allowed(Conn(plaintext: true), getOnly));
        Assert.False(Allowed(Conn(port: 1), getOnly));
    }

    [Fact]
    [Trait("case", "ADV-11")]
    public void ADV_11_deny_that_needs_L7_denies_even_when_an_allow_matches()
    {
        AuthorizationPolicy denyPost = Deny("deny-post", new PolicyMatch { RequiresL7 = true, DestinationPorts = [8080] });
        AuthorizationPolicy allowAll = Allow("all", Everything);
        AuthorizationDecision d = Decide(Conn(), denyPost, allowAll);
        Assert.False(d.Allowed);
        Assert.Equal("default/deny-post", d.Policy);
        Assert.Equal(AuthorizationReasons.DenyPolicyMatched, d.Reason);
    }

    [Fact]
    [Trait("case", "ADV-13")]
    public void ADV_13_plaintext_is_denied_by_a_principals_allow()
    {
        AuthorizationPolicy allow = Allow("p", new PolicyMatch { Principals = ["*"] });
        Assert.False(Allowed(Conn(plaintext: true), allow));
        Assert.True(Allowed(Conn(), allow));
        Assert.False(Allowed(Conn(plaintext: true), Allow("n", new PolicyMatch { Namespaces = ["*"] })));
        Assert.False(Allowed(Conn(plaintext: true), Allow("s", new PolicyMatch { ServiceAccounts = ["*/*"] })));
    }

    [Fact]
    [Trait("case", "ADV-13")]
    public void ADV_13_not_identity_lists_fail_closed_for_plaintext()
    {
        // DENY notPrincipals: "deny everyone but X": plaintext is not X, so it is denied.
        AuthorizationPolicy denyOthers = Deny("only-client", new PolicyMatch { NotPrincipals = ["cluster.local/ns/default/sa/client"] });
        Assert.False(Allowed(Conn(plaintext: true), denyOthers));
        Assert.True(Allowed(Conn(), denyOthers));
        Assert.False(Allowed(Conn(Id("default", "other")), denyOthers));
        Assert.False(Allowed(Conn(plaintext: true), Deny("nn", new PolicyMatch { NotNamespaces = ["default"] })));
        Assert.False(Allowed(Conn(plaintext: true), Deny("ns", new PolicyMatch { NotServiceAccounts = ["default/client"] })));

        // ALLOW notPrincipals: an unknown identity is not allowed.
        AuthorizationPolicy allowButBad = Allow("not-bad", new PolicyMatch { NotPrincipals = ["cluster.local/ns/default/sa/bad"] });
        Assert.False(Allowed(Conn(plaintext: true), allowButBad));
        Assert.True(Allowed(Conn(), allowButBad));
        Assert.False(Allowed(Conn(Id("default", "bad")), allowButBad));

        // A positive principals DENY does not hold for plaintext; a plaintext connection is then allowed when no ALLOW applies.
        Assert.True(Allowed(Conn(plaintext: true), Deny("d", new PolicyMatch { Principals = ["*"] })));
    }

    [Fact]
    [Trait("case", "ADV-15")]
    public void ADV_15_a_missing_referenced_policy_denies_until_received()
    {
        var set = PolicySet.Create(Echo, [Allow("all", Everything)], ["default/not-yet"]);
        var engine = new PolicyEngine(set);
        AuthorizationDecision d = engine.Authorize(Conn());
        Assert.False(d.Allowed);
        Assert.Equal("default/not-yet", d.Policy);
        Assert.Equal(AuthorizationReasons.MissingPolicy, d.Reason);
        Assert.Equal(["default/not-yet"], set.MissingPolicyNames);

        engine.Update(PolicySet.Create(Echo, [Allow("all", Everything)]));
        Assert.True(engine.Authorize(Conn()).Allowed);
    }

    [Fact]
    [Trait("case", "ADV-12")]
    public void ADV_12_recheck_returns_live_connections_a_new_deny_covers()
    {
        var engine = new PolicyEngine(PolicySet.Create(Echo, []));
        ConnectionAttributes fromClient = Conn();
        ConnectionAttributes fromOther = Conn(Id("other", "sa"));
        ConnectionAttributes plaintext = Conn(plaintext: true);
        Assert.Empty(engine.Recheck([fromClient, fromOther, plaintext]));

        engine.Update(PolicySet.Create(Echo, [Deny("no-other", new PolicyMatch { Namespaces = ["other"] })]));
        Assert.Equal([fromOther], engine.Recheck([fromClient, fromOther, plaintext]));
        Assert.False(engine.Authorize(Conn(Id("other", "x"))).Allowed);

        engine.Update(PolicySet.Create(Echo, [Deny("all", Everything)]));
        Assert.Equal([fromClient, fromOther, plaintext], engine.Recheck([fromClient, fromOther, plaintext]));
    }

    [Fact]
    [Trait("case", "ADV-12")]
    public void ADV_12_recheck_with_an_allow_policy_denies_connections_it_does_not_cover()
    {
        var engine = new PolicyEngine(PolicySet.Create(Echo, []));
        ConnectionAttributes a = Conn(port: 8080);
        ConnectionAttributes b = Conn(port: 9090);
        engine.Update(PolicySet.Create(Echo, [Allow("8080", new PolicyMatch { DestinationPorts = [8080] })]));
        Assert.Equal([b], engine.Recheck([a, b]));
    }

    [Fact]
    public void Truth_table_of_section_6()
    {
        AuthorizationPolicy denyAll = Deny("deny", Everything);
        AuthorizationPolicy allowAll = Allow("allow", Everything);
        AuthorizationPolicy allowNone = Allow("allow-other-port", new PolicyMatch { DestinationPorts = [1] });

        Assert.Equal(new AuthorizationDecision(true, null, AuthorizationReasons.NoAllowPolicies), Decide(Conn()));
        Assert.Equal(new AuthorizationDecision(false, "default/deny", AuthorizationReasons.DenyPolicyMatched), Decide(Conn(), allowAll, denyAll));
        Assert.Equal(new AuthorizationDecision(true, "default/allow", AuthorizationReasons.AllowPolicyMatched), Decide(Conn(), allowAll));
        Assert.Equal(new AuthorizationDecision(false, null, AuthorizationReasons.NoAllowPolicyMatched), Decide(Conn(), allowNone));
        Assert.Equal(new AuthorizationDecision(true, "default/allow", AuthorizationReasons.AllowPolicyMatched), Decide(Conn(), allowNone, allowAll));

        // A DENY that does not match leaves the default allow.
        Assert.True(Allowed(Conn(), Deny("other-port", new PolicyMatch { DestinationPorts = [1] })));
    }

    [Fact]
    public void Rules_are_any_of_clauses_are_all_of_matches_are_any_of()
    {
        PolicyMatch port8080 = new() { DestinationPorts = [8080] };
        PolicyMatch port9090 = new() { DestinationPorts = [9090] };
        PolicyMatch ns = new() { Namespaces = ["default"] };
        PolicyMatch otherNs = new() { Namespaces = ["other"] };

        AuthorizationPolicy Build(params PolicyRule[] rules) => new("p", "default", PolicyScope.Namespace, PolicyAction.Allow, rules, null);

        // clause = any match
        Assert.True(Allowed(Conn(), Build(new PolicyRule([new PolicyClause([port9090, port8080])]))));
        // rule = all clauses
        Assert.True(Allowed(Conn(), Build(new PolicyRule([new PolicyClause([port8080]), new PolicyClause([ns])]))));
        Assert.False(Allowed(Conn(), Build(new PolicyRule([new PolicyClause([port8080]), new PolicyClause([otherNs])]))));
        // policy = any rule
        Assert.True(Allowed(Conn(), Build(new PolicyRule([new PolicyClause([otherNs])]), new PolicyRule([new PolicyClause([port8080])]))));
        // every set field of one match must hold
        Assert.False(Allowed(Conn(), Build(new PolicyRule([new PolicyClause([new PolicyMatch { DestinationPorts = [8080], Namespaces = ["other"] }])]))));
        // edges: no rules matches nothing; an empty rule holds; an empty clause does not
        Assert.False(Allowed(Conn(), Build()));
        Assert.True(Allowed(Conn(), Build(new PolicyRule([]))));
        Assert.False(Allowed(Conn(), Build(new PolicyRule([new PolicyClause([])]))));
    }

    [Fact]
    public void Scopes_select_the_policies_of_a_workload()
    {
        AuthorizationPolicy global = Scoped("g", PolicyAction.Deny, Everything, PolicyScope.Global, "istio-system");
        AuthorizationPolicy sameNs = Scoped("n", PolicyAction.Deny, Everything, PolicyScope.Namespace, "default");
        AuthorizationPolicy otherNs = Scoped("o", PolicyAction.Deny, Everything, PolicyScope.Namespace, "other");
        AuthorizationPolicy selected = Scoped("s", PolicyAction.Deny, Everything, PolicyScope.WorkloadSelector, "default", new Dictionary<string, string> { ["app"] = "echo" });
        AuthorizationPolicy selectedBoth = Scoped("s2", PolicyAction.Deny, Everything, PolicyScope.WorkloadSelector, "default", new Dictionary<string, string> { ["app"] = "echo", ["version"] = "v1" });
        AuthorizationPolicy wrongValue = Scoped("w", PolicyAction.Deny, Everything, PolicyScope.WorkloadSelector, "default", new Dictionary<string, string> { ["app"] = "other" });
        AuthorizationPolicy missingLabel = Scoped("m", PolicyAction.Deny, Everything, PolicyScope.WorkloadSelector, "default", new Dictionary<string, string> { ["app"] = "echo", ["tier"] = "web" });
        AuthorizationPolicy selectorOtherNs = Scoped("x", PolicyAction.Deny, Everything, PolicyScope.WorkloadSelector, "other", new Dictionary<string, string> { ["app"] = "echo" });

        var set = PolicySet.Create(Echo, [global, sameNs, otherNs, selected, selectedBoth, wrongValue, missingLabel, selectorOtherNs]);
        Assert.Equal(["g", "n", "s", "s2"], set.Policies.Select(p => p.Name));

        // Only an applying policy decides.
        Assert.True(Allowed(Conn(), otherNs, wrongValue, missingLabel, selectorOtherNs));
        Assert.Equal("istio-system/g", Decide(Conn(), global).Policy);
    }

    [Fact]
    public void A_connection_for_another_workload_is_denied()
    {
        var other = new DestinationWorkload("default", "not-echo", new Dictionary<string, string>());
        AuthorizationDecision d = Engine().Authorize(Conn(workload: other));
        Assert.False(d.Allowed);
        Assert.Equal(AuthorizationReasons.WrongWorkload, d.Reason);
    }

    [Theory]
    [InlineData("10.244.0.2", "10.244.0.0/16", true)]
    [InlineData("10.245.0.2", "10.244.0.0/16", false)]
    [InlineData("::ffff:10.244.0.2", "10.244.0.0/16", true)]
    [InlineData("10.244.0.2", "::ffff:10.244.0.0/112", true)]
    [InlineData("::ffff:10.244.0.2", "::ffff:10.244.0.0/112", true)]
    [InlineData("10.245.0.2", "::ffff:10.244.0.0/112", false)]
    [InlineData("fd00::1", "fd00::/8", true)]
    [InlineData("fe00::1", "fd00::/8", false)]
    [InlineData("10.244.0.2", "::/0", false)]
    [InlineData("fd00::1", "0.0.0.0/0", false)]
    [InlineData("10.244.0.2", "10.244.0.2/32", true)]
    public void Source_ip_cidrs_v4_v6_and_ipv4_mapped(string source, string cidr, bool inside)
    {
        IPNetwork network = IPNetwork.Parse(cidr);
        Assert.Equal(inside, Allowed(Conn(source: source), Allow("in", new PolicyMatch { SourceIps = [network] })));
        Assert.Equal(inside, !Allowed(Conn(source: source), Allow("out", new PolicyMatch { NotSourceIps = [network] })));
        Assert.Equal(inside, !Allowed(Conn(source: source), Deny("deny", new PolicyMatch { SourceIps = [network] })));
    }

    [Theory]
    [InlineData("10.96.0.10", "10.96.0.0/12", true)]
    [InlineData("::ffff:10.96.0.10", "10.96.0.0/12", true)]
    [InlineData("10.112.0.1", "10.96.0.0/12", false)]
    [InlineData("2001:db8::5", "2001:db8::/64", true)]
    [InlineData("2001:db9::5", "2001:db8::/64", false)]
    public void Destination_ip_cidrs(string destination, string cidr, bool inside)
    {
        IPNetwork network = IPNetwork.Parse(cidr);
        Assert.Equal(inside, Allowed(Conn(destination: destination), Allow("in", new PolicyMatch { DestinationIps = [network] })));
        Assert.Equal(inside, !Allowed(Conn(destination: destination), Allow("out", new PolicyMatch { NotDestinationIps = [network] })));
    }

    [Fact]
    public void Ports_and_not_ports()
    {
        AuthorizationPolicy allow = Allow("ports", new PolicyMatch { DestinationPorts = [80, 8080] });
        Assert.True(Allowed(Conn(port: 8080), allow));
        Assert.True(Allowed(Conn(port: 80), allow));
        Assert.False(Allowed(Conn(port: 9999), allow));

        // The §5 example: ALLOW everything but 9999.
        AuthorizationPolicy not9999 = Allow("deny-9999", new PolicyMatch { NotDestinationPorts = [9999] });
        Assert.True(Allowed(Conn(port: 8080), not9999));
        Assert.False(Allowed(Conn(port: 9999), not9999));
    }

    [Theory]
    [InlineData("cluster.local/ns/default/sa/client", true)]
    [InlineData("spiffe://cluster.local/ns/default/sa/client", true)]
    [InlineData("cluster.local/ns/default/sa/*", true)]
    [InlineData("spiffe://cluster.local/*", true)]
    [InlineData("*/sa/client", true)]
    [InlineData("*", true)]
    [InlineData("spiffe://*", true)]
    [InlineData("cluster.local/ns/default/sa/clien", false)]
    [InlineData("cluster.local/ns/default/sa/client/", false)]
    [InlineData("*/sa/other", false)]
    [InlineData("other.domain/*", false)]
    [InlineData("cluster.local/ns/.*/sa/client", false)]
    [InlineData("cluster.local/ns/*/sa/client", false)]
    [InlineData("spiffe://cluster.local/ns/default/sa/client*x", false)]
    public void Principal_matches_exact_prefix_suffix_presence_never_regex(string pattern, bool matches)
    {
        Assert.Equal(matches, Allowed(Conn(), Allow("p", new PolicyMatch { Principals = [pattern] })));
        Assert.Equal(matches, !Allowed(Conn(), Allow("np", new PolicyMatch { NotPrincipals = [pattern] })));
    }

    [Theory]
    [InlineData("default", true)]
    [InlineData("def*", true)]
    [InlineData("*ault", true)]
    [InlineData("*", true)]
    [InlineData("d.fault", false)]
    [InlineData("Default", false)]
    [InlineData("defaults", false)]
    public void Namespace_matches(string pattern, bool matches)
    {
        Assert.Equal(matches, Allowed(Conn(), Allow("n", new PolicyMatch { Namespaces = [pattern] })));
        Assert.Equal(matches, !Allowed(Conn(), Allow("nn", new PolicyMatch { NotNamespaces = [pattern] })));
    }

    [Theory]
    [InlineData("default/client", true)]
    [InlineData("client", true)]
    [InlineData("*/client", true)]
    [InlineData("default/cli*", true)]
    [InlineData("default/*", true)]
    [InlineData("other/client", false)]
    [InlineData("default/clients", false)]
    public void Service_account_matches(string pattern, bool matches)
    {
        Assert.Equal(matches, Allowed(Conn(), Allow("s", new PolicyMatch { ServiceAccounts = [pattern] })));
        Assert.Equal(matches, !Allowed(Conn(), Allow("ns", new PolicyMatch { NotServiceAccounts = [pattern] })));
    }

    [Fact]
    public void Not_lists_are_none_of()
    {
        AuthorizationPolicy allow = Allow("not", new PolicyMatch { NotNamespaces = ["a", "b"], NotDestinationPorts = [1, 2] });
        Assert.True(Allowed(Conn(Id("c", "x")), allow));
        Assert.False(Allowed(Conn(Id("a", "x")), allow));
        Assert.False(Allowed(Conn(Id("b", "x")), allow));
        Assert.False(Allowed(Conn(Id("c", "x"), port: 2), allow));
    }

    [Fact]
    public void A_non_istio_identity_matches_principals_but_not_namespaces()
    {
        var spire = Hbone.Identity.SpiffeId.Parse("spiffe://example.org/workload/web");
        Assert.True(Allowed(Conn(spire), Allow("p", new PolicyMatch { Principals = ["example.org/workload/*"] })));
        Assert.False(Allowed(Conn(spire), Allow("n", new PolicyMatch { Namespaces = ["*"] })));
        Assert.False(Allowed(Conn(spire), Deny("nn", new PolicyMatch { NotNamespaces = ["default"] })));
    }

    [Fact]
    public void Authorize_allocates_nothing()
    {
        PolicyEngine engine = Engine(
            Deny("d", new PolicyMatch { NotPrincipals = ["cluster.local/ns/default/*"], SourceIps = [IPNetwork.Parse("10.0.0.0/8")] }),
            Allow("a", new PolicyMatch { ServiceAccounts = ["default/cli*"], DestinationPorts = [8080], NotSourceIps = [IPNetwork.Parse("fd00::/8")] }),
            Allow("b", new PolicyMatch { Namespaces = ["other"] }));
        ConnectionAttributes c = Conn();
        Assert.True(engine.Authorize(c).Allowed);
        for (int i = 0; i < 10_000; i++)
        {
            engine.Authorize(c); // warm up, so JIT tiering does not count
        }

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 1000; i++)
        {
            engine.Authorize(c);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }
}
