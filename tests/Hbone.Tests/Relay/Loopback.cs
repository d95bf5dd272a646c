using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;

namespace Hbone.Tests.Relay;

/// <summary>Real loopback TCP connections (port 0) and deadline-bound socket helpers for the relay tests.</summary>
internal static class Loopback
{
    public static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);

    /// <summary>Both ends of one loopback connection: the test talks on <c>Outer</c>, the relay owns <c>Inner</c>.</summary>
    public static async Task<(Socket Outer, Socket Inner)> PairAsync()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        var outer = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await outer.ConnectAsync(listener.LocalEndPoint!).WaitAsync(Deadline);
        var inner = await listener.AcceptAsync().WaitAsync(Deadline);
        return (outer, inner);
    }

    public static async Task SendAndShutdownAsync(Socket socket, byte[] data)
    {
        using var deadline = new CancellationTokenSource(Deadline);
        for (var sent = 0; sent < data.Length;)
        {
            sent += await socket.SendAsync(data.AsMemory(sent, Math.Min(256 * 1024, data.Length - sent)), SocketFlags.None, deadline.Token);
        }

        socket.Shutdown(SocketShutdown.Send);
    }

    public static async Task<byte[]> ReadToEndAsync(Socket socket)
    {
        using var deadline = new CancellationTokenSource(Deadline);
        using var received = new MemoryStream();
        var buffer = new byte[64 * 1024];
        int read;
        while ((read = await socket.ReceiveAsync(buffer, SocketFlags.None, deadline.Token)) > 0)
        {
            received.Write(buffer, 0, read);
        }

        return received.ToArray();
    }

    public static async Task<byte[]> ReadExactlyAsync(Socket socket, int count)
    {
        using var deadline = new CancellationTokenSource(Deadline);
        var buffer = new byte[count];
        for (var total = 0; total < count;)
        {
            var read = await socket.ReceiveAsync(buffer.AsMemory(total), SocketFlags.None, deadline.Token);
            if (read == 0)
            {
                throw new EndOfStreamException($"EOF after {total} of {count} bytes");
            }

            total += read;
        }

        return buffer;
    }

    /// <summary>Writes <paramref name="data"/> in chunks of uneven size, so the relay sees multi-segment buffers (the gather-write path), then completes.</summary>
    public static async Task WriteInChunksAsync(PipeWriter writer, byte[] data)
    {
        for (var offset = 0; offset < data.Length;)
        {
            var count = Math.Min(3000 + (offset % 70_000), data.Length - offset);
            await writer.WriteAsync(data.AsMemory(offset, count));
            offset += count;
        }

        await writer.CompleteAsync();
    }

    /// <summary>Closes with a TCP RST.</summary>
    public static void Rst(Socket socket)
    {
        socket.LingerState = new LingerOption(true, 0);
        socket.Dispose();
    }

    /// <summary>Asserts the connection was reset (not closed cleanly) within the deadline.</summary>
    public static async Task AssertResetAsync(Socket socket)
    {
        var error = await Assert.ThrowsAsync<SocketException>(() => ReadToEndAsync(socket));
        Assert.Equal(SocketError.ConnectionReset, error.SocketErrorCode);
    }
}
