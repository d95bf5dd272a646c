namespace Hbone.Ztunnel.Telemetry;

/// <summary>The labels of ztunnel's DNS counters.</summary>
/// <param name="QueryType">The question's type in lower case (<c>a</c>, <c>aaaa</c>, <c>srv</c>...), <c>unknown</c> for others.</param>
/// <param name="Protocol"><c>udp</c> or <c>tcp</c>.</param>
/// <param name="SourceCanonicalService">The asking pod's canonical service, <c>unknown</c> when not known.</param>
/// <param name="SourceCanonicalRevision">The asking pod's canonical revision, <c>unknown</c> when not known.</param>
public sealed record DnsLabels(string QueryType, string Protocol, string SourceCanonicalService, string SourceCanonicalRevision)
{
    /// <summary>The name ztunnel's labels give a DNS type (its resolver library's names, lower case).</summary>
    public static string TypeName(ushort type) => type switch
    {
        1 => "a",
        2 => "ns",
        5 => "cname",
        6 => "soa",
        12 => "ptr",
        15 => "mx",
        16 => "txt",
        28 => "aaaa",
        33 => "srv",
        64 => "svcb",
        65 => "https",
        255 => "any",
        _ => "unknown",
    };
}
