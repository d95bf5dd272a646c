using System.Net;
using System.Net.Sockets;

namespace Hbone.Cli.Tests.Infrastructure;

/// <summary>A loopback TCP server that echoes each connection's bytes and closes its side after the peer's FIN.</summary>
internal sealed class EchoServer : IAsyncDisposable
{
    private readonly ScriptedTcpServer _server = new(EchoAsync);

    public IPEndPoint EndPoint => _server.EndPoint;

    public ValueTask DisposeAsync() => _server.DisposeAsync();

    private static async Task EchoAsync(Socket socket, CancellationToken cancellationToken)
    {
        var buffer = new byte[16 * 1024];
        int read;
        while ((read = await socket.ReceiveAsync(buffer, cancellationToken)) > 0)
        {
            await socket.SendAsync(buffer.AsMemory(0, read), cancellationToken);
        }

        socket.Shutdown(SocketShutdown.Send);
    }
}
