using System.Net;
using System.Net.Sockets;
using Hbone.Ztunnel.InPod;

namespace Hbone.Ztunnel.E2E.Tests.Infrastructure;

/// <summary>
/// Sockets inside a lab namespace, from the test process: each is created on a thread that entered the namespace
/// (<see cref="NetworkNamespace.Run{T}(string, Func{T})"/>); a socket keeps its namespace for good, so it is then
/// used from any thread.
/// </summary>
internal static class PodSockets
{
    /// <summary>A new TCP socket in the namespace at <paramref name="netnsPath"/>.</summary>
    public static Socket Create(string netnsPath, AddressFamily family = AddressFamily.InterNetwork) =>
        NetworkNamespace.Run(netnsPath, () => new Socket(family, SocketType.Stream, ProtocolType.Tcp));

    /// <summary>A socket listening on <paramref name="local"/> inside the namespace.</summary>
    public static Task<Socket> ListenAsync(string netnsPath, IPEndPoint local, int backlog = 128)
    {
        // setns waits for a thread of its own; keep that off the caller's thread.
        return Task.Run(() => NetworkNamespace.Run(netnsPath, () =>
        {
            var socket = new Socket(local.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                if (local.AddressFamily == AddressFamily.InterNetworkV6)
                {
                    // Beside a 0.0.0.0 listener on the same port.
                    socket.DualMode = false;
                }

                socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
                socket.Bind(local);
                socket.Listen(backlog);
                return socket;
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }));
    }

    /// <summary>A socket created inside the namespace and connected to <paramref name="remote"/> within <paramref name="deadline"/>.</summary>
    /// <exception cref="TimeoutException">Not connected within the deadline.</exception>
    public static async Task<Socket> ConnectAsync(string netnsPath, IPEndPoint remote, TimeSpan deadline, CancellationToken cancellationToken = default)
    {
        var socket = await Task.Run(() => Create(netnsPath, remote.AddressFamily), cancellationToken);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(deadline);
        try
        {
            await socket.ConnectAsync(remote, timeout.Token);
            return socket;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            socket.Dispose();
            throw new TimeoutException($"connecting to {remote} from {netnsPath} took longer than {deadline}");
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>
    /// A <see cref="SocketsHttpHandler.ConnectCallback"/> that opens the connection inside the namespace, so an
    /// <see cref="HttpClient"/> in the test process reaches e.g. 127.0.0.1:15021 of a node.
    /// </summary>
    public static Func<SocketsHttpConnectionContext, CancellationToken, ValueTask<Stream>> ConnectCallback(string netnsPath, TimeSpan deadline) =>
        async (context, cancellationToken) =>
        {
            var endPoint = context.DnsEndPoint;
            var address = IPAddress.Parse(endPoint.Host);
            var socket = await ConnectAsync(netnsPath, new IPEndPoint(address, endPoint.Port), deadline, cancellationToken);
            return new NetworkStream(socket, ownsSocket: true);
        };

    /// <summary>An HTTP client whose connections are opened inside the namespace.</summary>
    public static HttpClient HttpClient(string netnsPath, TimeSpan timeout) =>
        new(new SocketsHttpHandler { ConnectCallback = ConnectCallback(netnsPath, timeout), PooledConnectionLifetime = TimeSpan.Zero, UseProxy = false })
        {
            Timeout = timeout,
        };

    /// <summary>
    /// Sends all of <paramref name="data"/> and returns what comes back: with <paramref name="halfClose"/>, shuts down
    /// sending and reads until the peer closes; otherwise reads as many bytes as were sent.
    /// </summary>
    public static async Task<byte[]> ExchangeAsync(Socket socket, ReadOnlyMemory<byte> data, TimeSpan deadline, bool halfClose = true, CancellationToken cancellationToken = default)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(deadline);
        await socket.SendAsync(data, SocketFlags.None, timeout.Token);
        if (halfClose)
        {
            socket.Shutdown(SocketShutdown.Send);
        }

        using var received = new MemoryStream();
        var buffer = new byte[16 * 1024];
        while (halfClose || received.Length < data.Length)
        {
            var read = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
            if (read == 0)
            {
                break;
            }

            received.Write(buffer, 0, read);
        }

        return received.ToArray();
    }
}
