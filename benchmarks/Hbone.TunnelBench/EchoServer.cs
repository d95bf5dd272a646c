using System.Buffers;
using System.Net.Sockets;

namespace Hbone.TunnelBench;

/// <summary>TCP echo upstream; runs until SIGINT/SIGTERM, then closes the listener and every connection.</summary>
internal static class EchoServer
{
    public static async Task<int> RunAsync(Options options, CancellationToken token)
    {
        options.Allow("listen");
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
                _ = EchoAsync(socket, connections, token);
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

    private static async Task EchoAsync(Socket socket, HashSet<Socket> connections, CancellationToken token)
    {
        try
        {
            while (true)
            {
                // A zero-byte read waits for data without holding a buffer: idle connections cost no pooled memory.
                await socket.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None, token);
                var buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
                try
                {
                    var read = await socket.ReceiveAsync(buffer, SocketFlags.None, token);
                    if (read == 0)
                    {
                        break;
                    }
                    await Wire.SendAllAsync(socket, buffer.AsMemory(0, read), token);
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
}
