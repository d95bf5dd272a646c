using System.Net;
using Hbone.Ztunnel.Proxy.InboundPlaintext;
using Hbone.Ztunnel.Proxy.Outbound;
using Hbone.Ztunnel.Proxy.Socks5;
using Hbone.Ztunnel.Telemetry;

namespace Hbone.Ztunnel.Proxy.Inbound;

/// <summary>The address Kestrel binds for <see cref="PodInboundTransport"/>: every pod's 15008 at once.</summary>
internal sealed class PodInboundEndPoint : EndPoint
{
    public static readonly PodInboundEndPoint Instance = new();

    public override string ToString() => "pods:15008";
}
