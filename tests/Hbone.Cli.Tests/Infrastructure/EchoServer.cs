using System.Net;
using System.Net.Sockets;

namespace Hbone.Cli.Tests.Infrastructure;

/// <summary>A loopback TCP server that echoes each connection's bytes and closes its side after the peer's FIN.</summary>
internal sealed class EchoServer : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _acceptLoop;

    public EchoServer()
    {
        _listener.Start();
        _acceptLoop = AcceptAsync();
    }

    public IPEndPoint EndPoint => (IPEndPoint)_listener.LocalEndpoint;

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        try
        {
            await _acceptLoop;
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }

        _stop.Dispose();
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            var socket = await _listener.AcceptSocketAsync(_stop.Token);
            _ = EchoAsync(socket);
        }
    }

    private async Task EchoAsync(Socket socket)
    {
        using (socket)
        {
            var buffer = new byte[16 * 1024];
            try
            {
                int read;
                while ((read = await socket.ReceiveAsync(buffer, _stop.Token)) > 0)
                {
                    await socket.SendAsync(buffer.AsMemory(0, read), _stop.Token);
                }

                socket.Shutdown(SocketShutdown.Send);
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException)
            {
                // The tunnel was reset or the test ended.
            }
        }
    }
}
