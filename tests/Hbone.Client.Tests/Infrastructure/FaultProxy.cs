using System.Net;
using System.Net.Sockets;

namespace Hbone.Client.Tests.Infrastructure;

/// <summary>
/// A TCP proxy on 127.0.0.1 in front of <c>target</c>: forwards bytes both ways (FIN as FIN). <see cref="Blackhole"/>
/// makes the connections open at that moment go silent: nothing is forwarded or read any more, nothing is closed,
/// like a peer whose packets are dropped. Connections accepted later forward normally.
/// </summary>
internal sealed class FaultProxy : IAsyncDisposable
{
    private readonly Socket _listener;
    private readonly IPEndPoint _target;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Link> _links = [];
    private readonly Task _acceptLoop;
    private int _accepted;

    public FaultProxy(IPEndPoint target)
    {
        _target = target;
        _listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen(64);
        EndPoint = (IPEndPoint)_listener.LocalEndPoint!;
        _acceptLoop = Task.Run(AcceptLoopAsync);
    }

    public IPEndPoint EndPoint { get; }

    /// <summary>Connections accepted so far (each is one dial of the client).</summary>
    public int Accepted => Volatile.Read(ref _accepted);

    /// <summary>Stops forwarding and reading on every connection open now, without closing any socket.</summary>
    public void Blackhole()
    {
        lock (_links)
        {
            foreach (var link in _links)
            {
                link.Silence.Cancel();
            }
        }
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptAsync(_stop.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }

            Interlocked.Increment(ref _accepted);
            var server = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await server.ConnectAsync(_target, _stop.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                client.Dispose();
                server.Dispose();
                continue;
            }

            var link = new Link(client, server, CancellationTokenSource.CreateLinkedTokenSource(_stop.Token));
            lock (_links)
            {
                _links.Add(link);
            }

            _ = PumpAsync(link, client, server);
            _ = PumpAsync(link, server, client);
        }
    }

    private static async Task PumpAsync(Link link, Socket from, Socket to)
    {
        var buffer = new byte[64 * 1024];
        var token = link.Silence.Token;
        try
        {
            while (true)
            {
                var read = await from.ReceiveAsync(buffer, SocketFlags.None, token);
                if (read == 0)
                {
                    to.Shutdown(SocketShutdown.Send);
                    return;
                }

                await to.SendAsync(buffer.AsMemory(0, read), SocketFlags.None, token);
            }
        }
        catch (OperationCanceledException)
        {
            // Blackholed (or disposed): stay silent, keep the sockets open until disposal.
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            if (!token.IsCancellationRequested)
            {
                link.Close();
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Dispose();
        await _acceptLoop.WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        lock (_links)
        {
            foreach (var link in _links)
            {
                link.Close();
            }
        }
    }

    private sealed record Link(Socket Client, Socket Server, CancellationTokenSource Silence)
    {
        public void Close()
        {
            Client.Dispose();
            Server.Dispose();
        }
    }
}
