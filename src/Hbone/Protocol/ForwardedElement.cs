using System.Net;

namespace Hbone.Protocol;

/// <summary>One element of an RFC 7239 <c>Forwarded</c> header (one proxy hop). Telemetry only: it never grants anything.</summary>
public sealed class ForwardedElement
{
    internal ForwardedElement(string? forNode, IPEndPoint? forEndPoint, string? host, string? proto, string? by)
    {
        For = forNode;
        ForEndPoint = forEndPoint;
        Host = host;
        Proto = proto;
        By = by;
    }

    /// <summary>The <c>for</c> node as sent (unquoted): <c>10.0.0.1:1234</c>, <c>[fd00::1]:1234</c>, <c>unknown</c> or an obfuscated <c>_name</c>.</summary>
    public string? For { get; }

    /// <summary>The client address when <see cref="For"/> names an IP; the port is 0 when absent or obfuscated.</summary>
    public IPEndPoint? ForEndPoint { get; }

    /// <summary>The <c>host</c> parameter (HBONE: the service host name the client addressed).</summary>
    public string? Host { get; }

    /// <summary>The <c>proto</c> parameter (a URI scheme).</summary>
    public string? Proto { get; }

    /// <summary>The <c>by</c> node (the interface the request came in on).</summary>
    public string? By { get; }
}
