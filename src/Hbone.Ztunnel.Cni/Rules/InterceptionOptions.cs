namespace Hbone.Ztunnel.Cni.Rules;

/// <summary>The values the in-pod rules are built from (hbone-reference.md §3-§4); defaults are Istio's.</summary>
internal sealed record InterceptionOptions
{
    public int OutboundPort { get; init; } = 15001;

    public int InboundPlaintextPort { get; init; } = 15006;

    public int InboundHbonePort { get; init; } = 15008;

    public int DnsPort { get; init; } = 15053;

    /// <summary>Mark on every socket the proxy opens in the pod: such traffic is never captured again.</summary>
    public int ProxyMark { get; init; } = 0x539;

    /// <summary>Mark of TPROXYed connections; routed by table <see cref="RouteTable"/> to the local stack.</summary>
    public int TproxyMark { get; init; } = 0x111;

    public int MarkMask { get; init; } = 0xfff;

    public int RouteTable { get; init; } = 100;

    public int RulePriority { get; init; } = 32764;

    /// <summary>The kubelet's health-probe source address (SNATed by the node), exempt from capture.</summary>
    public string ProbeAddress { get; init; } = "169.254.7.127";

    /// <summary>The IPv6 twin of <see cref="ProbeAddress"/> (istio-cni's).</summary>
    public string ProbeAddressV6 { get; init; } = "fd16:9254:7127:1337:ffff:ffff:ffff:ffff";

    /// <summary>Capture DNS (UDP and TCP port 53) to the proxy's DNS port.</summary>
    public bool CaptureDns { get; init; } = true;
}
