using System.Net;

namespace Hbone.Ztunnel.Proxy;

/// <summary>The address Kestrel binds for <see cref="PodInboundTransport"/>: every pod's 15008 at once.</summary>
internal sealed class PodInboundEndPoint : EndPoint
{
    public static readonly PodInboundEndPoint Instance = new();

    public override string ToString() => "pods:15008";
}
