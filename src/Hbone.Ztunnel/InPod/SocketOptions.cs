using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace Hbone.Ztunnel.InPod;

/// <summary>The Linux socket options of a node proxy (hbone-reference.md §3), as raw options.</summary>
internal static class SocketOptions
{
    private const int SolIp = 0;
    private const int SolSocket = 1;
    private const int SoMark = 36;
    private const int IpFreebind = 15;
    private const int IpTransparent = 19;
    private const int SoOriginalDst = 80;

    /// <summary>Istio's mark on every socket the proxy opens in a pod: such traffic is never captured again.</summary>
    public const int ProxyMark = 0x539;

    public static void SetMark(Socket socket, int mark) => SetInt(socket, SolSocket, SoMark, mark);

    public static void SetTransparent(Socket socket) => SetInt(socket, SolIp, IpTransparent, 1);

    public static void SetFreebind(Socket socket) => SetInt(socket, SolIp, IpFreebind, 1);

    /// <summary>The destination the app dialed before the nat OUTPUT REDIRECT to 15001 (IPv4).</summary>
    public static IPEndPoint GetOriginalDestination(Socket accepted)
    {
        Span<byte> address = stackalloc byte[16];
        var length = accepted.GetRawSocketOption(SolIp, SoOriginalDst, address);
        if (length < 8)
        {
            throw new SocketException((int)SocketError.InvalidArgument);
        }

        // struct sockaddr_in: family (2), port (2, network order), address (4).
        var port = BinaryPrimitives.ReadUInt16BigEndian(address[2..]);
        return new IPEndPoint(new IPAddress(address.Slice(4, 4)), port);
    }

    private static void SetInt(Socket socket, int level, int name, int value)
    {
        Span<byte> bytes = stackalloc byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(bytes, value);
        socket.SetRawSocketOption(level, name, bytes);
    }
}
