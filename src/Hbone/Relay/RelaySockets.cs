using System.Net;
using System.Net.Sockets;

namespace Hbone.Relay;

/// <summary>Socket operations for the TCP side of a relay, shaped for sockets that stay open as long as a tunnel.</summary>
public static class RelaySockets
{
    /// <summary>
    /// Connects <paramref name="socket"/> to <paramref name="endPoint"/> as <see cref="Socket.ConnectAsync(EndPoint, CancellationToken)"/>
    /// does, through pooled connect state: the socket keeps none of it afterwards, where <c>Socket.ConnectAsync</c> leaves
    /// about 370 bytes on it for its whole life (an idle tunnel's upstream socket would hold them). Cancelling closes the socket.
    /// </summary>
    /// <exception cref="SocketException">The connect failed (refused, unreachable...).</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled; the socket is closed.</exception>
    public static ValueTask ConnectAsync(Socket socket, IPEndPoint endPoint, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(socket);
        ArgumentNullException.ThrowIfNull(endPoint);
        return SocketConnector.ConnectAsync(socket, endPoint, cancellationToken);
    }
}
