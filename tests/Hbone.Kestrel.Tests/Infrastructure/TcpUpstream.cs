using System.Net;
using System.Net.Sockets;

namespace Hbone.Kestrel.Tests.Infrastructure;

/// <summary>A TCP server on 127.0.0.1 standing for the application behind the tunnel.</summary>
internal sealed class TcpUpstream : IDisposable
{
    private readonly Socket _listener;

    public TcpUpstream()
    {
        _listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen(512);
        EndPoint = (IPEndPoint)_listener.LocalEndPoint!;
    }

    public IPEndPoint EndPoint { get; }

    /// <summary>A loopback port nobody listens on (bound, then released): connects to it are refused.</summary>
    public static int ClosedPort()
    {
        using var probe = new TcpUpstream();
        return probe.EndPoint.Port;
    }

    public string Authority => EndPoint.ToString();

    public int Accepted;

    public async Task<Socket> AcceptAsync(TimeSpan? timeout = null)
    {
        var socket = await _listener.AcceptAsync().WaitAsync(timeout ?? TimeSpan.FromSeconds(15));
        Interlocked.Increment(ref Accepted);
        return socket;
    }

    /// <summary>Echoes every connection until its FIN, then half-closes back.</summary>
    public Task RunEchoAsync(CancellationToken cancellationToken) => Task.Run(async () =>
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await _listener.AcceptAsync(cancellationToken);
                Interlocked.Increment(ref Accepted);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }

            _ = EchoAsync(socket, cancellationToken);
        }
    }, CancellationToken.None);

    private static async Task EchoAsync(Socket socket, CancellationToken cancellationToken)
    {
        using (socket)
        {
            var buffer = new byte[64 * 1024];
            try
            {
                int read;
                while ((read = await socket.ReceiveAsync(buffer, SocketFlags.None, cancellationToken)) > 0)
                {
                    await socket.SendAsync(buffer.AsMemory(0, read), SocketFlags.None, cancellationToken);
                }

                socket.Shutdown(SocketShutdown.Send);
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
            }
        }
    }

    /// <summary>Reads a socket to its FIN within a deadline.</summary>
    public static async Task<byte[]> ReadToEndAsync(Socket socket, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(30));
        var output = new MemoryStream();
        var buffer = new byte[64 * 1024];
        int read;
        while ((read = await socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token)) > 0)
        {
            output.Write(buffer, 0, read);
        }

        return output.ToArray();
    }

    /// <summary>True once the socket ends, by FIN or by RST, within a deadline.</summary>
    public static async Task<bool> ReadToEndOrResetAsync(Socket socket, TimeSpan? timeout = null)
    {
        try
        {
            await ReadToEndAsync(socket, timeout);
            return true;
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionReset)
        {
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>
    /// Accepts (and closes) every connection already waiting in the backlog without blocking, then returns
    /// <see cref="Accepted"/>. Call it after the server answered: a forwarder dials before it answers, so a
    /// dial for that CONNECT is in the backlog by then.
    /// </summary>
    public int AcceptPending()
    {
        while (_listener.Poll(0, SelectMode.SelectRead))
        {
            _listener.Accept().Dispose();
            Interlocked.Increment(ref Accepted);
        }

        return Volatile.Read(ref Accepted);
    }

    public void Dispose() => _listener.Dispose();
}
