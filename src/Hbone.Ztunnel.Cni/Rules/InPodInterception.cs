using System.Globalization;

namespace Hbone.Ztunnel.Cni.Rules;

/// <summary>
/// Enrolls a pod's network namespace in the mesh: the iptables rules of §4 plus the policy route that hands
/// TPROXYed packets to the local stack. Applying twice changes nothing; removing leaves nothing of ours.
/// </summary>
internal sealed class InPodInterception(InterceptionOptions options)
{
    public async Task ApplyAsync(string netnsPath, CancellationToken cancellationToken = default)
    {
        var (jumps, _) = await ReadStateAsync(netnsPath, cancellationToken).ConfigureAwait(false);
        await NetnsCommand.RunAsync(netnsPath, InPodRuleSet.Build(options, jumps), cancellationToken, "iptables-restore", "--noflush").ConfigureAwait(false);

        // Marked (TPROXYed) packets are delivered locally: fwmark 0x111 -> table 100 -> local route.
        var rules = await NetnsCommand.RunAsync(netnsPath, string.Empty, cancellationToken, "ip", "-4", "rule", "show", "pref", Number(options.RulePriority)).ConfigureAwait(false);
        if (string.IsNullOrWhiteSpace(rules))
        {
            await NetnsCommand.RunAsync(netnsPath, string.Empty, cancellationToken,
                "ip", "-4", "rule", "add", "fwmark", $"0x{options.TproxyMark:x}/0x{options.MarkMask:x}", "pref", Number(options.RulePriority), "lookup", Number(options.RouteTable)).ConfigureAwait(false);
        }

        await NetnsCommand.RunAsync(netnsPath, string.Empty, cancellationToken,
            "ip", "-4", "route", "replace", "local", "0.0.0.0/0", "dev", "lo", "table", Number(options.RouteTable)).ConfigureAwait(false);
    }

    public async Task RemoveAsync(string netnsPath, CancellationToken cancellationToken = default)
    {
        var (jumps, chains) = await ReadStateAsync(netnsPath, cancellationToken).ConfigureAwait(false);
        await NetnsCommand.RunAsync(netnsPath, InPodRuleSet.BuildRemoval(jumps, chains), cancellationToken, "iptables-restore", "--noflush").ConfigureAwait(false);
        var rules = await NetnsCommand.RunAsync(netnsPath, string.Empty, cancellationToken, "ip", "-4", "rule", "show", "pref", Number(options.RulePriority)).ConfigureAwait(false);
        if (!string.IsNullOrWhiteSpace(rules))
        {
            await NetnsCommand.RunAsync(netnsPath, string.Empty, cancellationToken, "ip", "-4", "rule", "del", "pref", Number(options.RulePriority)).ConfigureAwait(false);
        }

        await NetnsCommand.RunAsync(netnsPath, string.Empty, cancellationToken, "ip", "-4", "route", "flush", "table", Number(options.RouteTable)).ConfigureAwait(false);
    }

    /// <summary>Which of our jumps and chains exist now, read from <c>iptables-save</c>.</summary>
    private static async Task<(HashSet<(string, string)> Jumps, HashSet<(string, string)> Chains)> ReadStateAsync(string netnsPath, CancellationToken cancellationToken)
    {
        var saved = await NetnsCommand.RunAsync(netnsPath, string.Empty, cancellationToken, "iptables-save").ConfigureAwait(false);
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
}
