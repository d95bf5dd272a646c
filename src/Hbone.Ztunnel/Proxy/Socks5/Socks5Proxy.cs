using System.Net;
using System.Net.Sockets;
using Hbone.Ztunnel.Proxy.Inbound;
using Hbone.Ztunnel.Proxy.InboundPlaintext;
using Hbone.Ztunnel.Proxy.Outbound;
using Hbone.Ztunnel.Proxy.Socks5;
using Hbone.Ztunnel.Telemetry;

namespace Hbone.Ztunnel.Proxy.Socks5;

/// <summary>SOCKS5 (CONNECT only) on a pod's 127.0.0.1:15080: the requested destination takes the outbound path as if captured.</summary>
internal sealed class Socks5Proxy(ProxyContext context)
{
    private static readonly TimeSpan HandshakeTimeout = TimeSpan.FromSeconds(10);

    public async Task HandleAsync(PodProxy pod, Socket downstream)
    {
        IPEndPoint? target;
        var stream = new NetworkStream(downstream, ownsSocket: false);
        await using (stream.ConfigureAwait(false))
        {
            try
            {
                using var timeout = new CancellationTokenSource(HandshakeTimeout);
                var request = await Socks5Handshake.ReadRequestAsync(stream, timeout.Token).ConfigureAwait(false);
                target = request.Address ?? Resolve(request.Host!, request.Port);
                var reply = target is null ? Socks5Reply.HostUnreachable : Socks5Reply.Succeeded;
                await Socks5Handshake.WriteReplyAsync(stream, reply, null, timeout.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is Socks5Exception or IOException or SocketException or OperationCanceledException)
            {
                downstream.Dispose();
                return;
            }
        }

        if (target is null)
        {
            downstream.Dispose();
            return;
        }

        await context.Outbound.ForwardAsync(pod, downstream, target, null).ConfigureAwait(false);
    }

    // Mesh service hostnames resolve to their VIP, as the DNS proxy would answer.
    private IPEndPoint? Resolve(string host, int port) =>
        context.Store.FindServiceByHostname(host) is { Vips.Count: > 0 } service ? new IPEndPoint(service.Vips[0].Address, port) : null;
}
