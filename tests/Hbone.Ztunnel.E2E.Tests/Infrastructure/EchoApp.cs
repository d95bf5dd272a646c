using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace Hbone.Ztunnel.E2E.Tests.Infrastructure;

/// <summary>
/// The "app" of a pod: a TCP echo server inside the pod's namespace that records every client's address as it saw
/// it (so tests can assert source-IP preservation) and sends back every byte, half-closing when the client does.
/// </summary>
internal sealed class EchoApp : IAsyncDisposable
{
    private readonly Socket _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentQueue<IPEndPoint> _clients = new();
    private readonly ConcurrentDictionary<Socket, Task> _connections = new();
    private readonly SemaphoreSlim _accepted = new(0);
    private readonly Task _acceptLoop;

    private EchoApp(Socket listener)
    {
        _listener = listener;
        LocalEndPoint = (IPEndPoint)listener.LocalEndPoint!;
        _acceptLoop = AcceptLoopAsync();
    }

    /// <summary>Where the app listens (inside its namespace).</summary>
    public IPEndPoint LocalEndPoint { get; }

    /// <summary>Every accepted client's remote endpoint, in accept order.</summary>
    public IReadOnlyList<IPEndPoint> Clients => [.. _clients];

    /// <summary>Starts listening on <paramref name="local"/> inside the namespace at <paramref name="netnsPath"/>.</summary>
    public static async Task<EchoApp> StartAsync(string netnsPath, IPEndPoint local) =>
        new(await PodSockets.ListenAsync(netnsPath, local));

    /// <summary>Starts the app on 0.0.0.0:<paramref name="port"/> in <paramref name="pod"/>.</summary>
    public static Task<EchoApp> StartAsync(LabPod pod, int port) => StartAsync(pod.NetnsPath, new IPEndPoint(IPAddress.Any, port));

    /// <summary>Waits until at least <paramref name="count"/> clients were accepted; returns the <paramref name="count"/>th.</summary>
    /// <exception cref="TimeoutException">Fewer were accepted within the deadline.</exception>
    public async Task<IPEndPoint> WaitForClientAsync(TimeSpan deadline, int count = 1)
    {
        using var timeout = new CancellationTokenSource(deadline);
        while (_clients.Count < count)
        {
            try
            {
                await _accepted.WaitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"echo app on {LocalEndPoint} accepted {_clients.Count} of {count} clients within {deadline}");
            }
        }

        return Clients[count - 1];
    }

    /// <summary>Stops listening and closes every connection.</summary>
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Dispose();
        foreach (var connection in _connections.Keys)
        {
            connection.Dispose();
        }

        await Task.WhenAll([_acceptLoop, .. _connections.Values]).ContinueWith(static _ => { }, TaskScheduler.Default);
        _stop.Dispose();
        _accepted.Dispose();
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket connection;
            try
            {
                connection = await _listener.AcceptAsync(_stop.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }

            _clients.Enqueue((IPEndPoint)connection.RemoteEndPoint!);
            _connections[connection] = EchoAsync(connection);
            _accepted.Release();
        }
    }

    private async Task EchoAsync(Socket connection)
    {
        var buffer = new byte[16 * 1024];
        try
        {
            while (true)
            {
                var read = await connection.ReceiveAsync(buffer, SocketFlags.None, _stop.Token);
                if (read == 0)
                {
                    connection.Shutdown(SocketShutdown.Send);
                    break;
                }

                await connection.SendAsync(buffer.AsMemory(0, read), SocketFlags.None, _stop.Token);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or SocketException)
        {
            // The client reset, or the app is stopping: nothing more to echo.
        }
        finally
        {
            _connections.TryRemove(connection, out _);
            connection.Dispose();
        }
    }
}
