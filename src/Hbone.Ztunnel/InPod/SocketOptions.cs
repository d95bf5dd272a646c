using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace Hbone.Ztunnel.InPod;

/// <summary>The Linux socket options of a node proxy (hbone-reference.md §3), as raw options.</summary>
internal static class SocketOptions
{
    private const int SolIp = 0;
    private const int SolSocket = 1;
    private const int SolIpv6 = 41;
    private const int SoMark = 36;
    private const int IpFreebind = 15;
    private const int IpTransparent = 19;
    private const int Ipv6Transparent = 75;
    private const int Ipv6Freebind = 78;
    private const int SoOriginalDst = 80; // IP6T_SO_ORIGINAL_DST has the same number at SOL_IPV6

    /// <summary>Istio's mark on every socket the proxy opens in a pod: such traffic is never captured again.</summary>
    public const int ProxyMark = 0x539;

    public static void SetMark(Socket socket, int mark) => SetInt(socket, SolSocket, SoMark, mark);

    /// <summary>IP_TRANSPARENT, or IPV6_TRANSPARENT on an IPv6 socket: bind to and accept for addresses not local.</summary>
    public static void SetTransparent(Socket socket)
    {
        if (socket.AddressFamily == AddressFamily.InterNetworkV6)
        {
            SetInt(socket, SolIpv6, Ipv6Transparent, 1);
        }
        else
        {
            SetInt(socket, SolIp, IpTransparent, 1);
        }
    }

    /// <summary>IP_FREEBIND, or IPV6_FREEBIND on an IPv6 socket.</summary>
    public static void SetFreebind(Socket socket)
    {
        if (socket.AddressFamily == AddressFamily.InterNetworkV6)
        {
            SetInt(socket, SolIpv6, Ipv6Freebind, 1);
        }
        else
        {
            SetInt(socket, SolIp, IpFreebind, 1);
        }
    }

    /// <summary>The destination the app dialed before the nat OUTPUT REDIRECT to 15001 (SO_ORIGINAL_DST, IP6T_SO_ORIGINAL_DST).</summary>
    public static IPEndPoint GetOriginalDestination(Socket accepted)
    {
        bool v6 = accepted.AddressFamily == AddressFamily.InterNetworkV6;
        Span<byte> address = stackalloc byte[28];
        var length = accepted.GetRawSocketOption(v6 ? SolIpv6 : SolIp, SoOriginalDst, address);
        if (length < (v6 ? 24 : 8))
        {
            throw new SocketException((int)SocketError.InvalidArgument);
        }

        // struct sockaddr_in: family (2), port (2, network order), address (4); sockaddr_in6: family, port, flowinfo (4), address (16).
        var port = BinaryPrimitives.ReadUInt16BigEndian(address[2..]);
        return new IPEndPoint(new IPAddress(v6 ? address.Slice(8, 16) : address.Slice(4, 4)), port);
    }

    private static void SetInt(Socket socket, int level, int name, int value)
    {
        Span<byte> bytes = stackalloc byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(bytes, value);
        socket.SetRawSocketOption(level, name, bytes);
    }
}
