using System.Buffers;
using System.Net.Sockets;

namespace Hbone.TunnelBench;

/// <summary>
/// TCP echo upstream; runs until SIGINT/SIGTERM, then closes the listener and every connection. With --faults 1, a
/// connection that starts with <see cref="SoakTest.FaultHeader"/> + N is reset (RST) once N bytes were echoed.
/// </summary>
internal static class EchoServer
{
    public static async Task<int> RunAsync(Options options, CancellationToken token)
    {
        options.Allow("listen", "faults");
        var faults = options.Int("faults", 0, 0, 1) == 1;
        var endPoint = options.EndPoint("listen");
        using var listener = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(endPoint);
        listener.Listen(4096);
        Console.Out.WriteLine($"listening on {listener.LocalEndPoint}");
        Console.Out.Flush();

        // Handlers catch everything themselves; the set is what shutdown needs (to close what is still open).
        var connections = new HashSet<Socket>();
        try
        {
            while (!token.IsCancellationRequested)
            {
                Socket socket;
                try
                {
                    socket = await listener.AcceptAsync(token);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
                socket.NoDelay = true;
                lock (connections)
                {
                    connections.Add(socket);
                }
                _ = EchoAsync(socket, connections, faults, token);
            }
        }
        finally
        {
            lock (connections)
            {
                foreach (var socket in connections)
                {
                    socket.Dispose();
                }
            }
        }
        return 0;
    }

    private static async Task EchoAsync(Socket socket, HashSet<Socket> connections, bool faults, CancellationToken token)
    {
        try
        {
            // Bytes still to echo before a fault reset.
            var remaining = faults ? await FaultHeaderAsync(socket, token) : long.MaxValue;
            while (true)
            {
                if (remaining <= 0)
                {
                    socket.LingerState = new LingerOption(true, 0);
                    break;
                }
                // A zero-byte read waits for data without holding a buffer: idle connections cost no pooled memory.
                await socket.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None, token);
                var buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
                try
                {
                    var read = await socket.ReceiveAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, remaining)), SocketFlags.None, token);
                    if (read == 0)
                    {
                        break;
                    }
                    await Wire.SendAllAsync(socket, buffer.AsMemory(0, read), token);
                    remaining -= read;
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                }
            }
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException)
        {
            // A reset or a shutdown ends this connection only.
        }
        finally
        {
            lock (connections)
            {
                connections.Remove(socket);
            }
            socket.Dispose();
        }
    }

    /// <summary>Reads and echoes the first bytes: the fault header's N minus the header, or long.MaxValue without it.</summary>
    private static async Task<long> FaultHeaderAsync(Socket socket, CancellationToken token)
    {
        var header = new byte[SoakTest.FaultHeaderLength];
        var length = 0;
        var magic = SoakTest.FaultHeader.Length;
        while (length < header.Length)
        {
            var read = await socket.ReceiveAsync(header.AsMemory(length), SocketFlags.None, token);
            if (read == 0)
            {
                break;
            }
            length += read;
            var compared = Math.Min(length, magic);
            if (!header.AsSpan(0, compared).SequenceEqual(SoakTest.FaultHeader[..compared]))
            {
                break;
            }
        }
        await Wire.SendAllAsync(socket, header.AsMemory(0, length), token);
        return length == header.Length && header.AsSpan(0, magic).SequenceEqual(SoakTest.FaultHeader)
            ? System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(magic)) - (long)header.Length
            : long.MaxValue;
    }
}
