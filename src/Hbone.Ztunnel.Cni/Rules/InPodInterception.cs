using System.Globalization;

namespace Hbone.Ztunnel.Cni.Rules;

/// <summary>
/// Enrolls a pod's network namespace in the mesh: the iptables rules of §4, and their ip6tables twins, plus the policy
/// routes that hand TPROXYed packets to the local stack. Applying twice changes nothing; removing leaves nothing of ours.
/// </summary>
/// <remarks>
/// The rules are written with the iptables tools, as istio-cni does by default (its native nftables backend is opt-in);
/// on Debian 12 those tools are iptables-nft, so the rules land in nf_tables either way.
/// </remarks>
internal sealed class InPodInterception(InterceptionOptions options)
{
    private static readonly Family[] Families =
    [
        new(IPv6: false, "iptables-restore", "iptables-save", "-4", "0.0.0.0/0"),
        new(IPv6: true, "ip6tables-restore", "ip6tables-save", "-6", "::/0"),
    ];

    public async Task ApplyAsync(string netnsPath, CancellationToken cancellationToken = default)
    {
        foreach (Family family in Families)
        {
            var (jumps, _) = await ReadStateAsync(netnsPath, family, cancellationToken).ConfigureAwait(false);
            await NetnsCommand.RunAsync(netnsPath, InPodRuleSet.Build(options, jumps, family.IPv6), cancellationToken, family.Restore, "--noflush").ConfigureAwait(false);

            // Marked (TPROXYed) packets are delivered locally: fwmark 0x111 -> table 100 -> local route.
            var rules = await NetnsCommand.RunAsync(netnsPath, string.Empty, cancellationToken, "ip", family.IpFlag, "rule", "show", "pref", Number(options.RulePriority)).ConfigureAwait(false);
            if (string.IsNullOrWhiteSpace(rules))
            {
                await NetnsCommand.RunAsync(netnsPath, string.Empty, cancellationToken,
                    "ip", family.IpFlag, "rule", "add", "fwmark", $"0x{options.TproxyMark:x}/0x{options.MarkMask:x}", "pref", Number(options.RulePriority), "lookup", Number(options.RouteTable)).ConfigureAwait(false);
            }

            await NetnsCommand.RunAsync(netnsPath, string.Empty, cancellationToken,
                "ip", family.IpFlag, "route", "replace", "local", family.AnyRoute, "dev", "lo", "table", Number(options.RouteTable)).ConfigureAwait(false);
        }
    }

    public async Task RemoveAsync(string netnsPath, CancellationToken cancellationToken = default)
    {
        foreach (Family family in Families)
        {
            var (jumps, chains) = await ReadStateAsync(netnsPath, family, cancellationToken).ConfigureAwait(false);
            await NetnsCommand.RunAsync(netnsPath, InPodRuleSet.BuildRemoval(jumps, chains), cancellationToken, family.Restore, "--noflush").ConfigureAwait(false);
            var rules = await NetnsCommand.RunAsync(netnsPath, string.Empty, cancellationToken, "ip", family.IpFlag, "rule", "show", "pref", Number(options.RulePriority)).ConfigureAwait(false);
            if (!string.IsNullOrWhiteSpace(rules))
            {
                await NetnsCommand.RunAsync(netnsPath, string.Empty, cancellationToken, "ip", family.IpFlag, "rule", "del", "pref", Number(options.RulePriority)).ConfigureAwait(false);
            }

            await NetnsCommand.RunAsync(netnsPath, string.Empty, cancellationToken, "ip", family.IpFlag, "route", "flush", "table", Number(options.RouteTable)).ConfigureAwait(false);
        }
    }

    /// <summary>Which of our jumps and chains exist now, read from <c>iptables-save</c> (or <c>ip6tables-save</c>).</summary>
    private static async Task<(HashSet<(string, string)> Jumps, HashSet<(string, string)> Chains)> ReadStateAsync(string netnsPath, Family family, CancellationToken cancellationToken)
    {
        var saved = await NetnsCommand.RunAsync(netnsPath, string.Empty, cancellationToken, family.Save).ConfigureAwait(false);
        var jumps = new HashSet<(string, string)>();
        var chains = new HashSet<(string, string)>();
        var table = string.Empty;
        foreach (var raw in saved.Split('\n'))
        {
            var line = raw.Trim();
            if (line.StartsWith('*'))
            {
                table = line[1..];
            }
            else if (line.StartsWith(':'))
            {
                var name = line[1..].Split(' ')[0];
                if (name is InPodRuleSet.PreroutingChain or InPodRuleSet.OutputChain)
                {
                    chains.Add((table, name));
                }
            }
            else
            {
                foreach (var (jumpTable, from, to) in InPodRuleSet.Jumps)
                {
                    if (jumpTable == table && line == $"-A {from} -j {to}")
                    {
                        jumps.Add((table, from));
                    }
                }
            }
        }

        return (jumps, chains);
    }

    private static string Number(int value) => value.ToString(CultureInfo.InvariantCulture);

    /// <summary>The tools and route of one address family.</summary>
    private sealed record Family(bool IPv6, string Restore, string Save, string IpFlag, string AnyRoute);
}
