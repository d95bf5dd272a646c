using System.Net;
using System.Net.Sockets;

namespace Hbone.Kestrel;

/// <summary>Options of <see cref="HboneForwarder"/>, the handler that connects each CONNECT to its authority.</summary>
public sealed class HboneForwarderOptions
{
    private TimeSpan _connectTimeout = TimeSpan.FromSeconds(10);

    /// <summary>Upstream TCP connect timeout; a CONNECT whose upstream does not answer in time gets 503. Default 10 s.</summary>
    public TimeSpan ConnectTimeout
    {
        get => _connectTimeout;
        set => _connectTimeout = value > TimeSpan.Zero ? value : throw new ArgumentOutOfRangeException(nameof(value), value, "The connect timeout must be positive.");
    }

    /// <summary>
    /// L4 authorization from the peer identity (never from headers). Return false to answer 401.
    /// When null, every identity of the trust domain is allowed.
    /// </summary>
    public Func<HboneConnectContext, ValueTask<bool>>? Authorize { get; set; }

    /// <summary>
    /// Require the authority IP to be the address the connection arrived on (ztunnel's rule for pod addresses);
    /// otherwise 400. Hostname authorities are not affected. Default false, as a gateway forwards anywhere.
    /// </summary>
    public bool RequireAuthorityMatchesLocalAddress { get; set; }

    /// <summary>Target ports refused with 503 before any connect (a proxy's own ports, to prevent loops).</summary>
    public ISet<int> RefusedPorts { get; } = new HashSet<int>();

    /// <summary>
    /// Creates the upstream socket for a CONNECT, for example bound to the client's address with
    /// <c>IP_TRANSPARENT</c> or marked with <c>SO_MARK</c>. When null, a plain TCP socket is used.
    /// </summary>
    public Func<HboneConnectContext, IPEndPoint, Socket>? CreateSocket { get; set; }

    /// <summary>Resolves a hostname authority. When null, DNS is used.</summary>
    public Func<string, CancellationToken, ValueTask<IPAddress[]>>? ResolveHost { get; set; }
}
