using Hbone.Ztunnel.Cni.Rules;

namespace Hbone.Ztunnel.Cni.Tests.Rules;

/// <summary>The in-pod rules of hbone-reference.md §4 applied with real iptables in real network namespaces.</summary>
public sealed class InPodInterceptionTests
{
    private readonly InPodInterception _interception = new(new InterceptionOptions());

    [Fact]
    [Trait("case", "INT-08")]
    public async Task INT_08_applying_twice_gives_the_same_rules_and_matches_the_golden_file()
    {
        using var netns = new TestNetns();
        await _interception.ApplyAsync(netns.Path);
        var first = Normalize(netns.Exec("iptables-save"));
        await _interception.ApplyAsync(netns.Path);
        var second = Normalize(netns.Exec("iptables-save"));

        Assert.Equal(first, second);
        Assert.Equal(Normalize(await File.ReadAllTextAsync(Path.Combine(AppContext.BaseDirectory, "Rules", "inpod-iptables.golden"))), first);
        Assert.Contains("fwmark 0x111/0xfff lookup 100", netns.Exec("ip", "-4", "rule", "show", "pref", "32764"), StringComparison.Ordinal);
        Assert.Contains("local default dev lo", netns.Exec("ip", "-4", "route", "show", "table", "100"), StringComparison.Ordinal);
    }

    [Fact]
    [Trait("case", "INT-08")]
    public async Task INT_08_the_IPv6_twin_rules_and_routes_are_applied_idempotently_beside_the_IPv4_ones()
    {
        using var netns = new TestNetns();
        await _interception.ApplyAsync(netns.Path);
        var first = Normalize(netns.Exec("ip6tables-save"));
        await _interception.ApplyAsync(netns.Path);

        Assert.Equal(first, Normalize(netns.Exec("ip6tables-save")));
        Assert.Equal(Normalize(await File.ReadAllTextAsync(Path.Combine(AppContext.BaseDirectory, "Rules", "inpod-ip6tables.golden"))), first);
        Assert.Contains("fwmark 0x111/0xfff lookup 100", netns.Exec("ip", "-6", "rule", "show", "pref", "32764"), StringComparison.Ordinal);
        Assert.Contains("local default dev lo", netns.Exec("ip", "-6", "route", "show", "table", "100"), StringComparison.Ordinal);
    }

    [Fact]
    [Trait("case", "INT-08")]
    public async Task INT_08_removal_leaves_no_chain_jump_rule_or_route_and_is_idempotent()
    {
        using var netns = new TestNetns();
        await _interception.ApplyAsync(netns.Path);
        await _interception.RemoveAsync(netns.Path);
        await _interception.RemoveAsync(netns.Path);

        foreach (var (save, family) in new[] { ("iptables-save", "-4"), ("ip6tables-save", "-6") })
        {
            var saved = netns.Exec(save);
            Assert.DoesNotContain("ISTIO", saved, StringComparison.Ordinal);
            Assert.DoesNotContain("\n-A ", "\n" + saved, StringComparison.Ordinal);
            Assert.Equal(string.Empty, netns.Exec("ip", family, "rule", "show", "pref", "32764").Trim());
            Assert.Equal(string.Empty, netns.Exec("ip", family, "route", "show", "table", "100").Trim());
        }
    }

    [Fact]
    public async Task Rules_outside_ours_are_left_alone_by_apply_and_remove()
    {
        using var netns = new TestNetns();
        netns.Exec("iptables", "-t", "nat", "-A", "OUTPUT", "-p", "tcp", "--dport", "9", "-j", "ACCEPT");
        await _interception.ApplyAsync(netns.Path);
        await _interception.RemoveAsync(netns.Path);

        Assert.Contains("-A OUTPUT -p tcp -m tcp --dport 9 -j ACCEPT", netns.Exec("iptables-save"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_missing_namespace_is_a_one_line_typed_error()
    {
        var error = await Assert.ThrowsAsync<InterceptionException>(() => _interception.ApplyAsync("/var/run/netns/hbone-does-not-exist"));
        Assert.Equal("network namespace /var/run/netns/hbone-does-not-exist does not exist", error.Message);
    }

    /// <summary>iptables-save without comments and counters: the rules only.</summary>
    private static string Normalize(string saved) => string.Join('\n', saved
        .Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
        .Where(line => !line.StartsWith('#'))
        .Select(line => line.StartsWith(':') ? line[..line.LastIndexOf(' ')] : line));
}
