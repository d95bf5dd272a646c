using Hbone.Ztunnel.Proxy.Inbound;
using Hbone.Ztunnel.Proxy.InboundPlaintext;
using Hbone.Ztunnel.Proxy.Outbound;
using Hbone.Ztunnel.Telemetry;
namespace Hbone.Ztunnel.Proxy.Socks5;

/// <summary>A SOCKS5 handshake that cannot go on; <see cref="Reply"/> is the code sent (or due) to the client.</summary>
public sealed class Socks5Exception : IOException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="reply">The reply code that describes the failure.</param>
    /// <param name="message">One line saying what was wrong.</param>
    /// <param name="innerException">The underlying failure, if any.</param>
    public Socks5Exception(Socks5Reply reply, string message, Exception? innerException = null)
        : base(message, innerException)
    {
        Reply = reply;
    }

    /// <summary>The reply code that describes the failure.</summary>
    public Socks5Reply Reply { get; }
}
