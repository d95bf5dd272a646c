using System.Net;
using System.Net.Sockets;

namespace Hbone.Ztunnel.InPod;

/// <summary>Creates the sockets of one pod's proxy inside that pod's network namespace, each marked so it is never captured again.</summary>
/// <param name="netns">The thread living in the pod's namespace.</param>
/// <param name="mark">The <c>SO_MARK</c> put on every socket (<c>PACKET_MARK</c>).</param>
internal sealed class PodSockets(NetnsExecutor netns, int mark)
{
    private const int Backlog = 1024;

    /// <summary>A listening socket; <paramref name="transparent"/> accepts TPROXY'd connections for any address.</summary>
    public Socket Listen(IPEndPoint endPoint, bool transparent) => netns.Invoke(() =>
    {
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (endPoint.AddressFamily == AddressFamily.InterNetworkV6)
            {
                // IPv6 only: the IPv4 listener on the same port is a socket of its own.
                socket.DualMode = false;
            }

            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            if (transparent)
            {
                SocketOptions.SetTransparent(socket);
            }

            Mark(socket);
            socket.Bind(endPoint);
            socket.Listen(Backlog);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    });

    /// <summary>An unconnected socket for a connection the pod sends (to a peer's 15008 or a passthrough destination).</summary>
    public Socket Outbound(AddressFamily family, IPAddress? bindAddress) => netns.Invoke(() =>
    {
        var socket = new Socket(family, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            Mark(socket);
            if (bindAddress is not null)
            {
                socket.Bind(new IPEndPoint(bindAddress, 0));
            }

            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    });

    /// <summary>An unconnected socket to the pod's app that carries the client's address as its source (IP_TRANSPARENT + IP_FREEBIND).</summary>
    public Socket Spoofed(IPAddress clientAddress) => netns.Invoke(() =>
    {
        var socket = new Socket(clientAddress.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            SocketOptions.SetTransparent(socket);
            SocketOptions.SetFreebind(socket);
            Mark(socket);
            socket.Bind(new IPEndPoint(clientAddress, 0));
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    });

    /// <summary>A UDP socket bound to <paramref name="endPoint"/> in the pod (the DNS proxy's listener).</summary>
    public Socket Datagram(IPEndPoint endPoint) => netns.Invoke(() =>
    {
        var socket = new Socket(endPoint.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            if (endPoint.AddressFamily == AddressFamily.InterNetworkV6)
            {
                socket.DualMode = false;
            }

            Mark(socket);
            socket.Bind(endPoint);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    });

    /// <summary>An unbound UDP socket for a query the proxy sends itself (to an upstream resolver); marked, so it is not captured.</summary>
    public Socket OutboundDatagram(AddressFamily family) => netns.Invoke(() =>
    {
        var socket = new Socket(family, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            Mark(socket);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    });

    /// <summary>True when the pod's namespace has IPv6 (its loopback answers to ::1), so the IPv6 listeners can open.</summary>
    public bool SupportsIPv6() => netns.Invoke(() =>
    {
        try
        {
            using var probe = new Socket(AddressFamily.InterNetworkV6, SocketType.Dgram, ProtocolType.Udp);
            probe.Bind(new IPEndPoint(IPAddress.IPv6Loopback, 0));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    });

    private void Mark(Socket socket) => SocketOptions.SetMark(socket, mark);
}
