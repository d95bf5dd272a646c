using Hbone.Ztunnel.Proxy.Inbound;
using Hbone.Ztunnel.Proxy.InboundPlaintext;
using Hbone.Ztunnel.Proxy.Outbound;
using Hbone.Ztunnel.Telemetry;
namespace Hbone.Ztunnel.Proxy.Socks5;

/// <summary>The REP field of a SOCKS5 reply (RFC 1928 §6).</summary>
public enum Socks5Reply : byte
{
    /// <summary>The connection is established.</summary>
    Succeeded = 0,

    /// <summary>General SOCKS server failure, also used for malformed requests.</summary>
    GeneralFailure = 1,

    /// <summary>Connection not allowed by ruleset (also: no acceptable authentication method).</summary>
    NotAllowed = 2,

    /// <summary>Network unreachable.</summary>
    NetworkUnreachable = 3,

    /// <summary>Host unreachable.</summary>
    HostUnreachable = 4,

    /// <summary>Connection refused.</summary>
    ConnectionRefused = 5,

    /// <summary>TTL expired.</summary>
    TtlExpired = 6,

    /// <summary>Command not supported (only CONNECT is).</summary>
    CommandNotSupported = 7,

    /// <summary>Address type not supported.</summary>
    AddressTypeNotSupported = 8,
}
