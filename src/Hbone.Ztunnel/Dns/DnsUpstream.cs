using System.Buffers;
using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using Hbone.Ztunnel.InPod;

namespace Hbone.Ztunnel.Dns;

/// <summary>
/// Sends a query the proxy does not answer to the upstream resolvers, in order, from the asking pod's namespace (the
/// proxy's marked sockets skip the capture), and returns the first reply unchanged. Null when none answered in time.
/// </summary>
/// <param name="resolvers">The upstream resolvers.</param>
/// <param name="timeout">How long each resolver gets.</param>
internal sealed class DnsUpstream(ResolvConf resolvers, TimeSpan timeout)
{
    private const int MaxMessage = ushort.MaxValue;

    /// <summary>The resolvers queries go to.</summary>
    public ResolvConf Resolvers { get; } = resolvers;

    /// <summary>Forwards over UDP; a reply must carry the query's id (anything else on the socket is ignored).</summary>
    public async Task<byte[]?> ForwardUdpAsync(PodSockets sockets, ReadOnlyMemory<byte> query, CancellationToken cancellationToken)
    {
        ushort id = BinaryPrimitives.ReadUInt16BigEndian(query.Span);
        byte[] buffer = ArrayPool<byte>.Shared.Rent(MaxMessage);
        try
        {
            foreach (IPEndPoint resolver in Resolvers.Nameservers)
            {
                using CancellationTokenSource deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                deadline.CancelAfter(timeout);
                using Socket socket = sockets.OutboundDatagram(resolver.AddressFamily);
                try
                {
                    await socket.ConnectAsync(resolver, deadline.Token).ConfigureAwait(false);
                    await socket.SendAsync(query, SocketFlags.None, deadline.Token).ConfigureAwait(false);
                    while (true)
                    {
                        int received = await socket.ReceiveAsync(buffer, SocketFlags.None, deadline.Token).ConfigureAwait(false);
                        if (received >= DnsWire.HeaderLength && BinaryPrimitives.ReadUInt16BigEndian(buffer) == id)
                        {
                            return buffer.AsSpan(0, received).ToArray();
                        }
                    }
                }
                catch (Exception ex) when (ex is SocketException || (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested))
                {
                    // Refused, unreachable or silent: the next resolver.
                }
            }

            return null;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Forwards over TCP (two-byte length prefix, RFC 1035 §4.2.2): how a client retries a truncated answer.</summary>
    public async Task<byte[]?> ForwardTcpAsync(PodSockets sockets, ReadOnlyMemory<byte> query, CancellationToken cancellationToken)
    {
        byte[] framed = new byte[2 + query.Length];
        BinaryPrimitives.WriteUInt16BigEndian(framed, (ushort)query.Length);
        query.CopyTo(framed.AsMemory(2));
        foreach (IPEndPoint resolver in Resolvers.Nameservers)
        {
            using CancellationTokenSource deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            deadline.CancelAfter(timeout);
            using Socket socket = sockets.Outbound(resolver.AddressFamily, bindAddress: null);
            try
            {
                await socket.ConnectAsync(resolver, deadline.Token).ConfigureAwait(false);
                await socket.SendAsync(framed, SocketFlags.None, deadline.Token).ConfigureAwait(false);
                byte[] length = new byte[2];
                if (!await ReadExactlyAsync(socket, length, deadline.Token).ConfigureAwait(false))
                {
                    continue;
                }

                byte[] reply = new byte[BinaryPrimitives.ReadUInt16BigEndian(length)];
                if (reply.Length >= DnsWire.HeaderLength && await ReadExactlyAsync(socket, reply, deadline.Token).ConfigureAwait(false))
                {
                    return reply;
                }
            }
            catch (Exception ex) when (ex is SocketException || (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested))
            {
                // Refused, reset or silent: the next resolver.
            }
        }

        return null;
    }

    /// <summary>Fills <paramref name="buffer"/>; false when the peer closed first.</summary>
    internal static async Task<bool> ReadExactlyAsync(Socket socket, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        int filled = 0;
        while (filled < buffer.Length)
        {
            int read = await socket.ReceiveAsync(buffer[filled..], SocketFlags.None, cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                return false;
            }

            filled += read;
        }

        return true;
    }
}
