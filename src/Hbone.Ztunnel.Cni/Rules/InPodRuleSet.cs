using System.Globalization;
using System.Text;

namespace Hbone.Ztunnel.Cni.Rules;

/// <summary>
/// The in-pod iptables rules of Istio's ambient mode (hbone-reference.md §4) as <c>iptables-restore --noflush</c>
/// input. Declaring a chain in that mode empties it, so applying the same set twice gives the same rules.
/// </summary>
internal static class InPodRuleSet
{
    public const string PreroutingChain = "ISTIO_PRERT";
    public const string OutputChain = "ISTIO_OUTPUT";

    /// <summary>The jumps from the built-in chains into ours: (table, built-in chain, our chain).</summary>
    public static readonly (string Table, string From, string To)[] Jumps =
    [
        ("mangle", "PREROUTING", PreroutingChain),
        ("mangle", "OUTPUT", OutputChain),
        ("nat", "OUTPUT", OutputChain),
        ("raw", "PREROUTING", PreroutingChain),
        ("raw", "OUTPUT", OutputChain),
    ];

    /// <summary>The tables our chains live in, in the order they are written.</summary>
    public static readonly string[] Tables = ["mangle", "nat", "raw"];

    /// <summary>
    /// Our chains' rules for <c>iptables-restore</c>, or with <paramref name="ipv6"/> the same rules for <c>ip6tables-restore</c>
    /// (::1 for 127.0.0.1, the IPv6 probe address, TPROXY on ::); <paramref name="existingJumps"/> are jumps already present.
    /// </summary>
    public static string Build(InterceptionOptions o, ISet<(string Table, string From)> existingJumps, bool ipv6 = false)
    {
        var localhost = ipv6 ? "::1/128" : "127.0.0.1/32";
        var probe = ipv6 ? $"{o.ProbeAddressV6}/128" : $"{o.ProbeAddress}/32";
        var any = ipv6 ? "::" : "0.0.0.0";
        var mark = Hex(o.TproxyMark, o.MarkMask);
        var proxyMark = Hex(o.ProxyMark, o.MarkMask);
        var text = new StringBuilder();

        text.AppendLine("*mangle");
        text.AppendLine($":{PreroutingChain} - [0:0]");
        text.AppendLine($":{OutputChain} - [0:0]");
        AppendJumps(text, "mangle", existingJumps);
        text.AppendLine(Invariant($"-A {OutputChain} -m connmark --mark {mark} -j CONNMARK --restore-mark --nfmask 0xffffffff --ctmask 0xffffffff"));
        text.AppendLine(Invariant($"-A {PreroutingChain} -m mark --mark {proxyMark} -j CONNMARK --set-xmark {mark}"));
        text.AppendLine(Invariant($"-A {PreroutingChain} -s {probe} -p tcp -j ACCEPT"));
        text.AppendLine(Invariant($"-A {PreroutingChain} ! -d {localhost} -i lo -p tcp -j ACCEPT"));
        text.AppendLine(Invariant($"-A {PreroutingChain} -p tcp -m tcp --dport {o.InboundHbonePort} -m mark ! --mark {proxyMark} -j TPROXY --on-port {o.InboundHbonePort} --on-ip {any} --tproxy-mark {mark}"));
        text.AppendLine(Invariant($"-A {PreroutingChain} -p tcp -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"));
        text.AppendLine(Invariant($"-A {PreroutingChain} ! -d {localhost} -p tcp -m mark ! --mark {proxyMark} -j TPROXY --on-port {o.InboundPlaintextPort} --on-ip {any} --tproxy-mark {mark}"));
        text.AppendLine("COMMIT");

        text.AppendLine("*nat");
        text.AppendLine($":{OutputChain} - [0:0]");
        AppendJumps(text, "nat", existingJumps);
        if (o.CaptureDns)
        {
            // The proxy's own upstream queries carry its mark and must reach the resolver, not come back to it.
            text.AppendLine(Invariant($"-A {OutputChain} ! -o lo -p udp -m mark ! --mark {proxyMark} -m udp --dport 53 -j REDIRECT --to-ports {o.DnsPort}"));
            text.AppendLine(Invariant($"-A {OutputChain} ! -d {localhost} -p tcp -m tcp --dport 53 -m mark ! --mark {proxyMark} -j REDIRECT --to-ports {o.DnsPort}"));
        }

        text.AppendLine(Invariant($"-A {OutputChain} -d {probe} -p tcp -j ACCEPT"));
        text.AppendLine(Invariant($"-A {OutputChain} -p tcp -m mark --mark {mark} -j ACCEPT"));
        text.AppendLine(Invariant($"-A {OutputChain} ! -d {localhost} -o lo -j ACCEPT"));
        text.AppendLine(Invariant($"-A {OutputChain} ! -d {localhost} -p tcp -m mark ! --mark {proxyMark} -j REDIRECT --to-ports {o.OutboundPort}"));
        text.AppendLine("COMMIT");

        // The proxy's upstream UDP flows get conntrack zone 1, so they never match the app's redirected flow to the same resolver
        // (istio-cni writes the same two rules).
        text.AppendLine("*raw");
        text.AppendLine($":{PreroutingChain} - [0:0]");
        text.AppendLine($":{OutputChain} - [0:0]");
        AppendJumps(text, "raw", existingJumps);
        if (o.CaptureDns)
        {
            text.AppendLine(Invariant($"-A {OutputChain} -p udp -m mark --mark {proxyMark} -m udp --dport 53 -j CT --zone 1"));
            text.AppendLine(Invariant($"-A {PreroutingChain} -p udp -m mark ! --mark {proxyMark} -m udp --sport 53 -j CT --zone 1"));
        }

        text.AppendLine("COMMIT");
        return text.ToString();
    }

    /// <summary>Removes the jumps, then empties and deletes our chains: nothing of ours is left.</summary>
    public static string BuildRemoval(ISet<(string Table, string From)> existingJumps, ISet<(string Table, string Chain)> existingChains)
    {
        var text = new StringBuilder();
        foreach (var table in Tables)
        {
            text.AppendLine(Invariant($"*{table}"));
            foreach (var (jumpTable, from, to) in Jumps)
            {
                if (jumpTable == table && existingJumps.Contains((table, from)))
                {
                    text.AppendLine(Invariant($"-D {from} -j {to}"));
                }
            }

            foreach (var chain in new[] { PreroutingChain, OutputChain })
            {
                if (existingChains.Contains((table, chain)))
                {
                    text.AppendLine(Invariant($"-F {chain}"));
                    text.AppendLine(Invariant($"-X {chain}"));
                }
            }

            text.AppendLine("COMMIT");
        }

        return text.ToString();
    }

    private static void AppendJumps(StringBuilder text, string table, ISet<(string Table, string From)> existingJumps)
    {
        foreach (var (jumpTable, from, to) in Jumps)
        {
            if (jumpTable == table && !existingJumps.Contains((table, from)))
            {
                text.AppendLine(Invariant($"-A {from} -j {to}"));
            }
        }
    }

    private static string Hex(int value, int mask) => Invariant($"0x{value:x}/0x{mask:x}");

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
