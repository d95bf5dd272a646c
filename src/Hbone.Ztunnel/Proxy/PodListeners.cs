using System.Net;
using System.Net.Sockets;
using Hbone.Relay;
using Hbone.Ztunnel.InPod;
using Hbone.Ztunnel.Proxy.InboundPlaintext;
using Hbone.Ztunnel.Proxy.Outbound;
using Hbone.Ztunnel.Proxy.Socks5;
using Hbone.Ztunnel.Telemetry;

namespace Hbone.Ztunnel.Proxy;

/// <summary>
/// The listening sockets of one pod's proxy, opened inside its network namespace, each with its accept loop. While the
/// pod drains, an accepted connection is reset at once, so clients fail fast instead of waiting on dropped SYNs.
/// </summary>
internal sealed class PodListeners(PodSockets sockets, Func<bool> draining)
{
    private readonly List<Socket> _listeners = [];
    private readonly List<Task> _acceptLoops = [];

    /// <summary>Completes when every accept loop has ended (after <see cref="Close"/>).</summary>
    public Task Completion => Task.WhenAll(_acceptLoops);

    /// <summary>Listens on <paramref name="endPoint"/> and hands every accepted socket to <paramref name="handle"/>.</summary>
    public void Listen(IPEndPoint endPoint, bool transparent, Action<Socket> handle)
    {
        var listener = sockets.Listen(endPoint, transparent);
        _listeners.Add(listener);
        _acceptLoops.Add(AcceptLoopAsync(listener, handle));
    }

    public void Close()
    {
        foreach (var listener in _listeners)
        {
            listener.Dispose();
        }
    }

    private async Task AcceptLoopAsync(Socket listener, Action<Socket> handle)
    {
        while (true)
        {
            Socket accepted;
            try
            {
                accepted = await listener.AcceptAsync().ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
                return;
            }

            if (draining())
            {
                TunnelRelay.Reset(accepted);
                continue;
            }

            accepted.NoDelay = true;
            handle(accepted);
        }
    }
}
