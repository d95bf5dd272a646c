namespace Hbone.Protocol;

/// <summary>Names of the headers an HBONE CONNECT carries besides the pseudo-headers (lowercase, as HTTP/2 requires).</summary>
public static class HboneHeaders
{
    /// <summary>RFC 7239 <c>forwarded</c>: the original client address and the service host name.</summary>
    public const string Forwarded = "forwarded";

    /// <summary>W3C <c>baggage</c>: source workload labels, for telemetry only.</summary>
    public const string Baggage = "baggage";

    /// <summary>W3C <c>traceparent</c>: new per outbound connection.</summary>
    public const string TraceParent = "traceparent";

    /// <summary>The origin network; sent only on the inner CONNECT of double HBONE.</summary>
    public const string ForwardedNetwork = "x-forwarded-network";
}
