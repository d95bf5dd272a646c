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
    private const int IpTransparent = 19;
    private const int SoOriginalDst = 80;

    /// <summary>Istio's mark on every socket the proxy opens in a pod: such traffic is never captured again.</summary>
    public const int ProxyMark = 0x539;

    public static void SetMark(Socket socket, int mark)
    {
        Span<byte> value = stackalloc byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(value, mark);
        socket.SetRawSocketOption(SolSocket, SoMark, value);
    }

    public static void SetTransparent(Socket socket)
    {
        Span<byte> value = stackalloc byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(value, 1);
        socket.SetRawSocketOption(SolIp, IpTransparent, value);
    }

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
}
