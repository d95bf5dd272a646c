using System.Net;
using Hbone.Ztunnel.Proxy.Inbound;
using Hbone.Ztunnel.Proxy.InboundPlaintext;
using Hbone.Ztunnel.Proxy.Outbound;
using Hbone.Ztunnel.Telemetry;

namespace Hbone.Ztunnel.Proxy.Socks5;

/// <summary>A SOCKS5 CONNECT target: either an IP endpoint, or a domain name to resolve with <see cref="Port"/>.</summary>
/// <param name="Address">The target when the client sent an IPv4 or IPv6 address; null for a domain name.</param>
/// <param name="Host">The domain name the client sent (ATYP 3); null for an IP address.</param>
/// <param name="Port">The destination port (0-65535 as sent).</param>
public sealed record Socks5Request(IPEndPoint? Address, string? Host, int Port);
