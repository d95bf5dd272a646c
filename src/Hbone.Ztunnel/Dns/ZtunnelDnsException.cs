namespace Hbone.Ztunnel.Dns;

/// <summary>The DNS proxy cannot run as configured (no upstream resolver to forward to).</summary>
public sealed class ZtunnelDnsException : Exception
{
    /// <summary>Creates the exception.</summary>
    public ZtunnelDnsException(string message, Exception? inner = null)
        : base(message, inner)
    {
    }
}
