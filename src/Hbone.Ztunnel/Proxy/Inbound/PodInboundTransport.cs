using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;
using Hbone.Kestrel.Transport;
using Hbone.Ztunnel.Proxy.InboundPlaintext;
using Hbone.Ztunnel.Proxy.Outbound;
using Hbone.Ztunnel.Proxy.Socks5;
using Hbone.Ztunnel.Telemetry;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;

namespace Hbone.Ztunnel.Proxy.Inbound;

/// <summary>
/// A Kestrel transport fed by the pods' 15008 listeners: each pod accepts inside its own network namespace and hands
/// the socket over here, so one HBONE server serves every pod on the node (Kestrel cannot add listeners while running).
/// </summary>
internal sealed class PodInboundTransport : IConnectionListenerFactory, IConnectionListenerFactorySelector
{
    private readonly Channel<(Socket Socket, Action<ConnectionContext>? Adopt)> _accepted =
        Channel.CreateUnbounded<(Socket, Action<ConnectionContext>?)>(new UnboundedChannelOptions { SingleReader = false, SingleWriter = false });
    private readonly AcceptedSocketConnectionFactory _contexts;

    // 32 KiB receive blocks (Kestrel's own factory fixes 4 KiB). With inline socket completions, the pipes continue
    // inline too: TLS and the engine's frame parsing run on the event thread without another hop (handlers still go to
    // the thread pool). docs/benchmarks.md.
    public PodInboundTransport(ILoggerFactory loggerFactory) =>
        _contexts = new AcceptedSocketConnectionFactory(
            new AcceptedSocketConnectionOptions { UnsafePreferInlineScheduling = Hbone.Hosting.SocketCompletions.IsInline },
            loggerFactory.CreateLogger("Hbone.Ztunnel.Inbound"));

    /// <summary>Hands a connection accepted on a pod's 15008 to Kestrel; <paramref name="adopt"/> sees its Kestrel connection (so the pod can abort it).</summary>
    public bool TryEnqueue(Socket accepted, Action<ConnectionContext>? adopt = null) => _accepted.Writer.TryWrite((accepted, adopt));

    public bool CanBind(EndPoint endpoint) => endpoint is PodInboundEndPoint;

    public ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default) =>
        ValueTask.FromResult<IConnectionListener>(new Listener(this, endpoint));

    private sealed class Listener(PodInboundTransport transport, EndPoint endPoint) : IConnectionListener
    {
        public EndPoint EndPoint => endPoint;

        public async ValueTask<ConnectionContext?> AcceptAsync(CancellationToken cancellationToken = default)
        {
            try
            {
                var (socket, adopt) = await transport._accepted.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
                var connection = transport._contexts.Create(socket);
                adopt?.Invoke(connection);
                return connection;
            }
            catch (Exception ex) when (ex is ChannelClosedException or OperationCanceledException)
            {
                return null;
            }
        }

        public ValueTask UnbindAsync(CancellationToken cancellationToken = default)
        {
            transport._accepted.Writer.TryComplete();
            return ValueTask.CompletedTask;
        }

        public ValueTask DisposeAsync()
        {
            transport._accepted.Writer.TryComplete();
            while (transport._accepted.Reader.TryRead(out var pending))
            {
                pending.Socket.Dispose();
            }

            return ValueTask.CompletedTask;
        }
    }
}

