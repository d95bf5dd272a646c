using System.Buffers;
using System.Net.Sockets;

namespace Hbone.Ztunnel.Proxy;

/// <summary>Copies bytes both ways between two TCP sockets, keeping half-close; a reset on one side resets the other.</summary>
internal static class TcpRelay
{
    private const int BufferSize = 64 * 1024;

    /// <summary>Relays until both directions end; returns the bytes copied each way.</summary>
    public static async Task<(long FromA, long FromB, bool Reset)> RunAsync(Socket a, Socket b, CancellationToken cancellationToken)
    {
        var aToB = CopyAsync(a, b, cancellationToken);
        var bToA = CopyAsync(b, a, cancellationToken);
        var first = await Task.WhenAny(aToB, bToA).ConfigureAwait(false);
        var second = first == aToB ? bToA : aToB;
        if (first.Result.Reset || (await second.ConfigureAwait(false)).Reset)
        {
            // Propagate the reset: linger 0 makes close send RST instead of FIN.
            Reset(a);
            Reset(b);
        }

        var (sentAToB, resetAToB) = await aToB.ConfigureAwait(false);
        var (sentBToA, resetBToA) = await bToA.ConfigureAwait(false);
        return (sentAToB, sentBToA, resetAToB || resetBToA);
    }

    /// <summary>Closes <paramref name="socket"/> with a TCP RST.</summary>
    public static void Reset(Socket socket)
    {
        try
        {
            socket.LingerState = new LingerOption(true, 0);
            socket.Close();
        }
        catch (ObjectDisposedException)
        {
            // Already closed: nothing more to signal.
        }
    }

    private static async Task<(long Bytes, bool Reset)> CopyAsync(Socket from, Socket to, CancellationToken cancellationToken)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
        long total = 0;
        try
        {
            while (true)
            {
                var read = await from.ReceiveAsync(buffer, SocketFlags.None, cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    to.Shutdown(SocketShutdown.Send);
                    return (total, false);
                }

                await to.SendAsync(buffer.AsMemory(0, read), SocketFlags.None, cancellationToken).ConfigureAwait(false);
                total += read;
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException or OperationCanceledException)
        {
            return (total, true);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
